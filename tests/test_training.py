"""Recipes, weight decay, precision, strategies, run directories, resume and the CLI
(:mod:`keras_resnets.training`; the demo runs in full in tests/test_readme.py)."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from helpers import prepare_fake_cifar10, tensorboard_scalars

from keras_resnets import data, training
from keras_resnets._io import StateFileError
from keras_resnets.cli import main as cli_main
from keras_resnets.normalization import input_normalization
from keras_resnets.training import rundir

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


def tiny_model(batch_norm=True, input_shape=(32, 32, 3), classes=10):
    """Two conv-BN-ReLU layers, global pooling, a float32 softmax classifier."""
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (8, 16):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same",
                                use_bias=not batch_norm)(x)
        if batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="tiny")


# --- recipes and schedules ---------------------------------------------------------------


def test_recipe_table():
    assert training.list_recipes() == ["cliquenet", "densenet", "fast", "modern",
                                       "resnet-cifar", "wrn"]
    wrn = training.get_recipe("wrn")
    assert (wrn.learning_rate, wrn.momentum, wrn.nesterov, wrn.weight_decay, wrn.batch_size,
            wrn.epochs, wrn.milestones, wrn.decay_factor) == \
        (0.1, 0.9, True, 5e-4, 128, 200, (60, 120, 160), 0.2)
    resnet = training.get_recipe("resnet-cifar")
    assert (resnet.steps, resnet.milestones, resnet.weight_decay, resnet.nesterov) == \
        (64_000, (32_000, 48_000), 1e-4, False)
    densenet, clique = training.get_recipe("densenet"), training.get_recipe("cliquenet")
    assert (densenet.epochs, densenet.batch_size, densenet.milestones, densenet.weight_decay,
            densenet.nesterov) == (300, 64, (150, 225), 1e-4, True)
    same = ("learning_rate", "batch_size", "epochs", "milestones", "weight_decay", "nesterov")
    assert all(getattr(clique, k) == getattr(densenet, k) for k in same)
    assert clique.augment is False and "CVPR 2018" in clique.reference
    fast = training.get_recipe("fast")
    assert (fast.schedule, fast.label_smoothing, fast.warmup_fraction) == \
        ("cosine", 0.1, round(2 / 30, 4))
    with pytest.raises(dataclasses.FrozenInstanceError):
        wrn.learning_rate = 1.0
    with pytest.raises(ValueError, match=r"recipe must be one of cliquenet, densenet, fast, "
                                         r"modern, resnet-cifar, wrn; got 'adam'"):
        training.get_recipe("adam")
    custom = dataclasses.replace(wrn, name="wrn-short", epochs=20, milestones=(6, 12, 16))
    assert training.get_recipe(custom).boundaries(20, 10) == [60, 120, 160]
    with pytest.raises(ValueError, match=r"exactly one of epochs .* or steps"):
        dataclasses.replace(wrn, steps=1000)
    with pytest.raises(ValueError, match=r"schedule must be one of step, cosine; got 'linear'"):
        dataclasses.replace(wrn, schedule="linear")
    modern = training.get_recipe("modern")  # fast, plus the timm-style options
    assert (modern.mixup_alpha, modern.cutmix_alpha, modern.rand_augment,
            modern.random_erasing, modern.ema_momentum) == (0.2, 1.0, 0.5, 0.25, 0.9)
    assert all(getattr(modern, k) == getattr(fast, k) for k in same + ("label_smoothing",))
    assert not any(any((r.mixup_alpha, r.cutmix_alpha, r.rand_augment, r.random_erasing,
                        r.ema_momentum)) for r in (wrn, resnet, densenet, clique, fast))
    with pytest.raises(ValueError, match=r"ema_momentum must be a number in \[0, 1\) .*got 1"):
        dataclasses.replace(modern, ema_momentum=1)
    with pytest.raises(ValueError, match=r"mixup_alpha must be a number >= 0 .*got -0\.2"):
        dataclasses.replace(modern, mixup_alpha=-0.2)
    optimizer = modern.optimizer(0.1, steps_per_epoch=20)  # Keras's own EMA of the weights
    assert (optimizer.use_ema, optimizer.ema_momentum, optimizer.ema_overwrite_frequency) == \
        (True, 0.9, 20)
    assert fast.optimizer(0.1).use_ema is False


@pytest.mark.backend_agnostic
def test_wrn_schedule_at_paper_length_and_scaled():
    wrn = training.get_recipe("wrn")
    spe = 391
    steps = [60 * spe - 1, 60 * spe, 120 * spe - 1, 120 * spe, 160 * spe, 200 * spe - 1]
    np.testing.assert_allclose(wrn.learning_rates(200, spe, steps),
                               [0.1, 0.02, 0.02, 0.004, 0.0008, 0.0008], rtol=1e-6)
    # 20 epochs: milestones 6, 12, 16
    assert wrn.boundaries(20, 10) == [60, 120, 160]
    np.testing.assert_allclose(wrn.learning_rates(20, 10, [0, 59, 60, 119, 120, 160]),
                               [0.1, 0.1, 0.02, 0.02, 0.004, 0.0008], rtol=1e-6)


@pytest.mark.backend_agnostic
def test_resnet_cifar_counts_iterations():
    recipe = training.get_recipe("resnet-cifar")
    assert recipe.default_epochs(391) == 164  # 64k iterations at 391 per epoch
    assert recipe.boundaries(164, 391, explicit_epochs=False) == [32_000, 48_000]
    np.testing.assert_allclose(
        recipe.learning_rates(164, 391, [31_999, 32_000, 47_999, 48_000], explicit_epochs=False),
        [0.1, 0.01, 0.01, 0.001], rtol=1e-6)
    assert recipe.boundaries(10, 100) == [500, 750]  # a shorter run keeps 50% and 75%


@pytest.mark.backend_agnostic
def test_densenet_schedule_scaled_to_30_epochs():
    recipe = training.get_recipe("densenet")
    assert recipe.boundaries(300, 782) == [150 * 782, 225 * 782]
    assert recipe.boundaries(30, 782) == [15 * 782, int(round(22.5 * 782))]
    np.testing.assert_allclose(recipe.learning_rates(30, 782)[::5], [0.1, 0.1, 0.1, 0.01, 0.01,
                                                                     0.001], rtol=1e-6)


@pytest.mark.backend_agnostic
def test_fast_warmup_then_cosine():
    fast = training.get_recipe("fast")
    # 30 epochs x 10 steps: linear warm-up from 0.1/20 to 0.1 over 20 steps, then cosine to 0
    lrs = fast.learning_rates(30, 10, [0, 10, 20, 160, 300])
    np.testing.assert_allclose(lrs, [0.005, 0.0525, 0.1, 0.05, 0.0], atol=1e-7)
    # the warm-up is the same fraction of any run: 5 of 2 x 40 steps, then the cosine
    lrs = fast.learning_rates(2, 40, [0, 5, 40, 80])
    cosine = 0.05 * (1 + np.cos(np.pi * 35 / 75))
    np.testing.assert_allclose(lrs, [0.02, 0.1, cosine, 0.0], atol=1e-7)
    with pytest.raises(ValueError, match=r"warmup_fraction must be in \[0, 1\).*got 2"):
        dataclasses.replace(fast, warmup_fraction=2)


# --- weight decay --------------------------------------------------------------------------


def _zero_data_loss(y_true, y_pred):
    return 0.0 * keras.ops.sum(y_pred)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("momentum, nesterov, factor", [(0.0, False, 1.0), (0.9, True, 1.9)])
def test_weight_decay_is_coupled_l2_on_kernels_only(momentum, nesterov, factor):
    keras.utils.set_random_seed(0)
    model = tiny_model(batch_norm=True)
    model.get_layer(index=-1).bias.assign(np.full(10, 0.5, "float32"))
    decayed = training.apply_weight_decay(model, 5e-4)
    kernels = [v.path for v in model.trainable_variables if v.path.endswith("kernel")]
    assert sorted(decayed) == sorted(kernels) and len(decayed) == 3
    squares = sum(float(np.sum(np.square(v.numpy()))) for v in model.trainable_variables
                  if v.path in decayed)
    np.testing.assert_allclose(float(sum(keras.ops.convert_to_numpy(x) for x in model.losses)),
                               0.5 * 5e-4 * squares, rtol=1e-5)

    lr = 0.1
    model.compile(keras.optimizers.SGD(lr, momentum=momentum, nesterov=nesterov),
                  loss=_zero_data_loss)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    model.train_on_batch(np.random.rand(4, 32, 32, 3).astype("float32"), np.zeros(4))
    for v in model.trainable_variables:
        if v.path in decayed:  # w <- w - lr * wd * w (1.9x: Nesterov's first step)
            shrink = factor * lr * 5e-4
            np.testing.assert_allclose(v.numpy(), before[v.path] * (1 - shrink), rtol=2e-7)
            ratio = (before[v.path] - v.numpy()) / before[v.path]
            assert np.median(ratio) == pytest.approx(shrink, rel=1e-3)
        else:  # BN gamma/beta, dense bias: untouched
            np.testing.assert_array_equal(v.numpy(), before[v.path])


def test_weight_decay_rejects_negative():
    with pytest.raises(ValueError, match=r"weight_decay must be a number >= 0.*got -0.1"):
        training.apply_weight_decay(tiny_model(), -0.1)


def test_modern_augmentation_is_keras_layers_seeded_by_seed_epoch_and_position():
    """MixUp/CutMix, RandAugment and RandomErasing on batches: a pass of an epoch is the same
    whatever passes came before (the layers' seed generators are set per batch from seed,
    epoch and position), as in a resumed run."""
    import tensorflow as tf

    from keras_resnets.training.augmentation import batch_augmentation

    epoch = tf.Variable(0, dtype=tf.int64)
    augmented = data.load_dataset("digits", "train[:16]", 8, seed=3, epoch=epoch,
                                  batch_augment=batch_augmentation(training.get_recipe("modern")))

    def one_pass(number):
        epoch.assign(number)
        return [(x.numpy(), y.numpy()) for x, y in augmented]

    first, second, again = one_pass(0), one_pass(1), one_pass(1)  # the generators moved on
    assert len(first) == len(second) == len(again) == 2
    for (x, y), (x2, y2) in zip(second, again, strict=True):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(first[0][0], second[0][0])
    # the labels are one-hot rows mixed in pairs (MixUp or CutMix), the images normalized
    labels = np.concatenate([y for _, y in first + second])
    np.testing.assert_allclose(labels.sum(1), 1.0, atol=1e-5)
    nonzero = (labels > 1e-6).sum(1)
    assert nonzero.max() == 2 and (nonzero == 2).mean() > 0.5
    plain = next(iter(data.load_dataset("digits", "train[:16]", 8, seed=3,
                                        epoch=tf.Variable(0, dtype=tf.int64))))[0].numpy()
    assert abs(first[0][0].mean() - plain.mean()) < 0.5 and not np.allclose(first[0][0], plain)


# --- runs -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("runs") / "tiny")
    result = training.train(tiny_model, dataset="digits", recipe="fast", epochs=2,
                            batch_size=128, run_dir=run_dir, verbose=0)
    return result


def test_run_directory_is_complete(finished_run):
    run_dir = finished_run.run_dir
    names = sorted(os.listdir(run_dir))
    assert names == [".lock", "best.keras", "config.json", "curves.png", "history.csv",
                     "history.json", "last.keras", "metrics.json"]  # no temp files, no backup
    config = json.load(open(os.path.join(run_dir, "config.json")))
    run = config["run"]
    assert (run["epochs"], run["batch_size"], run["steps_per_epoch"]) == (2, 128, 10)
    assert run["recipe"]["name"] == "fast" and run["dataset"]["splits"]["test"] == 360
    assert config["environment"]["backend"] == keras.backend.backend()
    lines = open(os.path.join(run_dir, "history.csv")).read().splitlines()
    header = lines[0].split(",")
    assert header[:2] == ["epoch", "lr"] and header[-1] == "time_s"
    assert {"loss", "accuracy", "xent", "val_loss", "val_accuracy", "val_xent"} <= set(header)
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2"]  # epochs counted from 1
    expected_lr = training.get_recipe("fast").learning_rates(2, 10)
    np.testing.assert_allclose([float(line.split(",")[1]) for line in lines[1:]], expected_lr,
                               rtol=1e-6)
    with open(os.path.join(run_dir, "curves.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert oct(os.stat(os.path.join(run_dir, "metrics.json")).st_mode & 0o777) != "0o600"

    # the saved models take raw pixels; best.keras is the epoch best on validation and
    # the only one evaluated on the test split
    metrics = json.load(open(os.path.join(run_dir, "metrics.json")))
    best = keras.saving.load_model(os.path.join(run_dir, "best.keras"))
    assert input_normalization(best) == (data.dataset_info("digits").mean,
                                         data.dataset_info("digits").std)
    best_row = max(finished_run.history, key=lambda r: r["val_accuracy"])
    assert (metrics["best_epoch"], metrics["best_val_accuracy"]) == \
        (best_row["epoch"], best_row["val_accuracy"])
    assert (metrics["validation_split"], metrics["test_split"], metrics["test_model"]) == \
        ("validation", "test", "best.keras")

    def accuracy(model, split):
        images, labels = data.load_arrays("digits", split)
        return float(np.mean(model.predict(images, verbose=0).argmax(1) == labels))

    assert accuracy(best, "validation") == pytest.approx(best_row["val_accuracy"], abs=1e-6)
    assert accuracy(best, "test") == pytest.approx(metrics["test_accuracy"], abs=1.5 / 360)
    assert accuracy(finished_run.model, "test") == pytest.approx(metrics["test_accuracy"],
                                                                 abs=1.5 / 360)
    last = keras.saving.load_model(os.path.join(run_dir, "last.keras"))
    last_row = finished_run.history[-1]
    assert accuracy(last, "validation") == pytest.approx(last_row["val_accuracy"], abs=1e-6)
    assert metrics["epochs_recorded"] == 2 and metrics["replicas"] == 1
    assert 0 <= metrics["test_loss"] < metrics["test_objective"]  # objective adds the L2 term


def test_finished_run_is_kept_and_changed_settings_refused(finished_run, tmp_path):
    with pytest.raises(ValueError, match=r"already holds a finished run.*overwrite=True"):
        training.train(tiny_model, dataset="digits", recipe="fast", epochs=2, batch_size=128,
                       run_dir=finished_run.run_dir, verbose=0)
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    config = json.load(open(os.path.join(finished_run.run_dir, "config.json")))
    (unfinished / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"other settings \(batch_size, steps_per_epoch\)"):
        training.train(tiny_model, dataset="digits", recipe="fast", epochs=2, batch_size=64,
                       run_dir=str(unfinished), verbose=0)


class _KilledAfterFirstEpoch(keras.callbacks.Callback):
    """A user callback that finds the run directory locked, then stops the process the
    way a crash would (no on_train_end), after the run recorded and backed up epoch 0."""

    def __init__(self, run_dir):
        super().__init__()
        self.run_dir = run_dir

    def on_epoch_end(self, epoch, logs=None):
        with pytest.raises(ValueError, match=r"run_dir .* is in use by process"):
            training.train(tiny_model, epochs=2, batch_size=128, run_dir=self.run_dir,
                           verbose=0)
        raise KeyboardInterrupt


def test_callbacks_and_tensorboard_survive_a_kill_and_resume_bit_exact(finished_run, tmp_path):
    run_dir = str(tmp_path / "tb")
    seen = []
    kwargs = dict(dataset="digits", recipe="fast", epochs=2, batch_size=128, run_dir=run_dir,
                  verbose=0, tensorboard=True)  # finished_run's settings, and event files
    with pytest.raises(KeyboardInterrupt):
        training.train(tiny_model, **kwargs, callbacks=[_KilledAfterFirstEpoch(run_dir)])
    assert not os.path.exists(os.path.join(run_dir, "metrics.json"))
    resumed = training.train(tiny_model, **kwargs, callbacks=[keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(epoch))])
    assert seen == [1]  # the user's callback saw the resumed epoch only
    # resuming with callbacks and event files changes nothing: the uninterrupted run's weights
    for ours, theirs in zip(resumed.model.weights, finished_run.model.weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    # the event files, read back by TensorBoard, hold the run's own figures: one value per
    # epoch, of both processes, equal to history.json's and metrics.json's
    rows = json.load(open(os.path.join(run_dir, "history.json")))
    metrics = json.load(open(os.path.join(run_dir, "metrics.json")))
    train_part = tensorboard_scalars(os.path.join(run_dir, "tensorboard", "train"))
    validation = tensorboard_scalars(os.path.join(run_dir, "tensorboard", "validation"))
    for scalars, prefix in ((train_part, ""), (validation, "val_")):
        for name in ("loss", "accuracy", "xent"):
            assert scalars[f"epoch_{name}"] == [(r["epoch"], pytest.approx(r[prefix + name],
                                                                       rel=1e-7)) for r in rows]
    assert [v for _, v in train_part["epoch_learning_rate"]] == pytest.approx(
        training.get_recipe("fast").learning_rates(2, 10), rel=1e-7)
    assert max(v for _, v in validation["epoch_accuracy"]) == pytest.approx(
        metrics["best_val_accuracy"], rel=1e-7)


def test_resume_clears_killed_writes_and_names_a_corrupt_state_file(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stale = run_dir / ".last.keras.partial-abc123.keras"  # left by a write killed midway
    stale.write_bytes(b"half a model")
    rundir.prepare_run_dir(str(run_dir), {"epochs": 2}, overwrite=False)
    assert sorted(os.listdir(run_dir)) == ["config.json"]
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["run"] == {"epochs": 2}
    assert saved["environment"] == rundir.environment_record()
    (run_dir / "config.json").write_text('{"run": {"epo')
    with pytest.raises(StateFileError, match=r"config\.json is corrupt .*overwrite=True"):
        rundir.prepare_run_dir(str(run_dir), {"epochs": 2}, overwrite=False)
    rundir.prepare_run_dir(str(run_dir), {"epochs": 3}, overwrite=True)
    assert json.loads((run_dir / "config.json").read_text())["run"] == {"epochs": 3}


def test_cli_trains_on_cifar10_prepared_in_a_data_dir(tmp_path, capsys):
    prepare_fake_cifar10(str(tmp_path / "tfds"), per_file=8)  # 40 train, 8 test images
    run_dir = tmp_path / "c10"
    code = cli_main(["train", "wrn-10-1", "--dataset", "cifar10", "--recipe", "wrn",
                     "--epochs", "1", "--batch-size", "16", "--data-dir", str(tmp_path / "tfds"),
                     "--no-download", "--run-dir", str(run_dir)])
    assert code == 0, capsys.readouterr().err
    run = json.loads((run_dir / "config.json").read_text())["run"]
    assert run["steps_per_epoch"] == 3  # 36 of the 40 images train; the last 4 validate
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (metrics["train_split"], metrics["validation_split"]) == ("train[:36]", "train[36:]")
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_model"] == "best.keras"


@pytest.mark.parametrize("precision, jit_compile, steps_per_execution", [
    ("float32", True, 3), ("mixed_float16", "auto", 1), ("mixed_bfloat16", False, 2)])
def test_precision_and_compile_options(tmp_path, precision, jit_compile, steps_per_execution):
    before = keras.config.dtype_policy().name
    result = training.train(tiny_model, dataset="digits", recipe="wrn", epochs=1,
                            batch_size=256, precision=precision, jit_compile=jit_compile,
                            steps_per_execution=steps_per_execution,
                            run_dir=str(tmp_path / precision), verbose=0)
    model = result.model.layers[-1]  # the network fit; result.model adds its normalization
    normalization = result.model.get_layer("input_normalization")
    assert normalization.compute_dtype == "float32"
    assert keras.config.dtype_policy().name == before == "float32"
    assert model.dtype_policy.name == precision
    assert model.layers[-1].compute_dtype == "float32"
    assert model.steps_per_execution == steps_per_execution
    if jit_compile != "auto":
        assert model.jit_compile is jit_compile
    loss_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert loss_scaled == (precision == "mixed_float16")
    conv = model.get_layer(index=1)
    assert conv.kernel.dtype == "float32"
    assert conv.compute_dtype == {"float32": "float32", "mixed_float16": "float16",
                                  "mixed_bfloat16": "bfloat16"}[precision]
    assert np.isfinite(result.history[0]["loss"])
    correct = result.metrics["test_accuracy"] * 360  # evaluated on the 360 held-out images
    assert abs(correct - round(correct)) < 1e-3


@pytest.mark.parametrize("kwargs, pattern", [
    ({"dataset": "imagenette2"}, r"dataset must be .*got 'imagenette2'"),
    ({"recipe": "sgdr"}, r"recipe must be one of .*got 'sgdr'"),
    ({"batch_size": 0}, r"batch_size must be an integer >= 1 .*got 0"),
    ({"epochs": 0}, r"epochs must be an integer >= 1 .*got 0"),
    ({"epochs": 2.5}, r"epochs must be an integer >= 1 .*got 2\.5"),
    ({"steps_per_execution": 0}, r"steps_per_execution must be an integer >= 1 .*got 0"),
    ({"precision": "float16"}, r"precision must be one of float32, mixed_float16, "
                               r"mixed_bfloat16; got 'float16'"),
    ({"strategy": "tpu"}, r"strategy must be one of default, mirrored, data_parallel; "
                          r"got 'tpu'"),
    ({"strategy": "multi_worker"}, r"MultiWorkerMirroredStrategy .*keras-team/keras#20585"),
    ({"strategy": "data_parallel"}, r"'data_parallel' .*needs KERAS_BACKEND=jax"),
    ({"jit_compile": "yes"}, r"jit_compile must be True, False or 'auto'; got 'yes'"),
    ({"learning_rate": -0.1}, r"learning_rate must be a number > 0 .*got -0\.1"),
    ({"label_smoothing": 1.5}, r"label_smoothing must be in \[0, 1\).*got 1\.5"),
    ({"model": "wrn-17-2"}, r"depth must be 6n\+4 .*got 17"),
    ({"model": 42}, r"model must be a registry name .*got 42"),
    ({"model": "tiny-built", "precision": "mixed_bfloat16"},
     r"model must be a registry name or a function .*precision='mixed_bfloat16'"),
])
def test_bad_arguments_fail_before_training(tmp_path, kwargs, pattern):
    arguments = {"model": "wrn-10-1", "dataset": "digits", "recipe": "fast", "epochs": 1,
                 "run_dir": str(tmp_path / "run"), **kwargs}
    if arguments["model"] == "tiny-built":
        arguments["model"] = tiny_model()
    start = time.perf_counter()
    with pytest.raises(ValueError, match=pattern):
        training.train(**arguments)
    assert time.perf_counter() - start < 20
    assert not (tmp_path / "run" / "config.json").exists()


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("kwargs, pattern", [
    ({"callbacks": keras.callbacks.EarlyStopping()}, r"callbacks must be a list of "
     r"keras\.callbacks\.Callback .*got <keras"),
    ({"callbacks": [print]}, r"callbacks must hold keras\.callbacks\.Callback instances "
     r"only .*got <built-in function print>"),
    ({"tensorboard": "yes"}, r"tensorboard must be True or False .*got 'yes'"),
])
def test_bad_callbacks_fail_before_training(tmp_path, kwargs, pattern):
    from keras_resnets import tuning

    with pytest.raises(TypeError, match=pattern):
        training.train("wrn-10-1", epochs=1, run_dir=str(tmp_path / "run"), **kwargs)
    with pytest.raises(TypeError, match=pattern):
        tuning.run_search("wrn", "200k", directory=str(tmp_path / "tune"), **kwargs)
    assert not (tmp_path / "run").exists() and not (tmp_path / "tune").exists()


def test_unwritable_run_dir_fails_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ValueError, match=r"run_dir must be a writable directory .*a-file/run"):
        training.train(tiny_model, dataset="digits", epochs=1, run_dir=str(blocker / "run"))


def test_cli_reports_bad_arguments(capsys):
    from keras_resnets.cli import main

    assert main(["train", "wrn-10-1", "--epochs", "0", "--run-dir", "/tmp/unused"]) == 2
    assert "epochs must be an integer >= 1" in capsys.readouterr().err
    assert main(["train", "wrn-10-1", "--model-arg", "dropout_rate"]) == 2
    assert "--model-arg must be KEY=VALUE" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "wrn-10-1", "--precision", "fp8"])


def test_model_arg_reads_json_then_python_literals():
    from keras_resnets.cli.train import _model_arg

    # as docs/getting-started.md writes them in Python, and as JSON
    assert [_model_arg(text) for text in (
        "zero_init_residual=False", "zero-init-residual=false", "classifier_activation=None",
        "classifier_activation=null", "drop_path_rate=0.1", "block_type=B(3,3)",
        "input_shape=(32, 32, 3)")] == [
        ("zero_init_residual", False), ("zero_init_residual", False),
        ("classifier_activation", None), ("classifier_activation", None),
        ("drop_path_rate", 0.1), ("block_type", "B(3,3)"), ("input_shape", (32, 32, 3))]


def test_history_counts_epochs_from_1_and_an_older_run_still_resumes(tmp_path):
    """Rows written before epochs were counted from 1 (the first is epoch 0) are renumbered
    when a run resumes: resuming at Keras's epoch index 2 keeps the first two epochs."""
    old = [{"epoch": e, "lr": 0.1, "val_accuracy": a, "time_s": 1.0}
           for e, a in enumerate((0.5, 0.7, 0.6))]
    (tmp_path / rundir.HISTORY_JSON).write_text(json.dumps(old))
    recorder = rundir.RunRecorder(str(tmp_path))
    recorder.load(2)
    assert [r["epoch"] for r in recorder.rows] == [1, 2] and recorder.best == 0.7
    (tmp_path / rundir.HISTORY_JSON).write_text(json.dumps(recorder.rows))  # as written now
    recorder.load(1)
    assert [r["epoch"] for r in recorder.rows] == [1]


def test_offline_download_fails_at_once_pointing_to_no_download(tmp_path, monkeypatch):
    """No network: one probe of the dataset's source, not tfds' ten retries (3 min 52 s
    for cifar10 on this machine); the message says how to work offline."""
    import requests
    import tensorflow_datasets as tfds

    def no_network(url, **kwargs):
        raise requests.ConnectionError(f"cannot resolve {url}")

    def must_not_run(self, *args, **kwargs):
        raise AssertionError("download_and_prepare was called")

    monkeypatch.setattr(requests, "head", no_network)
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", must_not_run)
    with pytest.raises(ValueError, match=r"'cifar10' is not prepared .* its source cannot be "
                                         r"reached \(https://www\.cs\.toronto\.edu/.*"
                                         r"ConnectionError; no network\?\).*--no-download"):
        data.dataset_info("cifar10", data_dir=str(tmp_path))


# --- strategies, in subprocesses --------------------------------------------------------------

ONE_STEP_EQUIVALENCE = """
import numpy as np, keras
from keras_resnets import training
from tests.test_training import tiny_model

def one_step(strategy):
    with training.strategy_scope(strategy) as replicas:
        keras.utils.set_random_seed(0)
        model = tiny_model(batch_norm=False)
        training.apply_weight_decay(model, 5e-4)
        model.compile(keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                      keras.losses.SparseCategoricalCrossentropy(), jit_compile=False)
        rng = np.random.default_rng(0)
        x = rng.normal(size=(8, 32, 32, 3)).astype("float32")
        y = rng.integers(0, 10, 8)
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        return replicas, [w.copy() for w in model.get_weights()]

replicas, parallel = one_step(STRATEGY)
_, single = one_step("default")
diff = max(float(np.abs(a - b).max()) for a, b in zip(parallel, single))
result = training.train(tiny_model, dataset="digits", recipe="fast", epochs=1,
                        batch_size=128, strategy=STRATEGY, run_dir=RUN_DIR, verbose=0)
print("RESULT", replicas, diff, result.metrics["replicas"], len(result.history),
      result.metrics["test_accuracy"])
"""


def _run_strategy_script(strategy, prelude, env, tmp_path):
    script = prelude + ONE_STEP_EQUIVALENCE.replace("STRATEGY", repr(strategy)).replace(
        "RUN_DIR", repr(str(tmp_path / strategy)))
    tests_dir = os.path.dirname(__file__)  # the test module imports its helpers from here
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [tests_dir,
                                                              env.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert done.returncode == 0, done.stderr[-3000:]
    fields = [line for line in done.stdout.splitlines() if line.startswith("RESULT")][0].split()
    return int(fields[1]), float(fields[2]), int(fields[3]), int(fields[4])


MIRRORED_EQUALS_ONE_DEVICE = """
import json, numpy as np, tensorflow as tf
from keras_resnets import training
from keras_resnets.training.distribution import replica_batches, strategy_scope

training.use_logical_cpus(2)
with strategy_scope("mirrored") as replicas:  # 7 examples, batch 3: the last one (1 < 2
    data = tf.data.Dataset.from_tensor_slices(np.arange(7.0)).map(lambda x: (x, x)).batch(3)
    parts = replica_batches(data, 7, 3, gradient_weights=True)  # replicas) joins the 2nd
    strategy = tf.distribute.get_strategy()
    steps = [[(t[0].numpy().tolist(), t[2].numpy().astype(float).round(4).tolist()) for t in zip(
        *(strategy.experimental_local_results(part) for part in step))] for step in parts]
metrics = {strategy: training.train(
    "resnet20", dataset="digits", epochs=1, batch_size=64, learning_rate=0.002,
    strategy=strategy, jit_compile=False, run_dir=RUN_DIR + strategy, verbose=0).metrics
    for strategy in ("default", "mirrored")}
print("RESULT", json.dumps({"replicas": replicas, "steps": steps, "metrics": metrics}))
"""


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus_equals_one_device(tmp_path):
    # Root cause of the old crash: tf.distribute fills replicas in order, so a partial last
    # batch left replica 2 empty, and oneDNN's Conv2D returns the input's shape for an
    # empty batch. Now every batch is cut into non-empty near-equal slices, the loss is
    # weighted to the global mean and BatchNorm is synchronized: one device's computation.
    # The example counts also guard the cache fill of data.load_dataset: without it, on a
    # loaded machine, Keras's peek at a half-written cache lost test or validation images.
    script = MIRRORED_EQUALS_ONE_DEVICE.replace("RUN_DIR", repr(str(tmp_path) + "/"))
    done = subprocess.run([sys.executable, "-c", script], env={**ENV, "KERAS_BACKEND":
                          "tensorflow"}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [line for line in done.stdout.splitlines() if line.startswith("RESULT")][0]
    result = json.loads(line.split(" ", 1)[1])
    assert result["replicas"] == 2
    assert result["steps"] == [[[[0.0], [0.6667]], [[1.0, 2.0], [1.3333, 1.3333]]],
                               [[[3.0, 4.0], [1.0, 1.0]], [[5.0, 6.0], [1.0, 1.0]]]]
    one, two = result["metrics"]["default"], result["metrics"]["mirrored"]
    assert (one["replicas"], two["replicas"]) == (1, 2)
    for key in ("test_examples", "best_val_examples", "epochs_recorded", "best_epoch"):
        assert one[key] == two[key], key
    assert (two["test_examples"], two["best_val_examples"]) == (360, 180)
    for key in ("test_loss", "best_val_loss", "test_objective"):  # round-off, amplified
        assert two[key] == pytest.approx(one[key], rel=2e-4), key  # over 20 steps
    for key, images in (("test_accuracy", 360), ("best_val_accuracy", 180)):  # near-ties at
        assert abs(two[key] - one[key]) * images <= 4, key  # chance may flip a few argmaxes


@pytest.mark.slow
def test_jax_data_parallel_on_two_host_devices(tmp_path):
    env = {**ENV, "KERAS_BACKEND": "jax",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    replicas, diff, run_replicas, rows = _run_strategy_script("data_parallel", "", env, tmp_path)
    assert (replicas, run_replicas, rows) == (2, 2, 1)
    assert diff < 1e-5


# --- kill and resume --------------------------------------------------------------------------


def _cli(*args):
    return [sys.executable, "-c", "import sys; from keras_resnets.cli import main; "
            "sys.exit(main())", *args]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume(tmp_path):
    run_dir, epochs = tmp_path / "resume", 4
    command = _cli("train", "wrn-10-1", "--dataset", "digits", "--recipe", "fast", "--epochs",
                   str(epochs), "--batch-size", "64", "--run-dir", str(run_dir))
    history = run_dir / "history.json"
    backup = run_dir / "backup" / "state.json"  # written by RunBackup
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(command, env=ENV, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 400
    while time.time() < deadline and first.poll() is None:
        if backup.exists() and json.loads(backup.read_text() or "{}").get("epoch", 0) >= 2:
            break
        time.sleep(0.1)
    time.sleep(0.3)  # into the next epoch
    assert first.poll() is None, "the first run ended before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    log.close()
    assert first.returncode == -signal.SIGKILL
    assert not (run_dir / "metrics.json").exists()
    done = json.loads(backup.read_text())["epoch"]  # completed epochs at the kill
    rows_before = json.loads(history.read_text())
    assert 2 <= done < epochs and [r["epoch"] for r in rows_before][:done] == list(range(1, done + 1))

    second = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    printed = second.stdout.lower()  # Keras's "Epoch k/n" or the command's "epoch k/n"
    assert f"epoch {done + 1}/{epochs}" in printed
    assert not any(f"epoch {k}/{epochs}" in printed for k in range(1, done + 1))
    rows = json.loads(history.read_text())
    assert [r["epoch"] for r in rows] == list(range(1, epochs + 1))  # counted from 1
    assert rows[:done] == rows_before[:done]  # the first run's epochs are kept as they were
    csv_rows = (run_dir / "history.csv").read_text().splitlines()[1:]
    assert [line.split(",")[0] for line in csv_rows] == [str(k) for k in range(1, epochs + 1)]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_recorded"] == epochs
    assert (run_dir / "last.keras").exists() and not (run_dir / "backup").exists()
    lrs = training.get_recipe("fast").learning_rates(epochs, 20)
    np.testing.assert_allclose([r["lr"] for r in rows], lrs, rtol=1e-6)  # schedule resumed

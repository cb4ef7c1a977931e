"""State that survives a kill, and state files that are refused by name: bit-exact resume,
one owner per run or search directory, tuner-state integrity, corrupted files
(:mod:`keras_resnets.training.backup`, :class:`keras_resnets._io.DirectoryLock`)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_resnets import training
from keras_resnets._io import DirectoryLock, StateFileError
from keras_resnets.layers import StochasticDepth
from keras_resnets.training import backup, trainer

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def noisy_model():
    """Conv-BN-ReLU, a residual branch under stochastic depth, dropout, a classifier:
    every kind of random state a resumed run must restore."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=4, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    branch = keras.layers.Conv2D(8, 3, padding="same")(x)
    x = keras.layers.Add()([x, StochasticDepth(0.5)(branch)])
    x = keras.layers.Dropout(0.3)(keras.layers.GlobalAveragePooling2D()(x))
    outputs = keras.layers.Dense(10, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="noisy")


RUN = {"dataset": "digits", "recipe": "fast", "epochs": 2, "batch_size": 128, "cutout": 8,
       "seed": 7, "jit_compile": False, "verbose": 0}


class Killed(Exception):
    pass


def _rows(result):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in result.history]


def test_killed_and_resumed_run_is_bit_identical(tmp_path, monkeypatch):
    whole = training.train(noisy_model, run_dir=str(tmp_path / "whole"), **RUN)

    class KillInEpoch2(backup.RunBackup):  # dies after 4 steps of the second epoch
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == 10 + 4:
                raise Killed

    with monkeypatch.context() as patch, pytest.raises(Killed):
        patch.setattr(trainer, "RunBackup", KillInEpoch2)
        training.train(noisy_model, run_dir=str(tmp_path / "resumed"), **RUN)
    state = json.loads((tmp_path / "resumed" / "backup" / "state.json").read_text())
    assert state["epoch"] == 1 and state["previous"] is None
    resumed = training.train(noisy_model, run_dir=str(tmp_path / "resumed"), **RUN)

    assert [r["epoch"] for r in resumed.history] == [1, 2]
    assert _rows(resumed) == _rows(whole)
    for name in ("last.keras", "best.keras"):
        last = [keras.saving.load_model(tmp_path / run / name).get_weights()
                for run in ("whole", "resumed")]
        for a, b in zip(*last, strict=True):
            np.testing.assert_array_equal(a, b)
    for key in ("test_accuracy", "test_loss", "best_epoch", "best_val_accuracy"):
        assert resumed.metrics[key] == whole.metrics[key]
    assert not (tmp_path / "resumed" / "backup").exists()


def test_training_data_is_a_function_of_seed_and_epoch():
    import tensorflow as tf

    from keras_resnets import data

    epoch = tf.Variable(2, dtype=tf.int64)
    ds = data.load_dataset("digits", "train", 64, seed=3, epoch=epoch, cutout=8)
    other_seed = data.load_dataset("digits", "train", 64, seed=4, epoch=epoch, cutout=8)
    fixed = data.load_dataset("digits", "train", 64, seed=3, epoch=2, cutout=8)
    second = [images.numpy() for images, _ in ds.take(2)]
    assert int(ds.cardinality()) == 20  # 1,257 images in batches of 64
    epoch.assign(3)
    third = next(iter(ds))[0].numpy()
    epoch.assign(2)
    np.testing.assert_array_equal(next(iter(ds))[0].numpy(), second[0])
    np.testing.assert_array_equal(next(iter(fixed))[0].numpy(), second[0])
    assert not np.array_equal(third, second[0]) and not np.array_equal(second[0], second[1])
    assert not np.array_equal(next(iter(other_seed))[0].numpy(), second[0])
    with pytest.raises(ValueError, match=r"epoch must be an integer >= 0 .*got -1"):
        data.load_dataset("digits", "train", 64, epoch=-1)


# --- corrupted backups ------------------------------------------------------------------------


def test_a_corrupt_backup_falls_back_then_is_refused_by_name(tmp_path):
    run_dir = str(tmp_path / "run")
    model = noisy_model()
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    saver = backup.RunBackup(run_dir)
    saver.set_model(model)
    saver.on_epoch_end(0)
    saver.on_epoch_end(1)
    directory = tmp_path / "run" / "backup"
    assert sorted(os.listdir(directory)) == [
        "epoch-1.seeds.npz", "epoch-1.weights.h5", "epoch-2.seeds.npz", "epoch-2.weights.h5",
        "state.json"]
    fresh = noisy_model()
    fresh.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    assert backup.restore(run_dir, fresh) == 2
    (directory / "epoch-2.weights.h5").write_bytes(b"truncated")
    assert backup.restore(run_dir, fresh) == 1  # the previous checkpoint
    (directory / "epoch-1.weights.h5").write_bytes(b"")
    with pytest.raises(StateFileError, match=r"backup in .*run/backup cannot be read "
                                             r"\(epoch-2.weights.h5: .*epoch-1.weights.h5: .*"
                                             r"delete .*backup to restart"):
        backup.restore(run_dir, fresh)
    (directory / "state.json").write_text('{"epoch": 2, "weig')
    with pytest.raises(StateFileError, match=r"state.json is corrupt"):
        backup.restore(run_dir, fresh)


# --- one owner per directory ------------------------------------------------------------------

HOLD = """
import sys, time
from keras_resnets._io import DirectoryLock
with DirectoryLock(sys.argv[1], "run_dir"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_directory_lock_names_its_holder_and_dies_with_it(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], env=ENV,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match=rf"run_dir '{tmp_path}' is in use by process "
                                             rf"{holder.pid} \(lock .*\.lock\); wait"):
            DirectoryLock(tmp_path, "run_dir").acquire()
    finally:
        holder.kill()
        holder.wait()
    with DirectoryLock(tmp_path, "run_dir"):  # released by the kernel when the holder died
        with pytest.raises(ValueError, match=rf"in use by process {os.getpid()}"):
            DirectoryLock(tmp_path, "run_dir").acquire()


def test_a_run_directory_in_use_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    with DirectoryLock(run_dir, "run_dir"):
        with pytest.raises(ValueError, match=r"run_dir .* is in use by process"):
            training.train(noisy_model, run_dir=str(run_dir), **RUN)
    assert not (run_dir / "config.json").exists()


def test_config_is_written_only_after_the_model_was_accepted(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    arguments = {**RUN, "epochs": 1, "run_dir": str(run_dir)}
    with pytest.raises(ValueError, match=r"dropout_rate"):
        training.train("wrn-10-1", model_kwargs={"dropout_rate": 1.5}, **arguments)
    assert not (run_dir / "config.json").exists()
    for kwargs, outputs in (({"classes": 5}, r"\(None, 5\)"),
                            ({"include_top": False}, r"\(None, 8, 8, 64\)")):
        given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        with pytest.raises(ValueError, match=rf"model 'wrn-10-1' maps inputs \(None, 32, 32, 3\) "
                                             rf"to outputs {outputs}, but training on digits "
                                             rf"needs .* to \(None, 10\) \(10 class scores\); "
                                             rf"remove {given} from model_kwargs"):
            training.train("wrn-10-1", model_kwargs={"dropout_rate": 0.3, **kwargs},
                           **arguments)
        assert not (run_dir / "config.json").exists()

    def stop(run_dir, model):  # the corrected call gets as far as resuming: stop there
        raise Killed

    monkeypatch.setattr(trainer, "restore", stop)
    with pytest.raises(Killed):
        training.train("wrn-10-1", model_kwargs={"dropout_rate": 0.3}, **arguments)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["run"]["model_kwargs"] == {"dropout_rate": 0.3}


# --- search directories -----------------------------------------------------------------------

TINY = dict(family="wrn", budget=200_000, tolerance=0.9, depths=(10, 16), widths=(1,))
TINY_RUN = dict(dataset="digits", recipe="fast", batch_size=32, train_samples=64,
                val_samples=32, jit_compile=False, run_eagerly=True, verbose=0, seed=1,
                save_best=False)


@pytest.fixture(scope="module")
def finished_search(tmp_path_factory):
    """A finished two-trial grid search (wrn-10-1, wrn-16-1), one epoch each."""
    from keras_resnets import tuning

    directory = tmp_path_factory.mktemp("search") / "grid"
    tuning.run_search(**TINY, **TINY_RUN, oracle="grid", max_trials=2, epochs=1,
                      directory=directory)
    return directory


def _copy(source, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(source, target)
    return target


def _edit(path, change):
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))


def _resume(directory, max_trials=3):
    from keras_resnets import tuning

    return tuning.run_search(**TINY, **TINY_RUN, oracle="grid", max_trials=max_trials,
                             epochs=1, directory=directory)


def test_a_deleted_trial_is_refused_and_no_finished_trial_overwritten(finished_search,
                                                                      tmp_path):
    import shutil

    directory = _copy(finished_search, tmp_path)
    shutil.rmtree(directory / "trial_0")
    kept = (directory / "trial_1" / "trial.json").read_text()
    with pytest.raises(StateFileError, match=r"trial_0/trial\.json is missing, but "
                                             r"oracle\.json lists the trial; restore it"):
        _resume(directory)
    assert (directory / "trial_1" / "trial.json").read_text() == kept


@pytest.mark.parametrize("damage, pattern", [
    (lambda d: (d / "trial_1" / "trial.json").write_text('{"trial_id": "1", "hyperpa'),
     r"trial_1/trial\.json is corrupt \(.*\); restore it"),
    (lambda d: _edit(d / "trial_1" / "trial.json",
                     lambda s: s["hyperparameters"]["values"].update(config="wrn-99-1")),
     r"trial_1/trial\.json holds configuration 'wrn-99-1', not one of this search's 2"),
    (lambda d: _edit(d / "trial_1" / "trial.json", lambda s: s.update(score="0.5")),
     r"trial_1/trial\.json has score '0\.5', not a number"),
    (lambda d: _edit(d / "trial_1" / "trial.json",
                     lambda s: s["hyperparameters"]["values"].update(config="wrn-10-1")),
     r"trial_1/trial\.json repeats configuration 'wrn-10-1' of .*trial_0/trial\.json"),
    (lambda d: _edit(d / "trial_1" / "trial.json", lambda s: s.update(trial_id="7")),
     r"trial_1/trial\.json holds trial '7', not '1'"),
    (lambda d: (d / "oracle.json").write_text('{"ongoing_trials": {'),
     r"oracle\.json is corrupt .*; restore it"),
    (lambda d: _edit(d / "oracle.json", lambda s: s.pop("id_to_hash")),
     r"oracle\.json lacks id_to_hash; restore it"),
    (lambda d: (d / "oracle.json").unlink(),
     r"oracle\.json is missing, but the search directory holds trial_0, trial_1, tuner0\.json; "
     r"restore it"),
    (lambda d: (d / "search.json").write_text("[1, "), r"search\.json is corrupt"),
])
def test_damaged_search_state_is_refused_by_name(finished_search, tmp_path, damage, pattern):
    directory = _copy(finished_search, tmp_path)
    damage(directory)
    before = {p: p.read_bytes() for p in directory.rglob("*.json")}
    with pytest.raises(StateFileError, match=pattern):
        _resume(directory)
    assert {p: p.read_bytes() for p in directory.rglob("*.json")} == before


def _trials(directory):
    """Each trial's configuration, status, score and metrics but its wall time."""
    trials = {}
    for path in sorted(directory.glob("trial_*/trial.json")):
        state = json.loads(path.read_text())
        metrics = {k: v for k, v in state["metrics"]["metrics"].items() if k != "wall_time"}
        trials[state["trial_id"]] = (state["hyperparameters"]["values"], state["status"],
                                     state["score"], json.dumps(metrics, sort_keys=True))
    return trials


def test_a_killed_and_resumed_search_trains_the_trials_of_an_uninterrupted_one(
        finished_search, tmp_path, monkeypatch):
    from keras_resnets.tuning import tuner as tuner_module

    begin = tuner_module.BudgetedTuner.on_trial_begin

    def killed_in_trial_1(self, trial):
        begin(self, trial)
        if trial.trial_id == "1":
            raise KeyboardInterrupt  # as a kill: Keras Tuner does not count it a failure

    directory = tmp_path / "grid"
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(tuner_module.BudgetedTuner, "on_trial_begin", killed_in_trial_1)
        _resume(directory, max_trials=2)
    assert json.loads((directory / "trial_1" / "trial.json").read_text())["status"] == "RUNNING"
    _resume(directory, max_trials=2)
    assert _trials(directory) == _trials(finished_search)
    assert len(_trials(directory)) == 2


def test_a_search_directory_in_use_is_refused(finished_search):
    with DirectoryLock(finished_search, "directory"):
        with pytest.raises(ValueError, match=r"directory .*grid' is in use by process"):
            _resume(finished_search, max_trials=2)
    assert len(_resume(finished_search, max_trials=2).rows) == 2  # free again: resumes


# --- export destinations and command-line errors ----------------------------------------------


def small_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs)


@pytest.fixture
def no_conversion(monkeypatch):
    """Fails the test if a conversion starts: the destination is checked before."""
    from keras_resnets import export

    def convert(*args, **kwargs):
        raise AssertionError("converted before checking the destination")

    monkeypatch.setattr(export, "_convert", convert)
    monkeypatch.setattr(export, "_write_saved_model", convert)


def test_bad_export_destinations_are_refused_before_converting(tmp_path, no_conversion):
    from keras_resnets import export

    (tmp_path / "a-file").write_text("x")
    (tmp_path / "taken.tflite").mkdir()
    model = small_model()
    for path, pattern in [
            (tmp_path / "a-file" / "m.tflite", r"a-file' is not a writable directory"),
            ("/proc/m.tflite", r"'/proc' is not a writable directory"),
            (tmp_path / "taken.tflite", r"taken\.tflite' is an existing directory; give a "
                                        r"file path such as .*taken\.tflite/model\.tflite")]:
        with pytest.raises(ValueError, match=pattern):
            export.export_tflite(model, path)
    with pytest.raises(ValueError, match=r"a-file' is not a writable directory"):
        export.export_saved_model(model, tmp_path / "a-file" / "saved")


def test_export_clears_a_killed_exports_leftovers_and_scratches_beside_it(tmp_path,
                                                                          monkeypatch):
    import tensorflow as tf

    from keras_resnets import export

    (tmp_path / ".m.tflite.partial-k1ll3d.tflite").write_bytes(b"")
    (tmp_path / ".m.tflite.partial-k1ll3d.saved_model").mkdir()
    (tmp_path / ".other.tflite.partial-live.tflite").write_bytes(b"")  # another target's
    scratch = []
    original = tf.lite.TFLiteConverter.from_saved_model
    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_saved_model",
                        lambda directory, *a, **k: scratch.append(directory) or
                        original(directory, *a, **k))
    report = export.export_tflite(small_model(), tmp_path / "m.tflite")
    assert report.max_abs_error < 1e-4
    assert os.path.dirname(scratch[0]) == str(tmp_path)
    assert os.path.basename(scratch[0]).startswith(".m.tflite.partial-")
    assert sorted(os.listdir(tmp_path)) == [".other.tflite.partial-live.tflite", "m.tflite"]


def _cli_error(capsys, *argv):
    from keras_resnets.cli import main

    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    err = _cli_error(capsys, "train", "wrn-10-1", "--model-arg", "drop_path_rate=abc",
                     "--run-dir", str(tmp_path / "run"))
    assert "drop_path_rate must be a number in [0, 1); got 'abc'" in err
    assert not (tmp_path / "run" / "config.json").exists()
    (tmp_path / "a-file").write_text("x")
    for out in (str(tmp_path / "a-file" / "m.tflite"), "/proc/m.tflite"):
        assert "is not a writable directory" in _cli_error(capsys, "export", "resnet20",
                                                            "--out", out)
    (tmp_path / "taken.tflite").mkdir()
    assert "is an existing directory" in _cli_error(capsys, "export", "resnet20", "--out",
                                                     str(tmp_path / "taken.tflite"))


def test_cli_shows_a_dependencys_error_with_its_traceback(monkeypatch):
    import json

    from keras_resnets import registry
    from keras_resnets.cli import main

    monkeypatch.setattr(registry, "model_info", lambda name: json.loads("{"))
    with pytest.raises(json.JSONDecodeError):  # not ours: no one-line message, a traceback
        main(["info", "resnet20"])


def test_a_damaged_weights_file_is_named(tmp_path):
    from keras_resnets import create_model

    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"PK\x03\x04 not a whole zip")
    for path in (broken, tmp_path / "broken.weights.h5"):
        path.write_bytes(b"PK\x03\x04 not a whole file")
        with pytest.raises(StateFileError, match=rf"weights file '{path}' cannot be read "
                                                 rf"\(.*\); it is damaged"):
            create_model("resnet20", weights=str(path))

"""One call for a whole search (what ``keras-resnets tune`` runs): validate, load the
data, search, then write the results table, figure and best model.

Example::

    result = run_search("wrn", "1.5M", dataset="digits", oracle="bayesian",
                        max_trials=20, epochs=15, directory="runs/tune")
    print(result.csv)
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys

import keras

from keras_resnets import _io, training
from keras_resnets._checks import check_int
from keras_resnets.arrays import ArrayBatches, check_images, pixel_stats
from keras_resnets.training.augmentation import batch_augmentation
from keras_resnets.training.callbacks import TENSORBOARD_DIR, check_callbacks, check_tensorboard
from keras_resnets.training.progress import progress_output
from keras_resnets.tuning.hypermodel import BudgetedHyperModel
from keras_resnets.tuning.latency import LatencyBudget
from keras_resnets.tuning.results import (
    RESULTS_FILE,
    format_results,
    results_table,
    save_best_model,
    trial_results,
)
from keras_resnets.tuning.tuner import (
    BudgetedTuner,
    check_objective,
    check_oracle,
    distribution_env,
    environment,
    make_tuner,
)


@dataclasses.dataclass
class SearchResult:
    """What :func:`run_search` returns (the chief or a single-machine search fills all;
    a worker only ``tuner``)."""

    tuner: BudgetedTuner
    rows: list
    csv: str | None = None
    csv_path: str | None = None
    figure_path: str | None = None
    best_model_path: str | None = None


def _take(ds, samples, batch_size):
    return ds if samples is None else ds.take(max(1, math.ceil(samples / batch_size)))


@dataclasses.dataclass(frozen=True)
class _ArraysInfo:
    """What a search reads of in-memory splits: ``DatasetInfo``'s fields, and the arrays."""

    name: str
    splits: dict
    input_shape: tuple
    num_classes: int
    mean: tuple
    std: tuple
    test_split: str | None


def _dataset_info(dataset, train_split, val_split):
    """The dataset's info (``keras_resnets.data.DatasetInfo``, or its fields for arrays)
    and the training and validation splits' names."""
    if isinstance(dataset, str):
        from keras_resnets import data as data_lib  # tf.data: TensorFlow

        info = data_lib.dataset_info(dataset)
        return info, train_split or info.train_split, val_split or info.validation_split
    train_split, val_split = train_split or "train", val_split or "validation"
    if not isinstance(dataset, dict) or not {train_split, val_split} <= set(dataset):
        raise ValueError(f"dataset must be a tensorflow-datasets name (e.g. 'digits', "
                         f"'cifar10') or a dict of splits {{'{train_split}': (images, "
                         f"labels), '{val_split}': (images, labels)[, 'test': ...]}} of "
                         f"uint8 pixels and class ids; got {_describe(dataset)}")
    splits = {name: check_images(*pair, name=f"dataset[{name!r}]")
              for name, pair in dataset.items()}
    images = splits[train_split][0]
    mean, std = pixel_stats(images)
    counts = ", ".join(f"{len(x)} {name}" for name, (x, _) in splits.items())
    info = _ArraysInfo(
        name=f"arrays ({counts})", splits=splits, input_shape=tuple(images.shape[1:]),
        num_classes=int(max(y.max() for _, y in splits.values())) + 1, mean=mean, std=std,
        test_split="test" if "test" in splits else None)
    return info, train_split, val_split


def _describe(value):
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    return repr(value)


def _array_batches(info, split, batch_size, samples=None, **options):
    """:class:`ArrayBatches` of ``info.splits[split]``, its first ``samples`` (rounded up
    to whole batches) where given."""
    images, labels = info.splits[split]
    if samples is not None:
        keep = max(1, math.ceil(samples / batch_size)) * batch_size
        images, labels = images[:keep], labels[:keep]
    return ArrayBatches(images, labels, batch_size, mean=info.mean, std=info.std,
                        classes=info.num_classes, **options)


def _one_hot_labels(recipe) -> bool:
    """Whether the recipe's labels are one-hot rows (smoothed or mixed)."""
    return bool(recipe.label_smoothing) or recipe.mixes_labels


def _check_arrays_recipe(info, recipe):
    if isinstance(info, _ArraysInfo) and (
            recipe.mixes_labels or recipe.rand_augment or recipe.random_erasing):
        raise ValueError(f"recipe {recipe.name!r} augments batches in tf.data, which arrays "
                         f"do not go through; use recipe='fast' (or a dataset name where "
                         f"TensorFlow is installed)")


def _test_data(info, recipe, batch_size):
    """The held-out split, unaugmented (None for arrays without a ``"test"`` split)."""
    one_hot = _one_hot_labels(recipe)
    if isinstance(info, _ArraysInfo):
        return info.test_split and _array_batches(info, info.test_split, batch_size,
                                                  one_hot=one_hot)
    from keras_resnets import data as data_lib

    return data_lib.load_dataset(info.name, info.test_split, batch_size, augment=False,
                                 shuffle=False, one_hot=one_hot)


def _search_data(info, train_split, val_split, recipe, batch_size, seed, samples):
    """``(train, validation, set_epoch (a callback))``: tf.data
    pipelines for a dataset name, :class:`ArrayBatches` for arrays. Each epoch's order
    and augmentation are a function of (seed, epoch), the same in every trial, whatever
    trials the process ran before."""
    one_hot = _one_hot_labels(recipe)
    train_samples, val_samples = samples
    if not isinstance(info, _ArraysInfo):
        import tensorflow as tf

        from keras_resnets import data as data_lib

        epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        train = data_lib.load_dataset(
            info.name, train_split, batch_size, augment=recipe.augment,
            pad_mode=recipe.pad_mode, cutout=recipe.cutout,
            label_smoothing=recipe.label_smoothing, seed=seed, epoch=epoch,
            batch_augment=batch_augmentation(recipe))
        val = data_lib.load_dataset(info.name, val_split, batch_size, augment=False,
                                    shuffle=False, one_hot=one_hot)
        return (_take(train, train_samples, batch_size), _take(val, val_samples, batch_size),
                keras.callbacks.LambdaCallback(
                    on_epoch_begin=lambda index, logs: epoch.assign(index)))
    train = _array_batches(
        info, train_split, batch_size, train_samples, augment="crop" if recipe.augment
        else "none", pad_mode=recipe.pad_mode, cutout=recipe.cutout, one_hot=one_hot,
        label_smoothing=recipe.label_smoothing, shuffle=True, seed=seed)
    val = _array_batches(info, val_split, batch_size, val_samples, one_hot=one_hot)
    return train, val, keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda index, logs: setattr(train, "epoch", index))


def _too_few(count, max_trials, space):
    """The line that says a search will run fewer trials than asked, and how to widen it."""
    plural = "s" if count > 1 else ""
    wider = f"a wider --tolerance (now {space.tolerance:g}, e.g. {min(0.9, 2 * space.tolerance):g})"
    remedy = f"--mode iso or {wider}" if space.mode == "grid" else f"{wider} or more --depths"
    return (f"[tune] only {count} feasible configuration{plural} for --max-trials {max_trials}: "
            f"the search runs {count} trial{plural}; for more, use {remedy}")


def run_search(family, budget=None, *, macs_budget=None, max_latency_ms=None,
               latency_threads=1, latency_quantization="int8", latency_cache=None,
               dataset="digits", oracle="random", max_trials=10, epochs=10,
               directory="runs/tune", tolerance=0.1, mode="grid", depths=None, widths=None,
               cardinalities=None, recipe=None, batch_size=None, objective="val_accuracy",
               seed=None, overwrite=False, train_split=None, val_split=None,
               train_samples=None, val_samples=None, factor=3, num_initial_points=None,
               spec_options=None, jit_compile="auto", run_eagerly=False, steps_per_execution=1,
               role=None, tuner_id=None,
               oracle_ip=None, oracle_port=None, verbose=1, save_best=True, callbacks=None,
               tensorboard=False) -> SearchResult:
    """Validate everything, search, then write the results table, figure and best model.

    The trials train on ``load_dataset(dataset, train_split)`` and are scored on
    ``val_split`` (defaults: the dataset's training and validation splits, e.g. digits'
    ``train`` and ``validation``), with the training ``recipe`` for ``epochs`` epochs.
    The best model is saved with its input normalization (it takes raw pixels) and
    evaluated once on the test split, reported as held-out in ``best.json``. ``train_samples`` and
    ``val_samples`` cap the data (quick runs); ``steps_per_execution`` training steps
    run per host dispatch (more keep a GPU busy with small models). ``dataset`` may instead be a dict of
    in-memory splits, ``{"train": (images, labels), "validation": (images, labels),
    "test": (images, labels)}`` (uint8 pixels, class ids; "test" optional): the trials then
    train on :class:`~keras_resnets.arrays.ArrayBatches` (normalized by the training
    images' statistics, pad-and-crop only, never flipped), with no TensorFlow needed, on
    any Keras backend. ``role="chief"``/``"worker"`` with
    ``oracle_ip``/``oracle_port`` (and a worker's ``tuner_id``) run Keras Tuner's
    distributed mode: the chief serves the oracle and writes the results; workers train.
    Every argument is checked before the first trial starts. The directory is locked
    while the search runs: a second search in it is refused, naming the first's PID.
    ``callbacks`` (Keras callbacks) go to every trial's ``fit`` (Keras Tuner copies them
    per trial); ``tensorboard=True`` adds ``keras.callbacks.TensorBoard`` writing into
    ``directory/tensorboard/<trial>``, with each trial's hyperparameters (TensorBoard's
    hparams plugin; TensorFlow backend).

    Budgets: ``budget`` (trainable parameters) and/or ``macs_budget`` (multiply-adds for
    one image of the dataset), each admitting counts within ``tolerance`` below it; and
    ``max_latency_ms``, the most milliseconds per image (batch 1) in LiteRT on this
    machine with ``latency_threads`` threads as a ``latency_quantization`` file
    (``"int8"``, ``"float16"``, ``"dynamic"`` or ``"none"``): every counted candidate
    is measured before the first trial (or read from the cache, ``latency_cache``,
    default ``~/.cache/keras_resnets/latency``), and those over it are never trained.

    Example: ``run_search("wrn", "200k", tolerance=0.9, depths=(10, 16), widths=(1,),
    oracle="grid", max_trials=2, epochs=1, recipe="fast", directory="runs/tiny")``.
    """
    check_oracle(oracle)
    check_objective(objective)
    callbacks = check_callbacks(callbacks)
    check_tensorboard(tensorboard)
    epochs = check_int("epochs", epochs, 1, "1, 15")
    check_int("max_trials", max_trials, 1, "3, 20")
    train_samples = check_int("train_samples", train_samples, 1, "256", allow_none=True)
    val_samples = check_int("val_samples", val_samples, 1, "128", allow_none=True)
    env = distribution_env(role, tuner_id, oracle_ip, oracle_port)
    info, train_split, val_split = _dataset_info(dataset, train_split, val_split)
    latency = None if max_latency_ms is None else LatencyBudget(
        max_latency_ms, latency_threads, latency_quantization, latency_cache)
    hypermodel = BudgetedHyperModel(
        family, budget, macs_budget=macs_budget, latency=latency, tolerance=tolerance, mode=mode, depths=depths, widths=widths,
        cardinalities=cardinalities, input_shape=info.input_shape, classes=info.num_classes,
        recipe=recipe, spec_options=spec_options, jit_compile=jit_compile,
        run_eagerly=run_eagerly, steps_per_execution=steps_per_execution,
        normalization=(info.mean, info.std))
    if verbose and hypermodel.measurements is not None:
        print(f"[tune] {hypermodel.measurements.summary(latency)}", flush=True)
    recipe = training.get_recipe(hypermodel.recipe)
    _check_arrays_recipe(info, recipe)
    batch_size = check_int("batch_size", batch_size or recipe.batch_size, 1, "64, 128")
    extra = {"dataset": info.name, "train_split": train_split, "val_split": val_split,
             "epochs": epochs, "batch_size": batch_size, "train_samples": train_samples,
             "val_samples": val_samples}
    # The chief (or a lone search) owns the directory; workers share the chief's.
    lock = contextlib.nullcontext() if role == "worker" else _io.DirectoryLock(directory,
                                                                                "directory")
    with lock, environment(env):
        tuner = make_tuner(hypermodel, oracle, directory=directory, max_trials=max_trials,
                           epochs=epochs, objective=objective, seed=seed, overwrite=overwrite,
                           factor=factor, num_initial_points=num_initial_points,
                           extra_definition=extra, verbose=verbose)
        space = hypermodel.space
        if oracle != "hyperband" and len(hypermodel.configs) < max_trials:
            print(_too_few(len(hypermodel.configs), max_trials, space), flush=True)
        if verbose:
            count = len(hypermodel.configs)
            print(f"[tune] {space.family} at {space.describe()} (tolerance "
                  f"{space.tolerance:g}, {space.mode} mode): {count} feasible "
                  f"configuration{'' if count == 1 else 's'}"
                  f"{f' within {latency.max_ms:g} ms' if latency else ''}; oracle {oracle}; "
                  f"directory {tuner.project_dir}", flush=True)
        if role == "chief":
            tuner.search(verbose=0)
        else:
            train, val, set_epoch = _search_data(
                info, train_split, val_split, recipe, batch_size, seed,
                (train_samples, val_samples))
            # a bar on a terminal; in a log, a line per epoch and a heartbeat in the first
            fit_verbose, progress = progress_output("auto" if verbose else 0)
            if tensorboard:  # Keras Tuner gives it a folder per trial, with the hparams
                callbacks.append(keras.callbacks.TensorBoard(
                    os.path.join(tuner.project_dir, TENSORBOARD_DIR), write_graph=False))
            tuner.search(train, validation_data=val, epochs=epochs,
                         verbose=1 if fit_verbose == "auto" else fit_verbose,
                         callbacks=[set_epoch, *callbacks, *progress])
        if role == "worker":
            return SearchResult(tuner, [])
        rows = trial_results(tuner)
        text = results_table(tuner)
        csv_path = os.path.join(tuner.project_dir, RESULTS_FILE)
        figure_path = os.path.splitext(csv_path)[0] + ".png"
        best = None
        if save_best:
            test = _test_data(info, recipe, batch_size)
            try:
                best = save_best_model(tuner, test_data=test)
            except (OSError, ValueError) as error:  # e.g. checkpoints on unshared disks
                print(f"[tune] warning: best model not saved: {error}", file=sys.stderr)
        if verbose:
            print(format_results(rows, space.family), flush=True)
            print(f"[tune] results: {csv_path}; figure: {figure_path}"
                  + (f"; best model: {best}" if best else ""), flush=True)
            held_out = _io.read_json(os.path.join(tuner.project_dir, "best.json"), {})
            if held_out.get("test_accuracy") is not None:
                print(f"[tune] best {held_out['config']}: validation {held_out['score']:.4f}, "
                      f"held-out {info.test_split} accuracy {held_out['test_accuracy']:.4f} "
                      f"(evaluated once)", flush=True)
        return SearchResult(tuner, rows, text, csv_path, figure_path, best)

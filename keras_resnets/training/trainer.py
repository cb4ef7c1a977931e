"""``train``: one model, one paper recipe, one run directory that survives a kill.

``train`` checks every argument and the run directory before any work, builds the
input pipelines, records the settings, then builds, compiles and fits the model under
the chosen precision and strategy, and finally evaluates the last model on the test
split.

Example::

    result = train("wrn-10-2", dataset="digits", recipe="fast", epochs=12, batch_size=64)
    result.metrics["test_accuracy"]
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
import time

import keras
import tensorflow as tf

from keras_resnets import data as data_lib
from keras_resnets import registry
from keras_resnets._checks import check_int, check_positive_int, is_number
from keras_resnets._io import DirectoryLock
from keras_resnets.normalization import input_normalization, with_input_normalization
from keras_resnets.training.augmentation import batch_augmentation
from keras_resnets.training.backup import RunBackup, restore
from keras_resnets.training.callbacks import (
    TENSORBOARD_DIR,
    EpochSummaries,
    check_callbacks,
    check_tensorboard,
)
from keras_resnets.training.distribution import (
    SynchronizedBatchNorm,
    check_precision,
    check_strategy,
    global_batch_count,
    mirrored_replicas,
    precision_scope,
    replica_batches,
    resolve_jit_compile,
    strategy_scope,
)
from keras_resnets.training.multihost import (
    barrier,
    check_processes,
    gather,
    join_processes,
    padded_batches,
    process_batches,
    process_count,
    process_index,
)
from keras_resnets.training.progress import progress_output
from keras_resnets.training.recipes import (
    TrainingRecipe,
    apply_weight_decay,
    compile_model,
    get_recipe,
)
from keras_resnets.training.rundir import (
    HISTORY_JSON,
    RunRecorder,
    check_resumable,
    check_run_dir,
    finish_run,
    prepare_run_dir,
)


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns: the run directory, the trained model (the epoch best on
    validation, taking raw pixels: it carries its input normalization), the per-epoch
    history rows and the final metrics (also in ``metrics.json``).

    Example: ``train("wrn-10-2", epochs=2).metrics["test_accuracy"]``.
    """

    run_dir: str
    model: keras.Model
    history: list
    metrics: dict


@dataclasses.dataclass(frozen=True)
class _Plan:
    """The arguments of one :func:`train` call, checked, with the recipe's defaults."""

    model: object  # a registry name, a function returning a model, or a keras.Model
    model_kwargs: dict
    info: data_lib.DatasetInfo
    recipe: TrainingRecipe
    epochs: int
    explicit_epochs: bool
    batch_size: int
    steps_per_epoch: int
    learning_rate: float | None
    augment: bool | str
    cutout: int
    label_smoothing: float
    validation_split: str
    precision: str
    strategy: str
    jit_compile: bool | str
    steps_per_execution: int
    seed: int
    data_dir: str | None
    download: bool
    processes: int = 1

    @property
    def model_label(self):
        if isinstance(self.model, str):
            return self.model
        if isinstance(self.model, keras.Model):
            return self.model.name
        return getattr(self.model, "__name__", type(self.model).__name__)

    @property
    def one_hot(self):
        """Labels are one-hot rows: smoothed, or mixed by MixUp/CutMix."""
        return bool(self.label_smoothing) or self.recipe.mixes_labels

    @property
    def data_options(self):
        return {"data_dir": self.data_dir, "download": self.download}

    def learning_rate_schedule(self):
        return self.recipe.learning_rate_schedule(
            self.epochs, self.steps_per_epoch, learning_rate=self.learning_rate,
            explicit_epochs=self.explicit_epochs)

    def config(self):
        """The settings ``config.json`` records; a resumed run must have the same."""
        config = {
            "model": self.model_label, "model_kwargs": self.model_kwargs,
            "dataset": dataclasses.asdict(self.info), "recipe": dataclasses.asdict(self.recipe),
            "epochs": self.epochs, "batch_size": self.batch_size,
            "steps_per_epoch": self.steps_per_epoch,
            "learning_rate": self.recipe.learning_rate if self.learning_rate is None
            else self.learning_rate,
            "lr_boundaries": self.recipe.boundaries(self.epochs, self.steps_per_epoch,
                                                    self.explicit_epochs)
            if self.recipe.schedule == "step" else None,
            "augment": self.augment, "cutout": self.cutout,
            "label_smoothing": self.label_smoothing, "validation_split": self.validation_split,
            "precision": self.precision, "strategy": self.strategy,
            "jit_compile": self.jit_compile, "steps_per_execution": self.steps_per_execution,
            "seed": self.seed,
        }
        return json.loads(json.dumps(config, default=str))


def train(model, *, dataset="digits", recipe="fast", epochs=None, batch_size=None,
          learning_rate=None, run_dir=None, precision="float32", strategy="default",
          jit_compile="auto", steps_per_execution=1, model_kwargs=None, augment=None,
          cutout=None, label_smoothing=None, validation_split=None, data_dir=None,
          download=True, seed=0, overwrite=False, verbose="auto", coordinator=None,
          num_processes=None, process_id=None, callbacks=None,
          tensorboard=False) -> TrainResult:
    """Train ``model`` with a paper recipe and record the run in ``run_dir``.

    Args:
        model: a registry name (``"wrn-16-4"``; built for the dataset's input shape and
            classes, with ``model_kwargs``), a function returning a model, or a built
            ``keras.Model`` (default strategy and float32 only).
        recipe: a name of :func:`list_recipes` or a :class:`TrainingRecipe`; ``epochs``,
            ``batch_size``, ``learning_rate``, ``augment``, ``cutout`` and
            ``label_smoothing`` override it (milestones scale with ``epochs``).
        run_dir: default ``runs/<model>-<dataset>-<recipe>``. The same call on the same
            directory resumes an interrupted run; a finished run is kept unless
            ``overwrite=True``.
        precision: ``"float32"``, ``"mixed_float16"`` (loss scaling is automatic) or
            ``"mixed_bfloat16"``.
        strategy: ``"default"``, ``"mirrored"`` (TensorFlow, all local GPUs/devices) or
            ``"data_parallel"`` (JAX, all devices, of all processes with
            ``coordinator``). ``batch_size`` is the global batch.
        validation_split: split that selects ``best.keras`` (default: the dataset's
            validation split, :class:`~keras_resnets.data.DatasetInfo`). The test split
            is evaluated once, at the end, on the best model; ``metrics.json`` holds both.
        coordinator, num_processes, process_id: train with several processes (machines),
            each running this call with its own ``process_id`` (0 is the coordinator, at
            ``coordinator="HOST:PORT"``): JAX backend, ``strategy="data_parallel"``
            (:mod:`~keras_resnets.training.multihost`). Process 0 writes ``run_dir``.
        callbacks: Keras callbacks for ``fit``, called after the run's own (so an epoch
            is recorded and backed up before they see it); ``model.stop_training`` ends
            the run early, as finished. They are not part of the settings a resumed run
            must repeat, and a resumed run starts them afresh (EarlyStopping's patience
            counts from the resumed epoch).
        tensorboard: write TensorBoard event files into ``run_dir/tensorboard``
            (:class:`~keras_resnets.training.callbacks.EpochSummaries`).

    The models saved (``best.keras``, ``last.keras``) and returned carry the input
    normalization (:mod:`keras_resnets.normalization`): they take raw pixels (0-255).

    Example::

        train("wrn-10-2", dataset="digits", recipe="fast", epochs=12, batch_size=64)
    """
    wall_start = time.perf_counter()
    extra = _Extra(check_callbacks(callbacks), check_tensorboard(tensorboard))
    if check_processes(coordinator, num_processes, process_id, strategy) > 1:
        join_processes(coordinator, num_processes, process_id)  # before any JAX computation
    processes = process_count() if strategy == "data_parallel" else 1
    plan = _plan(model, dataset=dataset, recipe=recipe, epochs=epochs, batch_size=batch_size,
                 learning_rate=learning_rate, precision=precision, strategy=strategy,
                 jit_compile=jit_compile, steps_per_execution=steps_per_execution,
                 model_kwargs=model_kwargs, augment=augment, cutout=cutout,
                 label_smoothing=label_smoothing, validation_split=validation_split,
                 data_dir=data_dir, download=download, seed=seed, processes=processes)
    run_dir = run_dir or os.path.join(
        "runs", f"{plan.model_label}-{plan.info.name}-{plan.recipe.name}")
    if processes > 1 and process_index() > 0:  # writes the same files (saving gathers the
        # variables from all processes) into a private directory; reads run_dir's backup
        writes = tempfile.mkdtemp(prefix="keras-resnets-process-")
        try:
            return _train(plan, run_dir, writes, True, verbose, wall_start, extra)
        finally:
            shutil.rmtree(writes, ignore_errors=True)
    check_run_dir(run_dir)
    return _train(plan, run_dir, run_dir, overwrite, verbose, wall_start, extra)


@dataclasses.dataclass(frozen=True)
class _Extra:
    """What :func:`train` adds to ``fit`` beyond the run's settings (not in config.json)."""

    callbacks: list
    tensorboard: bool

    def fit_callbacks(self, writes, own):
        """The event files first (an epoch re-run after a kill is written again, the
        same), then the run's ``own`` callbacks, then the user's."""
        summaries = [EpochSummaries(os.path.join(writes, TENSORBOARD_DIR))] \
            if self.tensorboard else []
        return [*summaries, *own, *self.callbacks]


def _train(plan, run_dir, writes, overwrite, verbose, wall_start, extra):
    """The run of :func:`train` reading its backup from ``run_dir`` and writing into
    ``writes`` (``run_dir`` itself, except on processes other than 0)."""
    with DirectoryLock(writes, "run_dir"):
        if not overwrite:
            check_resumable(run_dir, plan.config())
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False)  # read by the training data
        keras.utils.set_random_seed(plan.seed)
        with precision_scope(plan.precision), \
                strategy_scope(plan.strategy, shard_input=False) as replicas:  # _pipelines did
            train_data, validation_data, test_data = _pipelines(plan, epoch)
            net = _compiled_model(plan)
            recorder = RunRecorder(writes, saved_model=with_input_normalization(
                net, plan.info.mean, plan.info.std))
            prepare_run_dir(writes, plan.config(), overwrite)  # every argument was accepted
            barrier("keras_resnets_run_dir_ready")  # process 0 removed or kept the backup
            start = _agreed_start(run_dir, net)
            if start and writes != run_dir:  # resume the history process 0 resumes
                for name in (HISTORY_JSON, "best.keras"):
                    if os.path.exists(os.path.join(run_dir, name)):
                        shutil.copy(os.path.join(run_dir, name), os.path.join(writes, name))
            if start < plan.epochs:
                set_epoch = keras.callbacks.LambdaCallback(
                    on_epoch_begin=lambda index, logs: epoch.assign(index))
                fit_verbose, progress = progress_output(verbose)
                synchronized = [SynchronizedBatchNorm()] if replicas > 1 \
                    and plan.strategy == "mirrored" else []  # first: before saving
                net.fit(train_data, validation_data=validation_data, initial_epoch=start,
                        epochs=plan.epochs, shuffle=False, verbose=fit_verbose,
                        callbacks=extra.fit_callbacks(
                            writes, [*synchronized, set_epoch, recorder, RunBackup(writes)])
                        + progress)
            if recorder.rows is None:  # every epoch was already done before a restart
                recorder.load(plan.epochs)
            selected = _select_best(writes, recorder.saved_model)
            scores = net.evaluate(test_data, return_dict=True, verbose=0)  # once, at the end
        metrics = _final_metrics(plan, recorder, scores, wall_start)
        metrics.update(test_model=selected, replicas=replicas, processes=plan.processes)
        if writes == run_dir:
            finish_run(run_dir, metrics)
    return TrainResult(run_dir, recorder.saved_model, recorder.rows, metrics)


def _agreed_start(run_dir, net):
    """The completed epochs of ``run_dir``'s backup, restored into ``net``; with several
    processes, each reads it and they must agree."""
    start = restore(run_dir, net)
    starts = gather(start)
    if len(set(starts)) > 1:
        raise ValueError(f"the processes found different backups in run_dir {run_dir!r} "
                         f"(completed epochs by process: {starts}); resuming with several "
                         f"processes needs run_dir on a filesystem they all share, or pass "
                         f"overwrite=True to start over")
    return start


def _select_best(run_dir, model):
    """Give ``model`` the weights of ``best.keras`` (the epoch best on validation);
    returns the file evaluated on the test split."""
    best = os.path.join(run_dir, "best.keras")
    if not os.path.exists(best):  # no epoch had a finite validation accuracy
        return "last.keras"
    model.load_weights(best)
    return "best.keras"


def _plan(model, *, dataset, recipe, epochs, batch_size, learning_rate, precision, strategy,
          jit_compile, steps_per_execution, model_kwargs, augment, cutout, label_smoothing,
          validation_split, data_dir, download, seed, processes=1) -> _Plan:
    """Check the arguments of :func:`train` and fill in the recipe's defaults."""
    recipe = get_recipe(recipe)
    check_precision(precision)
    check_strategy(strategy)
    model = _check_model(model, strategy, precision)
    info = data_lib.dataset_info(dataset, data_dir=data_dir, download=download)
    if model_kwargs is not None and not isinstance(model_kwargs, dict):
        raise ValueError(f"model_kwargs must be a dict of model arguments (e.g. "
                         f"{{'dropout_rate': 0.3}}); got {model_kwargs!r}")
    if isinstance(model, str):  # the model's arguments, checked by counting (builds nothing)
        registry.count_params(model, **{"input_shape": info.input_shape,
                                        "classes": info.num_classes, **(model_kwargs or {})})
    batch_size = check_int("batch_size", batch_size, 1, "64, 128", allow_none=True) \
        or recipe.batch_size
    epochs = check_int("epochs", epochs, 1, "1, 30, 200", allow_none=True)
    steps_per_execution = check_positive_int("steps_per_execution", steps_per_execution, "1, 8")
    check_strategy(strategy, batch_size)
    if learning_rate is not None and not (is_number(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a number > 0 (e.g. 0.1, 0.05); "
                         f"got {learning_rate!r}")
    jit_compile = resolve_jit_compile(strategy, jit_compile)
    steps_per_epoch = _steps_per_epoch(info, batch_size, strategy, data_dir, download)
    return _Plan(
        model=model, model_kwargs=dict(model_kwargs or {}), info=info, recipe=recipe,
        epochs=epochs or recipe.default_epochs(steps_per_epoch),
        explicit_epochs=epochs is not None, batch_size=batch_size,
        steps_per_epoch=steps_per_epoch, learning_rate=learning_rate,
        augment=recipe.augment if augment is None else augment,
        cutout=recipe.cutout if cutout is None else cutout,
        label_smoothing=recipe.label_smoothing if label_smoothing is None else label_smoothing,
        validation_split=validation_split or info.validation_split, precision=precision,
        strategy=strategy, jit_compile=jit_compile, steps_per_execution=steps_per_execution,
        seed=seed, data_dir=data_dir, download=download, processes=processes)


def _check_model(model, strategy, precision):
    """``model`` if :func:`train` can build or use it under ``strategy`` and ``precision``."""
    if isinstance(model, str):
        registry.get_spec(model)  # a clear ValueError for unknown names, before any work
        return model
    if isinstance(model, keras.Model):
        if input_normalization(model) is not None:
            raise ValueError(f"model {model.name!r} already carries its input normalization "
                             f"(a saved run's model); train its network, "
                             f"model.layers[-1], which takes normalized inputs")
        if strategy != "default" or precision != "float32":
            raise ValueError(f"model must be a registry name or a function returning a model "
                             f"to train with strategy={strategy!r}, precision={precision!r} "
                             f"(variables must be created under them); got a built "
                             f"keras.Model {model.name!r}")
        return model
    if callable(model):
        return model
    raise ValueError(f"model must be a registry name such as 'wrn-16-4', a keras.Model or a "
                     f"function returning one; got {model!r}")


def _steps_per_epoch(info, batch_size, strategy, data_dir, download):
    """Training steps per epoch: every example is used (the last batch partial), except
    with ``"data_parallel"``, whose equal shards drop the last partial batch."""
    examples = data_lib.num_examples(info.name, info.train_split, data_dir=data_dir,
                                     download=download)
    if strategy == "data_parallel":
        steps = examples // batch_size
    elif strategy == "mirrored":
        steps = global_batch_count(examples, batch_size, mirrored_replicas())
    else:
        steps = math.ceil(examples / batch_size)
    if steps < 1:
        raise ValueError(f"batch_size must not exceed the {examples} training examples "
                         f"with strategy {strategy!r}; got {batch_size}")
    return steps


def _pipelines(plan, epoch):
    """The training pipeline, a function of (seed, ``epoch``), and the evaluation
    pipelines of the watched and test splits."""
    train_data = data_lib.load_dataset(
        plan.info.name, plan.info.train_split, plan.batch_size, augment=plan.augment,
        pad_mode=plan.recipe.pad_mode, cutout=plan.cutout,
        label_smoothing=plan.label_smoothing, seed=plan.seed,
        drop_remainder=plan.strategy == "data_parallel", epoch=epoch,
        batch_augment=batch_augmentation(plan.recipe), **plan.data_options)
    evaluation = {split: data_lib.load_dataset(plan.info.name, split, plan.batch_size,
                                               augment=False, one_hot=plan.one_hot,
                                               **plan.data_options)
                  for split in {plan.validation_split, plan.info.test_split}}
    if plan.strategy == "mirrored":  # near-equal slices of every batch, none empty
        size = _split_sizes(plan, [plan.info.train_split, *evaluation])
        train_data = replica_batches(train_data, size[plan.info.train_split], plan.batch_size,
                                     gradient_weights=True)
        evaluation = {split: replica_batches(ds, size[split], plan.batch_size)
                      for split, ds in evaluation.items()}
    if plan.processes > 1:  # equal full batches on every process; padding weighs 0
        sizes = _split_sizes(plan, evaluation)
        evaluation = {split: process_batches(
            padded_batches(ds, plan.batch_size, sizes[split]), plan.batch_size,
            -(-sizes[split] // plan.batch_size)) for split, ds in evaluation.items()}
        train_data = process_batches(train_data, plan.batch_size, plan.steps_per_epoch)
    return train_data, evaluation[plan.validation_split], evaluation[plan.info.test_split]


def _split_sizes(plan, splits):
    return {split: data_lib.num_examples(plan.info.name, split, **plan.data_options)
            for split in splits}


def _compiled_model(plan):
    """The model built for the dataset, with the recipe's weight decay and optimizer."""
    if isinstance(plan.model, keras.Model):
        net = plan.model
    elif isinstance(plan.model, str):
        net = registry.create_model(plan.model, **{"input_shape": plan.info.input_shape,
                                                   "classes": plan.info.num_classes,
                                                   **plan.model_kwargs})
    else:
        net = plan.model(**plan.model_kwargs)
    _check_classifier(net, plan)
    apply_weight_decay(net, plan.recipe.weight_decay)
    compile_model(net, plan.recipe.optimizer(plan.learning_rate_schedule(),
                                             plan.steps_per_epoch),
                  one_hot=plan.one_hot, jit_compile=plan.jit_compile,
                  steps_per_execution=plan.steps_per_execution,
                  weighted=plan.processes > 1)  # the evaluation padding weighs 0
    return net


# model_kwargs that make a model other than the dataset's classifier
SHAPE_ARGUMENTS = ("input_shape", "include_top", "classes", "pooling", "features_only")


def _check_classifier(net, plan):
    """Refuse, before anything is written, a model that does not map the dataset's images
    to one score per class (e.g. ``classes=5`` or ``include_top=False`` on a 10-class set).
    Subclassed models, which declare no shapes, are left to Keras."""
    if not (hasattr(net, "input_shape") and hasattr(net, "output_shape")):
        return
    wanted_in, wanted_out = (None, *plan.info.input_shape), (None, plan.info.num_classes)
    got_in, got_out = net.input_shape, net.output_shape
    fits_in = isinstance(got_in, tuple) and len(got_in) == len(wanted_in) and all(
        g is None or g == w for g, w in zip(got_in, wanted_in, strict=True))
    if fits_in and got_out == wanted_out:
        return
    given = [f"{k}={plan.model_kwargs[k]!r}" for k in SHAPE_ARGUMENTS if k in plan.model_kwargs]
    remedy = (f"remove {', '.join(given)} from model_kwargs (--model-arg): train builds the "
              f"classifier of the dataset's input shape and classes" if given else
              f"give a model with input shape {wanted_in} and output shape {wanted_out}")
    raise ValueError(f"model {plan.model_label!r} maps inputs {got_in} to outputs {got_out}, "
                     f"but training on {plan.info.name} needs {wanted_in} to {wanted_out} "
                     f"({plan.info.num_classes} class scores); {remedy}")


def _final_metrics(plan, recorder, scores, wall_start):
    rows = recorder.rows
    best = max(rows, key=lambda r: r.get(recorder.monitor, -math.inf)) if rows else {}
    return {
        "dataset": plan.info.name, "train_split": plan.info.train_split,
        "validation_split": plan.validation_split, "test_split": plan.info.test_split,
        "epochs": plan.epochs, "epochs_recorded": len(rows),
        "best_epoch": best.get("epoch"), "best_val_accuracy": best.get(recorder.monitor),
        "best_val_loss": best.get("val_xent"),
        "test_accuracy": float(scores["accuracy"]), "test_loss": float(scores["xent"]),
        "test_examples": int(scores["examples"]),
        "best_val_examples": None if best.get("val_examples") is None
        else int(best["val_examples"]),
        "test_objective": float(scores["loss"]),
        "train_time_s": round(sum(r["time_s"] for r in rows), 2),
        "wall_time_s": round(time.perf_counter() - wall_start, 2),
    }

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
import time

import keras

from keras_resnets import data as data_lib
from keras_resnets import registry
from keras_resnets._checks import check_int, check_positive_int, is_number
from keras_resnets.training.distribution import (
    check_precision,
    check_strategy,
    precision_scope,
    resolve_jit_compile,
    strategy_scope,
)
from keras_resnets.training.recipes import (
    TrainingRecipe,
    apply_weight_decay,
    compile_model,
    get_recipe,
)
from keras_resnets.training.rundir import (
    RunRecorder,
    backup_callback,
    check_run_dir,
    finish_run,
    prepare_run_dir,
)


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns: the run directory, the trained (last) model, the
    per-epoch history rows and the final metrics (also in ``metrics.json``).

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

    @property
    def model_label(self):
        if isinstance(self.model, str):
            return self.model
        if isinstance(self.model, keras.Model):
            return self.model.name
        return getattr(self.model, "__name__", type(self.model).__name__)

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
          download=True, seed=0, overwrite=False, verbose="auto") -> TrainResult:
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
            ``"data_parallel"`` (JAX, all devices, also across processes after
            ``keras.distribution.initialize``). ``batch_size`` is the global batch.
        validation_split: split watched for ``best.keras`` (default: the test split, as
            the papers report); ``metrics.json`` holds the last model on the test split.

    Example::

        train("wrn-10-2", dataset="digits", recipe="fast", epochs=12, batch_size=64)
    """
    wall_start = time.perf_counter()
    plan = _plan(model, dataset=dataset, recipe=recipe, epochs=epochs, batch_size=batch_size,
                 learning_rate=learning_rate, precision=precision, strategy=strategy,
                 jit_compile=jit_compile, steps_per_execution=steps_per_execution,
                 model_kwargs=model_kwargs, augment=augment, cutout=cutout,
                 label_smoothing=label_smoothing, validation_split=validation_split,
                 data_dir=data_dir, download=download, seed=seed)
    run_dir = run_dir or os.path.join(
        "runs", f"{plan.model_label}-{plan.info.name}-{plan.recipe.name}")
    check_run_dir(run_dir)
    train_data, validation_data, test_data = _pipelines(plan)
    prepare_run_dir(run_dir, plan.config(), overwrite)

    keras.utils.set_random_seed(plan.seed)
    recorder = RunRecorder(run_dir)
    with precision_scope(plan.precision), strategy_scope(plan.strategy) as replicas:
        net = _compiled_model(plan)
        net.fit(train_data, validation_data=validation_data, epochs=plan.epochs,
                callbacks=[recorder, backup_callback(run_dir)], shuffle=False,
                verbose=verbose)
        if recorder.rows is None:  # every epoch was already done before a restart
            recorder.load(plan.epochs)
        scores = net.evaluate(test_data, return_dict=True, verbose=0)
    metrics = _final_metrics(plan, recorder, scores, wall_start)
    metrics["replicas"] = replicas
    finish_run(run_dir, metrics)
    return TrainResult(run_dir, net, recorder.rows, metrics)


def _plan(model, *, dataset, recipe, epochs, batch_size, learning_rate, precision, strategy,
          jit_compile, steps_per_execution, model_kwargs, augment, cutout, label_smoothing,
          validation_split, data_dir, download, seed) -> _Plan:
    """Check the arguments of :func:`train` and fill in the recipe's defaults."""
    recipe = get_recipe(recipe)
    check_precision(precision)
    check_strategy(strategy)
    model = _check_model(model, strategy, precision)
    info = data_lib.dataset_info(dataset, data_dir=data_dir, download=download)
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
        validation_split=validation_split or info.test_split, precision=precision,
        strategy=strategy, jit_compile=jit_compile, steps_per_execution=steps_per_execution,
        seed=seed, data_dir=data_dir, download=download)


def _check_model(model, strategy, precision):
    """``model`` if :func:`train` can build or use it under ``strategy`` and ``precision``."""
    if isinstance(model, str):
        registry.get_spec(model)  # a clear ValueError for unknown names, before any work
        return model
    if isinstance(model, keras.Model):
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
    """Training steps per epoch; with a strategy the last partial batch is dropped."""
    examples = data_lib.num_examples(info.name, info.train_split, data_dir=data_dir,
                                     download=download)
    steps = examples // batch_size if strategy != "default" else math.ceil(examples / batch_size)
    if steps < 1:
        raise ValueError(f"batch_size must not exceed the {examples} training examples "
                         f"with strategy {strategy!r}; got {batch_size}")
    return steps


def _pipelines(plan):
    """The training pipeline and the evaluation pipelines of the watched and test splits."""
    train_data = data_lib.load_dataset(
        plan.info.name, plan.info.train_split, plan.batch_size, augment=plan.augment,
        pad_mode=plan.recipe.pad_mode, cutout=plan.cutout,
        label_smoothing=plan.label_smoothing, seed=plan.seed,
        drop_remainder=plan.strategy != "default", **plan.data_options)
    evaluation = {split: data_lib.load_dataset(plan.info.name, split, plan.batch_size,
                                               augment=False, one_hot=bool(plan.label_smoothing),
                                               **plan.data_options)
                  for split in {plan.validation_split, plan.info.test_split}}
    return train_data, evaluation[plan.validation_split], evaluation[plan.info.test_split]


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
    apply_weight_decay(net, plan.recipe.weight_decay)
    compile_model(net, plan.recipe.optimizer(plan.learning_rate_schedule()),
                  one_hot=bool(plan.label_smoothing), jit_compile=plan.jit_compile,
                  steps_per_execution=plan.steps_per_execution)
    return net


def _final_metrics(plan, recorder, scores, wall_start):
    rows = recorder.rows
    best = max(rows, key=lambda r: r.get(recorder.monitor, -math.inf)) if rows else {}
    return {
        "dataset": plan.info.name, "test_split": plan.info.test_split, "epochs": plan.epochs,
        "epochs_recorded": len(rows),
        "test_accuracy": float(scores["accuracy"]), "test_loss": float(scores["xent"]),
        "test_objective": float(scores["loss"]),
        "best_epoch": best.get("epoch"), "best_val_accuracy": best.get(recorder.monitor),
        "train_time_s": round(sum(r["time_s"] for r in rows), 2),
        "wall_time_s": round(time.perf_counter() - wall_start, 2),
    }

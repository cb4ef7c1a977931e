"""Training recipes of the papers, and runs that write everything down and survive a kill.

A :class:`Recipe` is a paper's optimizer, schedule, weight decay, batch size, length
and augmentation. :func:`train` runs one on a dataset of :mod:`keras_resnets.data`
and writes into its run directory: ``config.json``, ``history.csv``/``history.json``,
``curves.png``, ``last.keras``, ``best.keras`` (best validation accuracy) and, at the
end, ``metrics.json``. A ``backup/`` folder (``keras.callbacks.BackupAndRestore``)
holds weights, optimizer state and epoch after every epoch: rerunning the same call
after a crash or a kill resumes at the last completed epoch.

Weight decay is coupled L2, as in the papers' SGD (Torch's ``optim.sgd``, the
TensorFlow reference codes): ``wd * w`` is added to the gradient of every conv and
dense kernel before momentum, by giving those kernels an L2 penalty
``0.5 * wd * ||w||^2``. BatchNorm parameters and biases are not decayed. The
training ``loss`` therefore includes the penalty; ``xent`` is the cross-entropy alone.

Example::

    result = train("wrn-16-4", dataset="cifar10", recipe="wrn", run_dir="runs/wrn-16-4")
    result = train("wrn-10-2", dataset="digits", recipe="fast", epochs=10)
    get_recipe("wrn").learning_rates(epochs=200, steps_per_epoch=391)
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import platform
import shutil
import tempfile
import time
import warnings

import keras
import numpy as np

from keras_resnets import data as data_lib

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "data_parallel")
SCHEDULES = ("step", "cosine")
# Dense keeps its variable in ``_kernel`` (``kernel`` is a property that may add LoRA).
DECAYED_KERNELS = ("_kernel", "kernel", "depthwise_kernel", "pointwise_kernel")
MULTI_WORKER_NOTE = (
    "tf.distribute.MultiWorkerMirroredStrategy does not work with Keras 3 model.fit "
    "(keras-team/keras#20585); for several machines use the JAX backend with "
    "keras.distribution.initialize(...) and strategy='data_parallel'")


# --- recipes ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A paper's training recipe. The run lasts ``epochs`` epochs, or ``steps``
    iterations when set (He et al. count iterations); ``milestones`` are in that same
    unit and scale proportionally when a run is given another length."""

    name: str
    summary: str
    reference: str
    learning_rate: float
    batch_size: int
    epochs: int | None = None
    steps: int | None = None
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 0.0
    schedule: str = "step"
    milestones: tuple = ()
    decay_factor: float = 0.1
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = True
    pad_mode: str = "constant"
    cutout: int = 0

    def __post_init__(self):
        if (self.epochs is None) == (self.steps is None):
            raise ValueError(f"Recipe {self.name!r} needs exactly one of epochs (e.g. 200) or "
                             f"steps (e.g. 64000); got epochs={self.epochs!r}, "
                             f"steps={self.steps!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Recipe schedule must be one of {', '.join(SCHEDULES)}; "
                             f"got {self.schedule!r}")
        if self.pad_mode not in data_lib.PAD_MODES:
            raise ValueError(f"Recipe pad_mode must be one of {', '.join(data_lib.PAD_MODES)}; "
                             f"got {self.pad_mode!r}")

    def default_epochs(self, steps_per_epoch):
        """The paper's length in epochs (iterations rounded up to whole epochs)."""
        if self.epochs is not None:
            return self.epochs
        return math.ceil(self.steps / steps_per_epoch)

    def boundaries(self, epochs, steps_per_epoch, explicit_epochs=True):
        """Iterations at which the step schedule multiplies the rate by ``decay_factor``:
        each milestone is the first iteration run at the lower rate."""
        if self.epochs is not None:
            scale = epochs * steps_per_epoch / self.epochs
        else:
            scale = epochs * steps_per_epoch / self.steps if explicit_epochs else 1.0
        return [int(round(m * scale)) for m in self.milestones]

    def learning_rate_schedule(self, epochs, steps_per_epoch, *, learning_rate=None,
                               explicit_epochs=True):
        """A Keras ``LearningRateSchedule`` over ``epochs * steps_per_epoch`` iterations."""
        peak = self.learning_rate if learning_rate is None else learning_rate
        total = epochs * steps_per_epoch
        if self.schedule == "cosine":
            warmup = min(int(round(self.warmup_epochs * steps_per_epoch)), total - 1)
            return keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=peak / max(warmup, 1) if warmup else peak,
                decay_steps=total - warmup, alpha=0.0,
                warmup_target=peak if warmup else None, warmup_steps=warmup)
        bounds = self.boundaries(epochs, steps_per_epoch, explicit_epochs)
        values = [peak * self.decay_factor ** i for i in range(len(bounds) + 1)]
        # Keras switches after ``step > boundary``; ours are first steps at the new rate.
        return keras.optimizers.schedules.PiecewiseConstantDecay([b - 1 for b in bounds], values)

    def learning_rates(self, epochs, steps_per_epoch, steps=None, **kwargs):
        """The rate at the given iterations (default: the first of every epoch)."""
        schedule = self.learning_rate_schedule(epochs, steps_per_epoch, **kwargs)
        steps = range(0, epochs * steps_per_epoch, steps_per_epoch) if steps is None else steps
        return [float(keras.ops.convert_to_numpy(schedule(s))) for s in steps]

    def optimizer(self, schedule):
        return keras.optimizers.SGD(learning_rate=schedule, momentum=self.momentum,
                                    nesterov=self.nesterov)


RECIPES = {r.name: r for r in (
    Recipe(
        name="wrn", summary="Wide ResNet: SGD Nesterov 0.9, lr 0.1 x0.2 at epochs 60/120/160 "
        "of 200, weight decay 5e-4, batch 128, reflect-pad crop and flip",
        reference="Zagoruyko & Komodakis, Wide Residual Networks, BMVC 2016, sec. 4",
        learning_rate=0.1, batch_size=128, epochs=200, weight_decay=5e-4,
        milestones=(60, 120, 160), decay_factor=0.2, pad_mode="reflect"),
    Recipe(
        name="resnet-cifar", summary="ResNet on CIFAR: SGD momentum 0.9, lr 0.1 /10 at 32k "
        "and 48k iterations, stop at 64k, weight decay 1e-4, batch 128, pad-crop and flip",
        reference="He et al., Deep Residual Learning for Image Recognition, CVPR 2016, sec. 4.2",
        learning_rate=0.1, batch_size=128, steps=64_000, nesterov=False, weight_decay=1e-4,
        milestones=(32_000, 48_000)),
    Recipe(
        name="densenet", summary="DenseNet on CIFAR: 300 epochs, batch 64, lr 0.1 /10 at 50% "
        "and 75%, weight decay 1e-4, Nesterov 0.9",
        reference="Huang et al., Densely Connected Convolutional Networks, CVPR 2017, sec. 4.2",
        learning_rate=0.1, batch_size=64, epochs=300, weight_decay=1e-4, milestones=(150, 225)),
    Recipe(
        name="cliquenet", summary="CliqueNet on CIFAR: DenseNet's schedule (300 epochs, batch "
        "64, lr 0.1 /10 at 50% and 75%, weight decay 1e-4, Nesterov 0.9), no augmentation",
        reference="Yang et al., Convolutional Neural Networks with Alternately Updated Clique, "
        "CVPR 2018, sec. 4.1; reference code github.com/iboing/CliqueNet train.py (40 epochs "
        "on SVHN)",
        learning_rate=0.1, batch_size=64, epochs=300, weight_decay=1e-4, milestones=(150, 225),
        augment=False),
    Recipe(
        name="fast", summary="quick results: SGD Nesterov 0.9, linear warm-up (2 epochs) then "
        "cosine to 0 over 30 epochs, lr 0.1, weight decay 5e-4, label smoothing 0.1, batch 128",
        reference="Goyal et al. 2017 (warm-up); Loshchilov & Hutter, SGDR, ICLR 2017 (cosine); "
        "Szegedy et al., CVPR 2016 (label smoothing)",
        learning_rate=0.1, batch_size=128, epochs=30, weight_decay=5e-4, schedule="cosine",
        warmup_epochs=2, label_smoothing=0.1),
)}


def list_recipes() -> list[str]:
    """Names of the recipes: ``['cliquenet', 'densenet', 'fast', 'resnet-cifar', 'wrn']``."""
    return sorted(RECIPES)


def get_recipe(name) -> Recipe:
    """The recipe called ``name`` (see :func:`list_recipes`); a Recipe passes through."""
    if isinstance(name, Recipe):
        return name
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {', '.join(list_recipes())}; got {name!r}")
    return RECIPES[name]


# --- weight decay, precision, strategy ----------------------------------------------------


def apply_weight_decay(model, weight_decay) -> list[str]:
    """Give every conv/dense kernel of ``model`` the coupled L2 penalty
    ``0.5 * weight_decay * ||w||^2`` (gradient ``weight_decay * w``); returns the paths
    of the decayed variables. BatchNorm parameters and biases are left alone."""
    if not isinstance(weight_decay, (int, float)) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a number >= 0 (e.g. 5e-4, 1e-4); "
                         f"got {weight_decay!r}")
    regularizer = keras.regularizers.L2(weight_decay / 2.0) if weight_decay else None
    decayed = {}
    for layer in model._flatten_layers(include_self=False):
        for attribute in DECAYED_KERNELS:
            variable = getattr(layer, attribute, None)
            if isinstance(variable, keras.Variable) and variable.trainable:
                variable.regularizer = regularizer
                decayed[id(variable)] = variable.path
    return list(decayed.values())


def check_precision(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    return precision


@contextlib.contextmanager
def precision_scope(precision):
    """Set the global dtype policy for building a model, restore it afterwards."""
    check_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def check_strategy(strategy, batch_size=None):
    """Validate a strategy name against the backend; returns the number of replicas."""
    backend = keras.backend.backend()
    if strategy in ("multi_worker", "multi_worker_mirrored"):
        raise ValueError(f"strategy {strategy!r} is not supported: {MULTI_WORKER_NOTE}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    if strategy == "mirrored" and backend != "tensorflow":
        raise ValueError(f"strategy 'mirrored' (tf.distribute.MirroredStrategy) needs "
                         f"KERAS_BACKEND=tensorflow; the backend is {backend!r}: use "
                         f"'data_parallel' there")
    if strategy == "data_parallel" and backend != "jax":
        raise ValueError(f"strategy 'data_parallel' (keras.distribution.DataParallel) needs "
                         f"KERAS_BACKEND=jax; the backend is {backend!r}: use 'mirrored' on "
                         f"TensorFlow")
    if strategy != "data_parallel":
        return None
    replicas = len(keras.distribution.list_devices())
    if batch_size is not None and batch_size % replicas:
        raise ValueError(f"batch_size must be a multiple of the {replicas} devices for "
                         f"strategy 'data_parallel'; got {batch_size}")
    return replicas


_MIRRORED = {}


@contextlib.contextmanager
def strategy_scope(strategy):
    """Build, compile and fit inside this: TF ``MirroredStrategy`` over the local GPUs
    (or all logical CPUs when there is no GPU), JAX ``DataParallel`` over all devices,
    or nothing for ``"default"``. Yields the number of replicas."""
    check_strategy(strategy)
    if strategy == "mirrored":
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        names = tuple(d.name for d in devices)
        # One strategy per process: a second MirroredStrategy's all-reduces collide with
        # the first one's (collective shape mismatch), e.g. when train() runs twice.
        if names not in _MIRRORED:
            _MIRRORED[names] = tf.distribute.MirroredStrategy(list(names))
        mirrored = _MIRRORED[names]
        with mirrored.scope():
            yield mirrored.num_replicas_in_sync
    elif strategy == "data_parallel":
        previous = keras.distribution.distribution()
        parallel = keras.distribution.DataParallel()
        keras.distribution.set_distribution(parallel)
        try:
            yield parallel.num_model_replicas
        finally:
            keras.distribution.set_distribution(previous)
    else:
        yield 1


# --- run directory ------------------------------------------------------------------------


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write):
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then move it into
    place with ``os.replace`` (readers never see a half-written file)."""
    directory, base = os.path.split(os.path.abspath(path))
    suffix = ".keras" if base.endswith(".keras") else ".tmp"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{base}.", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_text(path, text):
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    atomic_write(path, write)


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)


def history_csv(rows):
    """The rows as CSV text, columns in a stable order."""
    keys = ["epoch", "lr"]
    for row in rows:
        keys += [k for k in row if k not in keys and k != "time_s"]
    keys.append("time_s")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def plot_curves(rows, path):
    """Loss and accuracy against epoch, train and validation, as a PNG (matplotlib Agg)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), dpi=100)
    epochs = [r["epoch"] + 1 for r in rows]
    for ax, key, title in zip(figure.subplots(1, 2), ("loss", "accuracy"),
                              ("loss (cross-entropy + L2)", "accuracy"), strict=True):
        for prefix, label in (("", "train"), ("val_", "validation")):
            if any(prefix + key in r for r in rows):
                ax.plot(epochs, [r.get(prefix + key, np.nan) for r in rows], marker=".",
                        label=label)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))


class RunRecorder(keras.callbacks.Callback):
    """Writes history (JSON and CSV), curves, ``last.keras`` and ``best.keras`` after
    every epoch. On a resumed run it drops rows of epochs that are run again, so the
    history holds each epoch once. Put it before ``BackupAndRestore`` in the list."""

    def __init__(self, run_dir, monitor="val_accuracy"):
        super().__init__()
        self.run_dir, self.monitor = run_dir, monitor
        self.rows = None
        self.best = -math.inf

    def path(self, name):
        return os.path.join(self.run_dir, name)

    def load(self, before_epoch):
        rows = read_json(self.path("history.json"), [])
        self.rows = [r for r in rows if r["epoch"] < before_epoch]
        self.best = max((r[self.monitor] for r in self.rows if self.monitor in r),
                        default=-math.inf)

    def on_epoch_begin(self, epoch, logs=None):
        if self.rows is None:
            self.load(epoch)
        self._start = time.perf_counter()
        self._lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, "lr": self._lr}
        row.update({k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"})
        row["time_s"] = round(time.perf_counter() - self._start, 3)
        self.rows.append(row)
        write_json(self.path("history.json"), self.rows)
        write_text(self.path("history.csv"), history_csv(self.rows))
        atomic_write(self.path("last.keras"), self.model.save)
        if row.get(self.monitor, -math.inf) > self.best:
            self.best = row[self.monitor]
            atomic_write(self.path("best.keras"), self.model.save)
        try:
            plot_curves(self.rows, self.path("curves.png"))
        except ImportError:
            warnings.warn("matplotlib is not installed: no curves.png (pip install matplotlib)",
                          stacklevel=2)


def _check_int(argument, value, minimum, examples, allow_none=True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{argument} must be an integer >= {minimum} ({examples}); "
                         f"got {value!r}")
    return int(value)


def _check_run_dir(run_dir):
    try:
        os.makedirs(run_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test."):
            pass
    except OSError as error:
        raise ValueError(f"run_dir must be a writable directory (e.g. 'runs/wrn-16-4'); "
                         f"got {run_dir!r}: {error.strerror or error}") from None


def _model_label(model):
    if isinstance(model, str):
        return model
    if isinstance(model, keras.Model):
        return model.name
    return getattr(model, "__name__", type(model).__name__)


def _resolve_model(model, strategy, precision):
    if isinstance(model, str):
        from keras_resnets.registry import get_spec

        get_spec(model)  # a clear ValueError for unknown names, before any work
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


def _build_model(model, info, model_kwargs):
    if isinstance(model, keras.Model):
        return model
    if isinstance(model, str):
        from keras_resnets.registry import create_model

        kwargs = {"input_shape": info.input_shape, "classes": info.num_classes, **model_kwargs}
        return create_model(model, **kwargs)
    return model(**model_kwargs)


def _environment():
    import tensorflow as tf

    return {"keras": keras.__version__, "tensorflow": tf.__version__,
            "backend": keras.backend.backend(), "python": platform.python_version(),
            "machine": platform.machine(), "processor": platform.processor() or "",
            "cpu_count": os.cpu_count()}


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns: the run directory, the trained (last) model, the
    per-epoch history rows and the final metrics (also in ``metrics.json``)."""

    run_dir: str
    model: keras.Model
    history: list
    metrics: dict


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
        recipe: a name of :func:`list_recipes` or a :class:`Recipe`; ``epochs``,
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
    recipe = get_recipe(recipe)
    check_precision(precision)
    check_strategy(strategy)
    model = _resolve_model(model, strategy, precision)
    info = data_lib.dataset_info(dataset, data_dir=data_dir, download=download)
    batch_size = _check_int("batch_size", batch_size, 1, "e.g. 64, 128") or recipe.batch_size
    explicit_epochs = epochs is not None
    epochs = _check_int("epochs", epochs, 1, "e.g. 1, 30, 200")
    steps_per_execution = _check_int("steps_per_execution", steps_per_execution, 1, "e.g. 1, 8")
    check_strategy(strategy, batch_size)
    if learning_rate is not None and not (isinstance(learning_rate, (int, float))
                                          and learning_rate > 0):
        raise ValueError(f"learning_rate must be a number > 0 (e.g. 0.1, 0.05); "
                         f"got {learning_rate!r}")
    if jit_compile not in (True, False, "auto"):
        raise ValueError(f"jit_compile must be True, False or 'auto'; got {jit_compile!r}")
    jit_compile = _mirrored_jit(strategy, jit_compile)
    run_dir = run_dir or os.path.join("runs", f"{_model_label(model)}-{info.name}-{recipe.name}")
    _check_run_dir(run_dir)

    augment = recipe.augment if augment is None else augment
    cutout = recipe.cutout if cutout is None else cutout
    smoothing = recipe.label_smoothing if label_smoothing is None else label_smoothing
    data_options = dict(data_dir=data_dir, download=download)
    train_ds = data_lib.load_dataset(
        info.name, info.train_split, batch_size, augment=augment, pad_mode=recipe.pad_mode,
        cutout=cutout, label_smoothing=smoothing, seed=seed,
        drop_remainder=strategy != "default", **data_options)
    val_split = validation_split or info.test_split
    eval_ds = {split: data_lib.load_dataset(info.name, split, batch_size, augment=False,
                                            one_hot=bool(smoothing), **data_options)
               for split in {val_split, info.test_split}}
    train_examples = data_lib.num_examples(info.name, info.train_split, **data_options)
    steps_per_epoch = train_examples // batch_size if strategy != "default" \
        else math.ceil(train_examples / batch_size)
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size must not exceed the {train_examples} training examples "
                         f"with strategy {strategy!r}; got {batch_size}")
    epochs = epochs or recipe.default_epochs(steps_per_epoch)

    config = {
        "model": _model_label(model), "model_kwargs": dict(model_kwargs or {}),
        "dataset": dataclasses.asdict(info), "recipe": dataclasses.asdict(recipe),
        "epochs": epochs, "batch_size": batch_size, "steps_per_epoch": steps_per_epoch,
        "learning_rate": recipe.learning_rate if learning_rate is None else learning_rate,
        "lr_boundaries": recipe.boundaries(epochs, steps_per_epoch, explicit_epochs)
        if recipe.schedule == "step" else None,
        "augment": augment, "cutout": cutout, "label_smoothing": smoothing,
        "validation_split": val_split, "precision": precision, "strategy": strategy,
        "jit_compile": jit_compile, "steps_per_execution": steps_per_execution, "seed": seed,
    }
    config = json.loads(json.dumps(config, default=str))
    _prepare_run_dir(run_dir, config, overwrite)
    write_json(os.path.join(run_dir, "config.json"),
               {"run": config, "environment": _environment()})

    keras.utils.set_random_seed(seed)
    with precision_scope(precision), strategy_scope(strategy) as replicas:
        net = _build_model(model, info, dict(model_kwargs or {}))
        apply_weight_decay(net, recipe.weight_decay)
        schedule = recipe.learning_rate_schedule(epochs, steps_per_epoch,
                                                 learning_rate=learning_rate,
                                                 explicit_epochs=explicit_epochs)
        compile_model(net, recipe.optimizer(schedule), one_hot=bool(smoothing),
                      jit_compile=jit_compile, steps_per_execution=steps_per_execution)
        recorder = RunRecorder(run_dir)
        backup = keras.callbacks.BackupAndRestore(os.path.join(run_dir, "backup"),
                                                  save_freq="epoch", double_checkpoint=True,
                                                  delete_checkpoint=False)
        net.fit(train_ds, validation_data=eval_ds[val_split], epochs=epochs,
                callbacks=[recorder, backup], shuffle=False, verbose=verbose)
        if recorder.rows is None:  # every epoch was already done before a restart
            recorder.load(epochs)
        scores = net.evaluate(eval_ds[info.test_split], return_dict=True, verbose=0)
    metrics = _final_metrics(recorder, scores, info, epochs, wall_start)
    metrics["replicas"] = replicas
    write_json(os.path.join(run_dir, "metrics.json"), metrics)
    shutil.rmtree(os.path.join(run_dir, "backup"), ignore_errors=True)
    return TrainResult(run_dir, net, recorder.rows, metrics)


def _mirrored_jit(strategy, jit_compile):
    """XLA's all-reduce across logical CPU devices fails (collective shape mismatch), so a
    CPU-only MirroredStrategy runs without XLA."""
    if strategy != "mirrored":
        return jit_compile
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return jit_compile
    if jit_compile is True:
        raise ValueError("jit_compile=True with strategy 'mirrored' needs GPUs: without them "
                         "the replicas are CPU devices, where XLA's all-reduce fails; use "
                         "jit_compile=False or 'auto'")
    return False


def compile_model(model, optimizer, *, one_hot=False, jit_compile="auto",
                  steps_per_execution=1, run_eagerly=False):
    """Compile with cross-entropy (categorical for one-hot labels) and the metrics
    ``accuracy`` and ``xent`` (cross-entropy without the L2 penalty)."""
    if one_hot:
        loss = keras.losses.CategoricalCrossentropy()
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy"),
                   keras.metrics.CategoricalCrossentropy(name="xent")]
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                   keras.metrics.SparseCategoricalCrossentropy(name="xent")]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution, run_eagerly=run_eagerly)


def _prepare_run_dir(run_dir, config, overwrite):
    old = read_json(os.path.join(run_dir, "config.json"))
    finished = os.path.exists(os.path.join(run_dir, "metrics.json"))
    if overwrite:
        for name in ("history.json", "history.csv", "metrics.json", "best.keras", "last.keras",
                     "curves.png"):
            if os.path.exists(os.path.join(run_dir, name)):
                os.remove(os.path.join(run_dir, name))
        shutil.rmtree(os.path.join(run_dir, "backup"), ignore_errors=True)
        return
    if finished:
        raise ValueError(f"run_dir {run_dir!r} already holds a finished run (metrics.json); "
                         f"choose another run_dir or pass overwrite=True (--overwrite)")
    if old is not None and old.get("run") != config:
        changed = sorted(k for k in set(config) | set(old["run"])
                         if config.get(k) != old["run"].get(k))
        raise ValueError(f"run_dir {run_dir!r} holds an unfinished run with other settings "
                         f"({', '.join(changed)}); rerun it with the same settings to resume, "
                         f"choose another run_dir, or pass overwrite=True")


def _final_metrics(recorder, scores, info, epochs, wall_start):
    rows = recorder.rows
    best = max(rows, key=lambda r: r.get(recorder.monitor, -math.inf)) if rows else {}
    return {
        "dataset": info.name, "test_split": info.test_split, "epochs": epochs,
        "epochs_recorded": len(rows),
        "test_accuracy": float(scores["accuracy"]), "test_loss": float(scores["xent"]),
        "test_objective": float(scores["loss"]),
        "best_epoch": best.get("epoch"), "best_val_accuracy": best.get(recorder.monitor),
        "train_time_s": round(sum(r["time_s"] for r in rows), 2),
        "wall_time_s": round(time.perf_counter() - wall_start, 2),
    }


def demo(*, model="wrn-10-2", epochs=12, batch_size=64, run_dir="runs/demo", export=True,
         verbose="auto") -> dict:
    """Train a small Wide ResNet on the offline ``digits`` set (CPU, a few minutes), report
    its accuracy on the 360 held-out images and, when :mod:`keras_resnets.export` is
    available, export a TFLite file that takes raw pixels and check it in LiteRT.

    Example: ``demo(epochs=2, export=False)``; or ``keras-resnets demo`` on the command line.
    """
    start = time.perf_counter()
    result = train(model, dataset="digits", recipe="fast", epochs=epochs, batch_size=batch_size,
                   run_dir=run_dir, overwrite=True, verbose=verbose)
    summary = {"model": model, "epochs": epochs, "batch_size": batch_size,
               "held_out_images": data_lib.DIGITS_TEST_SIZE,
               "held_out_accuracy": result.metrics["test_accuracy"],
               "train_time_s": result.metrics["train_time_s"], "tflite": None}
    if export:
        summary["tflite"] = _demo_export(result.model, run_dir)
    summary["wall_time_s"] = round(time.perf_counter() - start, 1)
    write_json(os.path.join(run_dir, "demo.json"), summary)
    errors = round((1 - summary["held_out_accuracy"]) * data_lib.DIGITS_TEST_SIZE)
    print(f"\ndemo: {model}, {epochs} epochs on digits: held-out accuracy "
          f"{100 * summary['held_out_accuracy']:.2f}% ({errors} of "
          f"{data_lib.DIGITS_TEST_SIZE} wrong), {summary['wall_time_s']:.0f} s in all; "
          f"curves in {os.path.join(run_dir, 'curves.png')}")
    return summary


def _demo_export(model, run_dir):
    try:
        from keras_resnets.export import Preprocessing, export_tflite
    except ImportError:
        print("keras_resnets.export is not available: no TFLite export")
        return None
    info = data_lib.dataset_info(data_lib.DIGITS)
    images, _ = data_lib.load_digits_arrays("test")
    report = export_tflite(model, os.path.join(run_dir, "model.tflite"),
                           include_preprocessing=Preprocessing(mean=info.mean, std=info.std),
                           verify_samples=images)
    print(f"\nTFLite (raw uint8 pixels in, checked in LiteRT on the {len(images)} held-out "
          f"images):\n{report}")
    return dataclasses.asdict(report)

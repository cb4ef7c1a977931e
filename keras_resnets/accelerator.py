"""What the example notebooks need to run on a GPU machine as on this CPU one.

- :func:`accelerator_names`: the GPUs the Keras backend trains on (names, empty on a CPU);
  :func:`environment`: the hardware and software record a notebook prints.
- :func:`digits_splits`: the offline ``digits`` set as arrays, through tensorflow-datasets
  where TensorFlow is installed, else from a ``.npz`` file written by
  :func:`save_digits_splits` on a machine that has it (the GPU image has JAX, no
  TensorFlow).
- :class:`ImagesPerSecond`: a callback measuring training throughput, leaving out the
  first epoch (compilation).
- :func:`train_on_arrays`: a registry model trained with ``model.fit`` on such arrays (no
  tf.data, so it runs on any backend), several steps per dispatch, optionally stopping
  at a validation accuracy (time to accuracy).

Example::

    gpus = accelerator_names()                      # ['NVIDIA H100 80GB HBM3'] or []
    splits = digits_splits("digits.npz")            # {"train": (x, y), "validation": ...}
    run = train_on_arrays("wrn-16-4", splits, epochs=30, batch_size=128)
    run.metrics["images_per_s"], run.metrics["best_val_accuracy"]
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import platform
import time

import keras
import numpy as np

SPLITS = ("train", "validation", "test")


def accelerator_names() -> list[str]:
    """The names of the GPUs the Keras backend sees (``[]`` on a CPU-only machine)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    import tensorflow as tf

    return [tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")]


def environment(smoke=False) -> dict:
    """The hardware and software this process runs on: CPU model and count, the GPUs,
    ``device`` (the first GPU, else the CPU), Python, TensorFlow (None if absent), Keras
    and its backend. Example: ``environment()["device"]``."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        tensorflow = version("tensorflow") if has_tensorflow() else None
    except PackageNotFoundError:
        tensorflow = None
    gpus = accelerator_names()
    return {"smoke": smoke, "cpu": cpu, "cpu_count": os.cpu_count(), "gpus": gpus,
            "device": gpus[0] if gpus else cpu, "python": platform.python_version(),
            "tensorflow": tensorflow, "keras": keras.__version__,
            "backend": keras.backend.backend()}


def has_tensorflow() -> bool:
    """Whether TensorFlow can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except ImportError:  # an import hook that refuses it
        return False


def digits_splits(path="digits.npz") -> dict:
    """``{split: (uint8 images (N, 32, 32, 3), int64 labels)}`` of the offline digits set:
    through tensorflow-datasets where TensorFlow is installed, else read from ``path``
    (see :func:`save_digits_splits`)."""
    if has_tensorflow():
        from keras_resnets.data import load_arrays

        return {split: load_arrays("digits", split) for split in SPLITS}
    if not os.path.exists(path):
        raise ValueError(f"path={path!r}: no such file, and TensorFlow is not installed to "
                         "prepare digits; write it where TensorFlow is, e.g. "
                         "save_digits_splits('digits.npz')")
    with np.load(path) as arrays:
        return {split: (arrays[f"{split}_x"], arrays[f"{split}_y"]) for split in SPLITS}


def save_digits_splits(path="digits.npz") -> str:
    """Write every digits split to ``path`` (needs TensorFlow) and return ``path``."""
    from keras_resnets._io import atomic_write

    arrays = {}
    for split, (x, y) in digits_splits().items():
        arrays[f"{split}_x"], arrays[f"{split}_y"] = x, y

    def write(temporary):
        with open(temporary, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    atomic_write(path, write)
    return path


class ImagesPerSecond(keras.callbacks.Callback):
    """Training images per second over every epoch but the first (which compiles).

    ``images_per_s`` is None after fewer than two epochs. Example:
    ``meter = ImagesPerSecond(128); model.fit(..., callbacks=[meter])``.
    """

    def __init__(self, batch_size):
        super().__init__()
        self.batch_size = batch_size
        self.images, self.seconds, self._start = 0, 0.0, None

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._epoch, self._steps = time.perf_counter(), epoch, 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        if epoch > 0:
            self.seconds += time.perf_counter() - self._start
            self.images += self._steps * self.batch_size

    @property
    def images_per_s(self):
        return self.images / self.seconds if self.seconds else None


class _StopAtAccuracy(keras.callbacks.Callback):
    def __init__(self, target):
        super().__init__()
        self.target, self.reached_s, self._start = target, None, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.reached_s is None and (logs or {}).get("val_accuracy", 0.0) >= self.target:
            self.reached_s = time.perf_counter() - self._start
            self.model.stop_training = True


@dataclasses.dataclass
class ArrayRun:
    """What :func:`train_on_arrays` returns: the model (it takes raw pixels), one row
    per epoch (``epoch``, ``xent``, ``accuracy``, ``val_xent``, ``val_accuracy``) and the
    run's figures (``epochs``, ``best_epoch``, ``best_val_accuracy``, ``images_per_s``,
    ``train_s``, ``seconds_to_target``)."""

    model: keras.Model
    history: list
    metrics: dict


def train_on_arrays(model_name, splits, *, epochs, batch_size, precision="float32",
                    learning_rate=0.1, weight_decay=5e-4, steps_per_execution=None,
                    jit_compile="auto", target_accuracy=None, model_kwargs=None, seed=0,
                    verbose=2) -> ArrayRun:
    """Train registry model ``model_name`` on ``splits`` (``{"train": (x, y),
    "validation": (x, y)}``, raw uint8 pixels) with ``model.fit``: SGD with Nesterov
    momentum 0.9, cosine decay from ``learning_rate``, decoupled ``weight_decay``; the
    model carries its input normalization (train-set statistics). ``steps_per_execution``
    (default: a whole epoch) steps run per host dispatch. With ``target_accuracy``,
    training stops at the first epoch whose validation accuracy reaches it.

    Example: ``train_on_arrays("wrn-16-4", digits_splits(), epochs=30, batch_size=128)``.
    """
    import keras_resnets
    from keras_resnets.arrays import pixel_stats
    from keras_resnets.normalization import with_input_normalization

    x, y = splits["train"]
    steps = -(-len(x) // batch_size)
    keras.utils.set_random_seed(seed)
    keras.config.set_dtype_policy(precision)
    try:
        net = keras_resnets.create_model(model_name, input_shape=x.shape[1:],
                                         classes=int(y.max()) + 1, **(model_kwargs or {}))
    finally:
        keras.config.set_dtype_policy("float32")
    model = with_input_normalization(net, *pixel_stats(x))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps)
    model.compile(keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True,
                                       weight_decay=weight_decay),
                  keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"],
                  jit_compile=jit_compile, steps_per_execution=steps_per_execution or steps)
    meter = ImagesPerSecond(batch_size)
    callbacks = [meter]
    if target_accuracy is not None:
        callbacks.append(_StopAtAccuracy(target_accuracy))
    x_val, y_val = splits["validation"]
    start = time.perf_counter()
    fitted = model.fit(x.astype("float32"), y, batch_size=batch_size, epochs=epochs,
                       validation_data=(x_val.astype("float32"), y_val), shuffle=True,
                       callbacks=callbacks, verbose=verbose)
    train_s = time.perf_counter() - start
    logs = fitted.history
    history = [{"epoch": epoch, "xent": logs["loss"][epoch], "accuracy": logs["accuracy"][epoch],
                "val_xent": logs["val_loss"][epoch], "val_accuracy": logs["val_accuracy"][epoch]}
               for epoch in range(len(logs["loss"]))]
    best = max(history, key=lambda row: row["val_accuracy"])
    metrics = {"epochs": len(history), "best_epoch": best["epoch"],
               "best_val_accuracy": best["val_accuracy"], "images_per_s": meter.images_per_s,
               "train_s": train_s, "seconds_to_target":
                   callbacks[-1].reached_s if target_accuracy is not None else None}
    return ArrayRun(model, history, metrics)


def images_per_s(run):
    """Training images per second over the epochs after the first: an :class:`ArrayRun`'s
    measurement, or a ``keras_resnets.training`` run's, from its history's epoch times
    (``time_s``, validation included) and its ``config.json``. None after one epoch."""
    if isinstance(run, ArrayRun):
        return run.metrics["images_per_s"]
    with open(os.path.join(run.run_dir, "config.json")) as handle:
        config = json.load(handle)["run"]
    seconds = sum(row["time_s"] for row in run.history[1:])
    epochs = len(run.history) - 1
    return config["steps_per_epoch"] * config["batch_size"] * epochs / seconds if seconds else None

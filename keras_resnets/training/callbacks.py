"""The user's Keras callbacks, and TensorBoard event files, in a run or a search.

``train(..., callbacks=[...])`` and ``run_search(..., callbacks=[...])`` take any
``keras.callbacks.Callback``; ``tensorboard=True`` (``--tensorboard``) writes event files:
:class:`EpochSummaries` into ``<run_dir>/tensorboard`` for a run, Keras's own
``keras.callbacks.TensorBoard`` into ``<directory>/tensorboard`` for a search (Keras Tuner
gives it a folder per trial and records the trial's hyperparameters with TensorBoard's
hparams plugin). Watch either with ``tensorboard --logdir runs/...``.

Example::

    train("wrn-10-1", epochs=5, tensorboard=True,
          callbacks=[keras.callbacks.EarlyStopping("val_accuracy", patience=2)])
"""

from __future__ import annotations

import os

import keras

TENSORBOARD_DIR = "tensorboard"


def check_callbacks(callbacks) -> list:
    """``callbacks`` as a list: None, or a list or tuple of ``keras.callbacks.Callback``.

    Example: ``check_callbacks([keras.callbacks.EarlyStopping(patience=2)])``.
    """
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of keras.callbacks.Callback (e.g. "
                        f"[keras.callbacks.EarlyStopping(patience=2)]); got {callbacks!r}")
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise TypeError(f"callbacks must hold keras.callbacks.Callback instances only "
                            f"(e.g. keras.callbacks.EarlyStopping(patience=2)); got "
                            f"{callback!r}")
    return list(callbacks)


def check_tensorboard(tensorboard) -> bool:
    """``tensorboard`` if it is a bool. Example: ``check_tensorboard(True)``."""
    if not isinstance(tensorboard, bool):
        raise TypeError(f"tensorboard must be True or False (write event files into the "
                        f"run directory); got {tensorboard!r}")
    return tensorboard


class EpochSummaries(keras.callbacks.Callback):
    """Per-epoch scalars for TensorBoard, laid out as Keras's ``TensorBoard`` callback lays
    them out: ``train/`` holds ``epoch_loss``, ``epoch_accuracy``, ``epoch_xent`` and
    ``epoch_learning_rate`` (the rate the epoch started with, ``history.json``'s ``lr``),
    ``validation/`` the ``val_`` figures; the step is the epoch (from 1, as in
    ``history.json``). The files are flushed after every epoch, so a killed run keeps them; an epoch run again after a
    resume is written again, with the same values, and TensorBoard shows it once.

    Example: ``model.fit(..., callbacks=[EpochSummaries("runs/r1/tensorboard")])``.
    """

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        self._writers = None
        self._learning_rate = None

    def on_train_begin(self, logs=None):
        import tensorflow as tf  # TensorBoard's summary writer, on every Keras backend

        self._writers = {part: tf.summary.create_file_writer(os.path.join(self.log_dir, part))
                         for part in ("train", "validation")}

    def on_epoch_begin(self, epoch, logs=None):
        self._learning_rate = float(keras.ops.convert_to_numpy(
            self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        scalars = {"train": {"learning_rate": self._learning_rate}, "validation": {}}
        for key, value in (logs or {}).items():
            if key != "learning_rate":
                part = "validation" if key.startswith("val_") else "train"
                scalars[part][key.removeprefix("val_")] = float(value)
        for part, values in scalars.items():
            with self._writers[part].as_default():
                for name, value in values.items():
                    tf.summary.scalar(f"epoch_{name}", value, step=epoch + 1)
            self._writers[part].flush()

    def on_train_end(self, logs=None):
        for writer in (self._writers or {}).values():
            writer.close()
        self._writers = None

"""Training progress fit for a terminal and for a log.

On a terminal Keras draws its progress bar. In a log (standard output is not a
terminal: a pipe, a file, a batch job) a bar is a stream of carriage returns,
backspaces and colour codes, so :class:`EpochLines` prints one plain line per epoch
instead, and a heartbeat line every ``heartbeat_s`` seconds during the first epoch
(which includes tracing and compilation and can take minutes).

Example::

    fit_verbose, callbacks = progress_output("auto")
    model.fit(data, epochs=3, verbose=fit_verbose, callbacks=callbacks)
"""

from __future__ import annotations

import sys
import threading
import time

import keras

HEARTBEAT_S = 30.0


class EpochLines(keras.callbacks.Callback):
    """``epoch 3/30  loss 0.4125  accuracy 0.8711  val_loss 0.3990  ...  12.4 s`` per
    epoch, and ``epoch 1/30  step 120/500  45 s`` every ``heartbeat_s`` of the first one
    (from a timer thread, so a first step that traces for minutes still shows signs of life).

    Example: ``model.fit(data, epochs=3, verbose=0, callbacks=[EpochLines()])``.
    """

    def __init__(self, heartbeat_s=HEARTBEAT_S, stream=None):
        super().__init__()
        self.heartbeat_s = heartbeat_s
        self.stream = stream
        self._step = 0
        self._first_done = None  # made per run, so that Keras Tuner can deep-copy this

    def _print(self, text):
        print(text, file=self.stream or sys.stdout, flush=True)

    def on_train_begin(self, logs=None):
        self._first_done = threading.Event()
        self._epochs = self.params.get("epochs")
        self._steps = self.params.get("steps")

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        if not self._first_done.is_set():
            threading.Thread(target=self._heartbeat, args=(epoch + 1,), daemon=True).start()

    def _heartbeat(self, epoch):
        while not self._first_done.wait(self.heartbeat_s):
            steps = f"/{self._steps}" if self._steps else ""
            self._print(f"epoch {epoch}/{self._epochs}  step {self._step}{steps}  "
                        f"{time.perf_counter() - self._start:.0f} s")

    def on_train_batch_end(self, batch, logs=None):
        self._step = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        self._first_done.set()
        figures = "  ".join(f"{key} {value:.4g}" for key, value in (logs or {}).items()
                            if isinstance(value, (int, float)))
        self._print(f"epoch {epoch + 1}/{self._epochs}  {figures}  "
                    f"{time.perf_counter() - self._start:.1f} s")

    def on_train_end(self, logs=None):
        self._first_done.set()


def progress_output(verbose="auto", stream=None):
    """``(verbose for fit, extra callbacks)``: with ``"auto"``, Keras's bar when ``stream``
    (default standard output) is a terminal, else :class:`EpochLines`; any other value
    (0, 1, 2) goes to ``fit`` as it is."""
    target = stream or sys.stdout
    if verbose != "auto" or (hasattr(target, "isatty") and target.isatty()):
        return verbose, []
    return 0, [EpochLines(stream=stream)]  # None: sys.stdout when printing (and deep-copyable)

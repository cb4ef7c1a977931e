"""The run directory: settings, per-epoch history and models, backups for resuming, metrics.

Every file is written atomically (:mod:`keras_resnets._io`): a reader, or a run killed
mid-write, sees the old file or the new one. ``backup/`` holds the training state
(:mod:`keras_resnets.training.backup`) while the run is unfinished, so the same call
resumes at the last completed epoch.

Example::

    check_resumable("runs/r1", {"epochs": 2})                     # before any work
    prepare_run_dir("runs/r1", {"epochs": 2}, overwrite=False)   # writes config.json
    callbacks = [RunRecorder("runs/r1"), RunBackup("runs/r1")]
    finish_run("runs/r1", {"test_accuracy": 0.99})               # metrics.json
"""

from __future__ import annotations

import csv
import io
import math
import os
import platform
import shutil
import tempfile
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_resnets._io import (
    StateFileError,
    atomic_write,
    read_json,
    remove_stale_temporaries,
    write_json,
    write_text,
)
from keras_resnets.training.backup import remove_backup
from keras_resnets.training.callbacks import TENSORBOARD_DIR

CONFIG = "config.json"
METRICS = "metrics.json"
HISTORY_JSON = "history.json"
# What a run writes besides config.json; overwrite=True removes these.
RUN_OUTPUTS = (HISTORY_JSON, "history.csv", METRICS, "best.keras", "last.keras", "curves.png")
RESTART_REMEDY = "pass overwrite=True (--overwrite) to start the run over"


def check_run_dir(run_dir):
    """Create ``run_dir`` if needed and check that files can be written in it.

    Example: ``check_run_dir("runs/wrn-16-4")``.
    """
    try:
        os.makedirs(run_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-test."):
            pass
    except OSError as error:
        raise ValueError(f"run_dir must be a writable directory (e.g. 'runs/wrn-16-4'); "
                         f"got {run_dir!r}: {error.strerror or error}") from None


def environment_record() -> dict:
    """Library versions and the machine, as recorded in ``config.json``.

    Example: ``environment_record()["backend"]`` is ``"tensorflow"``.
    """
    return {"keras": keras.__version__, "tensorflow": tf.__version__,
            "backend": keras.backend.backend(), "python": platform.python_version(),
            "machine": platform.machine(), "processor": platform.processor() or "",
            "cpu_count": os.cpu_count()}


def check_resumable(run_dir, config):
    """Refuse ``run_dir`` if it holds a finished run, or an unfinished one with settings
    other than ``config``; an unfinished one with the same settings resumes.

    Example: ``check_resumable("runs/r1", {"epochs": 2})``.
    """
    if os.path.exists(os.path.join(run_dir, METRICS)):
        raise ValueError(f"run_dir {run_dir!r} already holds a finished run (metrics.json); "
                         f"choose another run_dir or pass overwrite=True (--overwrite)")
    old = read_json(os.path.join(run_dir, CONFIG), remedy=RESTART_REMEDY)
    if old is not None and not isinstance(old.get("run"), dict):
        raise StateFileError(f"{os.path.join(run_dir, CONFIG)} has no run settings; "
                             f"{RESTART_REMEDY}")
    if old is not None and old.get("run") != config:
        changed = sorted(k for k in set(config) | set(old["run"])
                         if config.get(k) != old["run"].get(k))
        raise ValueError(f"run_dir {run_dir!r} holds an unfinished run with other settings "
                         f"({', '.join(changed)}); rerun it with the same settings to resume, "
                         f"choose another run_dir, or pass overwrite=True")


def prepare_run_dir(run_dir, config, overwrite):
    """Start or resume the run of ``config`` (JSON-ready settings) in ``run_dir`` and write
    ``config.json``. ``overwrite`` removes a previous run's outputs, TensorBoard event
    files and backup; without
    it a finished run, or an unfinished one with other settings, is refused.

    Example: ``prepare_run_dir("runs/r1", {"epochs": 2, "batch_size": 64}, False)``.
    """
    if overwrite:
        for name in RUN_OUTPUTS:
            if os.path.exists(os.path.join(run_dir, name)):
                os.remove(os.path.join(run_dir, name))
        remove_backup(run_dir)
        shutil.rmtree(os.path.join(run_dir, TENSORBOARD_DIR), ignore_errors=True)
    else:
        check_resumable(run_dir, config)
    for name in (CONFIG, *RUN_OUTPUTS):
        remove_stale_temporaries(run_dir, name)
    write_json(os.path.join(run_dir, CONFIG),
               {"run": config, "environment": environment_record()})


def finish_run(run_dir, metrics):
    """Write ``metrics.json`` (the run counts as finished) and remove the backup.

    Example: ``finish_run("runs/r1", {"test_accuracy": 0.99})``.
    """
    write_json(os.path.join(run_dir, METRICS), metrics)
    remove_backup(run_dir)


def history_csv(rows):
    """The rows as CSV text: ``epoch``, ``lr``, the metrics in order seen, ``time_s``.

    Example: ``history_csv([{"epoch": 1, "lr": 0.1, "loss": 2.3, "time_s": 8.1}])``.
    """
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
    """Loss and accuracy against epoch, train and validation, as a PNG (matplotlib Agg).

    Example: ``plot_curves(result.history, "runs/r1/curves.png")``.
    """
    from matplotlib.figure import Figure  # optional dependency: RunRecorder warns without it

    figure = Figure(figsize=(10, 4), dpi=100)
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in rows]
    for ax, key, title in zip(figure.subplots(1, 2), ("loss", "accuracy"),
                              ("loss (cross-entropy + L2)", "accuracy"), strict=True):
        for prefix, label in (("", "train"), ("val_", "validation")):
            if any(prefix + key in r for r in rows):
                ax.plot(epochs, [r.get(prefix + key, np.nan) for r in rows], marker=".",
                        label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))


class RunRecorder(keras.callbacks.Callback):
    """Writes history (JSON and CSV), curves, ``last.keras`` and ``best.keras`` after
    every epoch: ``saved_model`` if given (a model sharing the trained one's weights, such
    as it with its input normalization), else the model being fit. On a resumed run it
    drops rows of epochs that are run again, so the history holds each epoch once. Put it before ``RunBackup`` in the list.

    Example: ``model.fit(..., callbacks=[RunRecorder("runs/r1")])``.
    """

    def __init__(self, run_dir, monitor="val_accuracy", saved_model=None):
        super().__init__()
        self.run_dir, self.monitor = run_dir, monitor
        self.saved_model = saved_model  # e.g. the model with its input normalization
        self.rows = None
        self.best = -math.inf
        self._epoch_start = self._epoch_lr = None

    def path(self, name):
        return os.path.join(self.run_dir, name)

    def load(self, before_epoch):
        """Keep the recorded rows of the first ``before_epoch`` epochs (Keras's index of
        the epoch about to run). Rows count epochs from 1; a history written before they
        did (its first row is epoch 0) is renumbered, so such a run still resumes."""
        rows = read_json(self.path(HISTORY_JSON), [], remedy=RESTART_REMEDY)
        if not (isinstance(rows, list) and all(isinstance(r, dict) and isinstance(
                r.get("epoch"), int) for r in rows)):
            raise StateFileError(f"{self.path(HISTORY_JSON)} is not a list of epoch rows; "
                                 f"{RESTART_REMEDY}")
        if rows and rows[0]["epoch"] == 0:
            rows = [{**r, "epoch": r["epoch"] + 1} for r in rows]
        self.rows = [r for r in rows if r["epoch"] <= before_epoch]
        self.best = max((r[self.monitor] for r in self.rows if self.monitor in r),
                        default=-math.inf)

    def on_epoch_begin(self, epoch, logs=None):
        if self.rows is None:
            self.load(epoch)
        self._epoch_start = time.perf_counter()
        self._epoch_lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, "lr": self._epoch_lr}  # counted from 1, as printed
        row.update({k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"})
        row["time_s"] = round(time.perf_counter() - self._epoch_start, 3)
        self.rows.append(row)
        write_json(self.path(HISTORY_JSON), self.rows)
        write_text(self.path("history.csv"), history_csv(self.rows))
        saved = self.saved_model or self.model
        atomic_write(self.path("last.keras"), saved.save)
        if row.get(self.monitor, -math.inf) > self.best:
            self.best = row[self.monitor]
            atomic_write(self.path("best.keras"), saved.save)
        try:
            plot_curves(self.rows, self.path("curves.png"))
        except ImportError:
            warnings.warn("matplotlib is not installed: no curves.png (pip install matplotlib)",
                          stacklevel=2)

"""The state a killed run resumes from, so that resuming changes nothing.

After every epoch :class:`RunBackup` saves into ``run_dir/backup``: the weights with the
optimizer's state (its step count, so the learning-rate schedule, momentum, the
mixed-precision loss scale), the state of every random seed generator of the model
(dropout, stochastic depth; ``save_weights`` leaves them out) and the number of
completed epochs. With the training data a function of (seed, epoch, step)
(``load_dataset(..., epoch=...)``), a seeded run killed at any point and resumed with
:func:`restore` ends with exactly the weights of an uninterrupted run.

Files are written atomically and ``state.json``, written last, names the checkpoint;
the previous one is kept until the next is complete, and is used if the latest cannot
be read.

Example::

    start = restore("runs/r1", model)                  # 0 for a fresh run
    model.fit(data, initial_epoch=start, epochs=10, callbacks=[RunBackup("runs/r1")])
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil

import keras
import numpy as np

from keras_resnets._io import (
    StateFileError,
    atomic_write,
    check_space,
    read_json,
    write_json,
)

BACKUP_DIR = "backup"
STATE = "state.json"
REMEDY = "delete {backup} to restart the run from its first epoch, or pass overwrite=True " \
         "(--overwrite) to start over"


def _seed_states(model):
    """The state variables of the model's seed generators, in layer order."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _weights_file_bytes(model):
    """More than ``model.save_weights`` writes: the variables' bytes (the optimizer's too)
    and HDF5's overhead, measured at 1.3-1.4 kB a variable, allowed 4 kB, plus 64 kB."""
    optimizer = model.optimizer.variables if model.optimizer is not None else []
    variables = [*model.variables, *optimizer]
    data = sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in variables)
    return data + 4096 * len(variables) + 65536


def _files(epoch):
    return {"weights": f"epoch-{epoch}.weights.h5", "seeds": f"epoch-{epoch}.seeds.npz"}


class RunBackup(keras.callbacks.Callback):
    """Saves the complete training state into ``run_dir/backup`` after every epoch.

    Example: ``model.fit(..., callbacks=[RunRecorder(d), RunBackup(d)])``.
    """

    def __init__(self, run_dir):
        super().__init__()
        self.directory = os.path.join(run_dir, BACKUP_DIR)

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        files = _files(epoch + 1)
        weights = os.path.join(self.directory, files["weights"])
        check_space(weights, _weights_file_bytes(self.model))  # HDF5 crashes on a full disk
        atomic_write(weights, self.model.save_weights)
        seeds = {str(i): keras.ops.convert_to_numpy(v)
                 for i, v in enumerate(_seed_states(self.model))}

        def write_seeds(tmp):
            with open(tmp, "wb") as f:
                np.savez(f, **seeds)

        atomic_write(os.path.join(self.directory, files["seeds"]), write_seeds)
        path = os.path.join(self.directory, STATE)
        old = read_json(path, {}, remedy=REMEDY.format(backup=self.directory))
        write_json(path, {"epoch": epoch + 1, **files,
                          "previous": {k: old[k] for k in ("epoch", "weights", "seeds")
                                       if k in old} or None})
        keep = set(files.values()) | {old.get("weights"), old.get("seeds"), STATE}
        for name in os.listdir(self.directory):
            if name not in keep and not name.startswith("."):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(self.directory, name))


def _load(model, directory, checkpoint):
    weights = os.path.join(directory, checkpoint["weights"])
    seeds = os.path.join(directory, checkpoint["seeds"])
    model.load_weights(weights)
    with np.load(seeds) as stored:
        states = _seed_states(model)
        if len(stored.files) != len(states):
            raise ValueError(f"{seeds} holds {len(stored.files)} seed states, the model has "
                             f"{len(states)}")
        for i, variable in enumerate(states):
            variable.assign(stored[str(i)])


def restore(run_dir, model) -> int:
    """Load the last backup of ``run_dir`` into the compiled ``model``; return the number
    of completed epochs (0 without a backup). A backup that cannot be read raises a
    :class:`StateFileError` naming its files.

    Example: ``start = restore("runs/r1", model)``.
    """
    directory = os.path.join(run_dir, BACKUP_DIR)
    remedy = REMEDY.format(backup=directory)
    state = read_json(os.path.join(directory, STATE), remedy=remedy)
    if state is None:
        return 0
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    errors = []
    for checkpoint in (state, state.get("previous")):
        if not checkpoint:
            continue
        try:
            _load(model, directory, checkpoint)
            return int(checkpoint["epoch"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            errors.append(f"{checkpoint.get('weights')}: {str(error).splitlines()[0]}")
    raise StateFileError(f"the backup in {directory} cannot be read ({'; '.join(errors)}); "
                         f"{remedy}")


def remove_backup(run_dir):
    """Delete ``run_dir/backup`` (the run finished, or starts over)."""
    shutil.rmtree(os.path.join(run_dir, BACKUP_DIR), ignore_errors=True)

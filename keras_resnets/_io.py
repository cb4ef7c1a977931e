"""Files written atomically and state files read with errors that name them.

A reader (or a run restarted after SIGKILL) sees the old file or the new one, never
half of one: every write goes to a temporary file beside the target, then
``os.replace`` moves it into place.

Example::

    write_json("runs/r1/metrics.json", {"test_accuracy": 0.99})
    read_json("runs/r1/metrics.json")        # {'test_accuracy': 0.99}
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile

TEMP_PREFIX = "."
TEMP_MARK = ".partial-"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then move it into place.

    The temporary name keeps the target's extension (Keras checks ``.keras`` and
    ``.weights.h5``) and starts with ``.NAME.partial-`` so that
    :func:`remove_stale_temporaries` can find what a killed process left behind.
    """
    directory, base = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    suffix = next((ext for ext in (".weights.h5", ".keras", ".tflite", ".json", ".csv", ".png")
                   if base.endswith(ext)), ".tmp")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{TEMP_PREFIX}{base}{TEMP_MARK}",
                               suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_bytes(path, data: bytes) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    atomic_write(path, write)


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


class StateFileError(ValueError):
    """A state file (run, search, trial, backup, weights) is unreadable; the message names
    the file and what to do."""


def read_json(path, default=None, *, remedy="delete it to start over"):
    """The JSON in ``path``; ``default`` if it does not exist; a :class:`StateFileError`
    naming the file (and ``remedy``) if it cannot be parsed."""
    if not os.path.exists(path):
        return default
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise StateFileError(f"{path} is corrupt ({error}); {remedy}") from None


def remove_stale_temporaries(directory, base) -> list[str]:
    """Remove the temporary files that a killed write of ``directory/base`` left behind."""
    removed = []
    prefix = f"{TEMP_PREFIX}{base}{TEMP_MARK}"
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(directory):
            if entry.startswith(prefix):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(directory, entry))
                    removed.append(entry)
    return removed

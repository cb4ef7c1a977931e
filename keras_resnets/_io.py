"""Files written atomically and state files read with errors that name them.

A reader (or a run restarted after SIGKILL) sees the old file or the new one, never
half of one: every write goes to a temporary file beside the target, then
``os.replace`` moves it into place. A write that finds its file system full raises a
:class:`DiskFullError` naming the file, and leaves the old file as it was.

Example::

    write_json("runs/r1/metrics.json", {"test_accuracy": 0.99})
    read_json("runs/r1/metrics.json")        # {'test_accuracy': 0.99}
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile

TEMP_PREFIX = "."
TEMP_MARK = ".partial-"
FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # no space, over quota, file too large


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class DiskFullError(OSError, ValueError):
    """A file could not be written for want of space; the message names it. A
    ``ValueError`` too, so the command line reports it in one line (exit status 2)."""


def _disk_full(path, number, detail="") -> DiskFullError:
    error = DiskFullError(f"{path} could not be written: {os.strerror(number)}{detail}; "
                          f"free space on that file system and run again (what was written "
                          f"before is intact: a training run resumes at its last completed "
                          f"epoch)")
    error.errno = number
    return error


def check_space(path, needed) -> None:
    """Raise a :class:`DiskFullError` naming ``path`` if its file system has fewer than
    ``needed`` bytes free: for writers that crash on a full disk instead of raising (an
    HDF5 file that fails to write is flushed again at exit, and the process dies).

    Example: ``check_space("runs/r1/backup/epoch-1.weights.h5", 2_000_000)``.
    """
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
    if free < needed:
        raise _disk_full(path, errno.ENOSPC, f" ({needed:,} bytes needed, {free:,} free)")


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
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(error, OSError) and error.errno in FULL:
            raise _disk_full(path, error.errno) from None
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
    """Remove the temporary files and folders (``.BASE.partial-*``) that a killed write of
    ``directory/base`` left behind; returns their names."""
    removed = []
    prefix = f"{TEMP_PREFIX}{base}{TEMP_MARK}"
    with contextlib.suppress(FileNotFoundError):
        for entry in os.listdir(directory):
            path = os.path.join(directory, entry)
            if entry.startswith(prefix):
                with contextlib.suppress(OSError):
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    else:
                        os.remove(path)
                    removed.append(entry)
    return removed


LOCK_FILE = ".lock"


def remove_contents(directory) -> None:
    """Empty ``directory`` but for its :class:`DirectoryLock` file (``--overwrite``)."""
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if name == LOCK_FILE:
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


class DirectoryLock:
    """An exclusive OS lock (``fcntl.flock``) on ``directory/.lock`` that names its holder.

    The kernel releases it when the holder exits, however it exits, so a killed run never
    leaves a stale lock. A second holder, in this process or another, is refused with a
    ``ValueError`` naming the holder's PID.

    Example::

        with DirectoryLock("runs/r1", "run_dir"):
            ...   # the only process writing runs/r1
    """

    def __init__(self, directory, argument="directory"):
        self.directory, self.argument = os.fspath(directory), argument
        self.path = os.path.join(self.directory, LOCK_FILE)
        self._fd = None

    def acquire(self):
        import fcntl  # POSIX only: imported here so that the module loads everywhere

        try:
            os.makedirs(self.directory, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        except OSError as error:
            raise ValueError(f"{self.argument} must be a writable directory (e.g. "
                             f"'runs/r1'); got {self.directory!r}: "
                             f"{error.strerror or error}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise ValueError(f"{self.argument} {self.directory!r} is in use by process "
                             f"{holder} (lock {self.path}); wait for it to finish, stop it "
                             f"(kill {holder}), or choose another {self.argument}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self):
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

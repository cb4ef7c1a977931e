"""Checking downloaded weight files against their published hashes.

Three kinds of hash guard the catalogue's files: keras.applications' MD5 of each ``.h5``
file (as ``keras.applications`` passes them to ``get_file``), a SHA-256 where a file's
is published, and torchvision's file-name prefix: ``resnet50-11ad3fa6.pth`` promises a
file whose SHA-256 starts with ``11ad3fa6``, which ``torch.hub`` compares after a
download and so does :func:`check_file` (for prefixes of 8 hex digits or more).

Example::

    torch_hub_prefix("resnet50-11ad3fa6.pth")              # "11ad3fa6"
    check_file("resnet50-11ad3fa6.pth", "11ad3fa6")        # ValueError if it differs
"""

from __future__ import annotations

import hashlib
import os
import re

TORCH_HUB_HASH = re.compile(r"-([a-f0-9]{8,})\.")
"""torch.hub's ``-<hex>.`` in a file name, at least 8 hex digits long."""


def _digest(path, algorithm) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path) -> str:
    """The SHA-256 of a file, in hex."""
    return _digest(path, "sha256")


def torch_hub_prefix(file_name) -> str | None:
    """The SHA-256 prefix a torch.hub file name carries (``name-<hex>.ext``), else None."""
    match = TORCH_HUB_HASH.search(os.path.basename(os.fspath(file_name)))
    return match.group(1) if match else None


def check_file(path, expected) -> None:
    """Refuse ``path`` unless its hash is ``expected``: 32 hex digits are an MD5, 64 a
    SHA-256, 8 to 63 a SHA-256 prefix (torch.hub's); None checks nothing."""
    if expected is None:
        return
    expected = expected.lower()
    algorithm = "md5" if len(expected) == 32 else "sha256"
    digest = _digest(path, algorithm)
    if not digest.startswith(expected):
        kind = {32: "MD5", 64: "SHA-256"}.get(len(expected), "SHA-256 prefix")
        raise ValueError(f"weights file {os.fspath(path)!r} fails its {kind} check (expected "
                         f"{expected}, got {digest[:len(expected)]}): it is damaged or not the "
                         f"published file; delete it and download it again")

"""Loading saved models, however deep.

Keras rebuilds a functional graph recursively when it loads one, and a ResNet-1202 or a
preact-ResNet-1001 is far deeper than Python's default recursion limit of 1,000 frames.
:func:`load_model` raises the limit for the duration of the load only (importing
``keras_resnets`` also registers the package's custom layers, which Keras needs to load a
model that uses them).

Example::

    model = keras_resnets.create_model("resnet1202")
    model.save("resnet1202.keras")
    again = keras_resnets.load_model("resnet1202.keras")

A file that cannot be loaded (missing, empty, truncated, damaged, or holding weights of
another model) raises a :class:`~keras_resnets._io.StateFileError` (a ``ValueError``)
that names it.
"""

from __future__ import annotations

import json
import os
import zipfile

import keras

from keras_resnets._io import StateFileError
from keras_resnets.engine import deep_graph_recursion

REMEDY = "save the model again or restore the file from a copy"


def _check_local_file(name):
    if not os.path.exists(name):
        raise ValueError(f"model file {name!r} does not exist; give the path of a .keras "
                         f"file, e.g. 'runs/demo/best.keras'")
    if name.endswith(".keras") and not zipfile.is_zipfile(name):
        raise StateFileError(f"model file {name!r} is not a .keras archive (a zip file): it "
                             f"is empty, truncated or damaged ({os.path.getsize(name):,} "
                             f"bytes); {REMEDY}")


def load_model(path, **kwargs) -> keras.Model:
    """``keras.saving.load_model(path, **kwargs)`` with room for very deep graphs, and
    errors that name a file it cannot load.

    Example: ``load_model("runs/demo/best.keras")``.
    """
    name = os.fspath(path)
    if "://" not in name:  # remote files (gs://...) are Keras's to read
        _check_local_file(name)
    try:
        with deep_graph_recursion():
            return keras.saving.load_model(name, **kwargs)
    except (zipfile.BadZipFile, json.JSONDecodeError, OSError, KeyError, ValueError) as error:
        reason = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        raise StateFileError(f"model file {name!r} cannot be loaded ({type(error).__name__}: "
                             f"{reason}); it is damaged or holds another model's weights: "
                             f"{REMEDY}") from None

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
"""

from __future__ import annotations

import keras

from keras_resnets.engine import deep_graph_recursion


def load_model(path, **kwargs) -> keras.Model:
    """``keras.saving.load_model(path, **kwargs)`` with room for very deep graphs."""
    with deep_graph_recursion():
        return keras.saving.load_model(path, **kwargs)

"""The input normalization a trained model carries, so that it takes raw pixels.

Pipelines feed networks ``(x / 255 - mean) / std``. Every model that a run or a search
saves is wrapped by :func:`with_input_normalization`: a ``keras.layers.Normalization``
named ``input_normalization`` maps raw pixels (0-255) to exactly those inputs, so the
saved file, and anything exported from it, is right on raw images with no extra
setting. :func:`input_normalization` reads the values back (None for a model that
carries none).

Example::

    model = with_input_normalization(net, mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))
    model.predict(uint8_images)              # raw pixels in
    input_normalization(model)               # ((0.49, 0.48, 0.45), (0.25, 0.24, 0.26))
"""

from __future__ import annotations

import keras
import numpy as np

LAYER_NAME = "input_normalization"


def _channels(values, channels, argument, positive):
    array = np.asarray(values, dtype="float64").reshape(-1)
    if array.size not in (1, channels) or not np.all(np.isfinite(array)) or (
            positive and np.any(array <= 0)):
        rule = "> 0" if positive else "finite"
        raise ValueError(f"{argument} must be 1 or {channels} numbers {rule} (pixels / 255, "
                         f"e.g. (0.4914, 0.4822, 0.4465)); got {values!r}")
    return np.broadcast_to(array, (channels,))


def with_input_normalization(model, mean, std, *, name=None) -> keras.Model:
    """``model`` behind a float32 ``Normalization`` layer computing
    ``(x / 255 - mean) / std`` per channel: the result takes raw pixels (0-255).
    The wrapper shares ``model``'s layers and weights.

    Example: ``with_input_normalization(net, (0.306,), (0.324,))`` for digits' statistics.
    """
    if not isinstance(model, keras.Model) or len(model.inputs or ()) != 1:
        raise ValueError(f"model must be a keras.Model with one image input (e.g. "
                         f"create_model('resnet20')); got {model!r}")
    shape = tuple(model.inputs[0].shape[1:])
    mean = _channels(mean, shape[-1], "mean", positive=False)
    std = _channels(std, shape[-1], "std", positive=True)
    layer = keras.layers.Normalization(
        axis=-1, mean=(255.0 * mean).tolist(), variance=((255.0 * std) ** 2).tolist(),
        name=LAYER_NAME, dtype="float32")
    inputs = keras.Input(shape, name="pixels")
    return keras.Model(inputs, model(layer(inputs)), name=name or model.name)


def input_normalization(model) -> tuple | None:
    """``(mean, std)`` of ``pixels / 255`` that ``model`` applies to its input (tuples, one
    value per channel), or None when it carries no ``input_normalization`` layer.

    Example: ``input_normalization(keras.saving.load_model("runs/demo/best.keras"))``.
    """
    for layer in getattr(model, "layers", ()):
        if layer.name == LAYER_NAME and isinstance(layer, keras.layers.Normalization):
            config = layer.get_config()
            mean = np.asarray(config["mean"], "float64").reshape(-1) / 255.0
            std = np.sqrt(np.asarray(config["variance"], "float64").reshape(-1)) / 255.0
            return (tuple(round(float(v), 6) for v in mean),
                    tuple(round(float(v), 6) for v in std))
    return None

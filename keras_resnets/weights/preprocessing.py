"""The input preprocessing that goes with each set of published weights, and decoding.

keras.applications' files use keras.applications' modes (``"caffe"``: BGR minus the
ImageNet means, for ResNet v1; ``"torch"``: [0, 1] then mean/std, for DenseNet; ``"tf"``:
[-1, 1], for the others); timm and torchvision weights use their own mean/std on [0, 1]
pixels (torchvision's InceptionV3: mean = std = 0.5, i.e. [-1, 1], what its
``transform_input`` makes of ImageNet-normalised input). Images come in as RGB values in
[0, 255], resized and cropped as the record says.

Example::

    x = preprocess_input(images, "resnet50-v1.5", weights="torchvision/imagenet1k_v2")
    decode_predictions(model.predict(x), top=3)
"""

from __future__ import annotations

import numpy as np
from keras.applications import imagenet_utils

from keras_resnets.weights import catalogue


def _record(model_name, weights):
    tag = "keras/imagenet" if weights == "imagenet" else weights
    tags = catalogue.records(model_name)
    if tag not in tags:
        available = ", ".join(tags) or "none"
        raise ValueError(f"weights={weights!r} are not published for model {model_name!r} "
                         f"(its weights: {available}); e.g. preprocess_input(x, "
                         "'resnet50-v1.5', weights='torchvision/imagenet1k_v1')")
    return tags[tag]


def preprocess_input(x, model_name, weights="imagenet"):
    """Scale RGB images in [0, 255] (..., H, W, 3) as ``weights`` of ``model_name`` expect;
    returns a float32 NumPy array."""
    record = _record(model_name, weights)
    x = np.asarray(x, dtype="float32")
    if record.keras_mode is not None:
        return imagenet_utils.preprocess_input(x.copy(), mode=record.keras_mode)
    return ((x / 255.0 - np.asarray(record.mean, "float32"))
            / np.asarray(record.std, "float32")).astype("float32")


def decode_predictions(predictions, top=5):
    """ImageNet class ids, names and scores of the top ``top`` predictions per image
    (keras.applications' function: the class index is downloaded once)."""
    return imagenet_utils.decode_predictions(np.asarray(predictions), top=top)

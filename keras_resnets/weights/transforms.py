"""Keras layers that prepare images exactly as a weight set was evaluated.

``preprocessing(weights)`` reads the catalogue record's :class:`~keras_resnets.weights.
catalogue.Transform` (torchvision's ``weights.transforms()``, timm's ``crop_pct``
resize, keras.applications' modes) and returns a ``keras.layers.Pipeline``: resize the
shorter side (antialiased), crop the centre, scale and normalise. It takes RGB images in
[0, 255], one (H, W, 3) or a batch of one size, in ``tf.data`` or inside a model.

Example::

    prepare = keras_resnets.preprocessing("torchvision/imagenet1k_v2")  # 232 -> 224
    dataset = dataset.map(lambda image, label: (prepare(image), label))
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, classifier(prepare(inputs)))
"""

from __future__ import annotations

import keras

from keras_resnets import layers
from keras_resnets.weights import catalogue


def find_transform(weights, model_name=None) -> catalogue.Transform:
    """The evaluation transform of a catalogue tag (``"imagenet"``: Keras's files), for
    ``model_name`` where the tag's records differ from model to model."""
    tag = "keras/imagenet" if weights == "imagenet" else weights
    if model_name is not None:
        records = [catalogue.records(model_name.strip().lower()).get(tag)]
    else:
        records = [tags[tag] for tags in catalogue.CATALOGUE.values() if tag in tags]
    records = [record for record in records if record is not None]
    if not records:
        owner = f" for model {model_name!r}" if model_name else ""
        raise ValueError(f"weights={weights!r} are not a catalogue tag{owner}; e.g. "
                         "preprocessing('torchvision/imagenet1k_v2') or "
                         "preprocessing('imagenet', 'resnet50')")
    transforms = {record.transform for record in records}
    if len(transforms) > 1:
        raise ValueError(f"weights={weights!r} were evaluated differently for different "
                         f"models ({', '.join(sorted(r.model for r in records))}): pass "
                         f"model_name, e.g. preprocessing({weights!r}, {records[0].model!r})")
    return transforms.pop()


def transform_layers(transform: catalogue.Transform,
                     name="preprocessing") -> keras.layers.Pipeline:
    """``transform`` as Keras layers (``.layers``): resize, centre crop, scale and
    normalise, chained by a ``keras.layers.Pipeline``."""
    return keras.layers.Pipeline([
        layers.ResizeShorterSide(transform.resize, transform.interpolation,
                                 transform.antialias, name="resize"),
        layers.CentreCrop(transform.crop, name="centre_crop"),
        layers.Standardize(transform.scale, transform.mean, transform.std,
                           transform.channels, name="standardize"),
    ], name=name)


def preprocessing(weights, model_name=None) -> keras.layers.Pipeline:
    """Keras layers that resize, crop, scale and normalise RGB images in [0, 255] as
    ``weights`` (a catalogue tag or ``"imagenet"``) were evaluated; ``model_name`` where a
    tag's transform depends on the model (``preprocessing("imagenet", "xception")``: 299
    pixels, [-1, 1]). ``keras_resnets.preprocessing``
    (:func:`keras_resnets.presets.preprocessing`) also takes a preset."""
    return transform_layers(find_transform(weights, model_name))

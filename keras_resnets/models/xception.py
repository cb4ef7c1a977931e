"""Xception (Chollet, 2017): depthwise-separable convolutions with residual connections.

Layer for layer identical to keras.applications ``Xception`` (same layer names where Keras
names them, same order and weight shapes), so Keras's ImageNet files load. The network is
a table on the staged engine: the ``"xception"`` stem (``block1``), one stage per
``"xception"`` block of the entry, middle and exit flows (:data:`FLOWS`; stage ``n`` is
``block{n}``) and a ``"separable_convs"`` stage (``block14``). ``Xception(padding="torch")``
pads its max-pools as timm's ``legacy_xception`` does.

Example::

    model = Xception(input_shape=(96, 96, 3), classes=10)
    keras_resnets.count_params("xception")   # ParamCount(trainable=22855952, total=22910480)
"""

from __future__ import annotations

import dataclasses

from keras_resnets import blocks as B
from keras_resnets._checks import check_choice, check_options
from keras_resnets.blocks.xception import SeparableConvsOptions
from keras_resnets.builder import build_model
from keras_resnets.engine import NetworkSpec, Stage, Stem
from keras_resnets.families import PaperErrors, register_family

FLOWS = (
    # separable conv widths, stride, leading activation: block2, block3, ...
    ((128, 128), 2, False),   # entry flow
    ((256, 256), 2, True),
    ((728, 728), 2, True),
    *(((728, 728, 728), 1, True),) * 8,  # middle flow: block5 ... block12
    ((728, 1024), 2, True),   # exit flow: block13
)

__all__ = ["Xception"]  # what keras_resnets exports

EXIT_WIDTHS = (1536, 2048)
PADDINGS = ("keras", "torch")


def xception_spec(padding="keras") -> NetworkSpec:
    """The spec behind :func:`Xception`: two 3x3 convs -> twelve Xception blocks
    (:data:`FLOWS`) -> two separable convs -> head."""
    check_choice("padding", padding, PADDINGS)
    stages = tuple(Stage(1, widths, stride, kind="xception",
                         options=B.XceptionOptions(activate_first=activate_first),
                         name="block{stage}")
                   for widths, stride, activate_first in FLOWS)
    stages += (Stage(1, EXIT_WIDTHS, 1, kind="separable_convs",
                     options=SeparableConvsOptions(), name="block{stage}"),)
    return NetworkSpec(name="xception", stages=stages, stem=Stem("xception", (32, 64)),
                       style=dataclasses.replace(B.KERAS_XCEPTION_STYLE, padding=padding),
                       default_input_shape=(299, 299, 3),
                       keras_weights="xception" if padding == "keras" else None)


def Xception(*, padding="keras", weights=None, **kwargs):
    """Xception, layer for layer as keras.applications ``Xception`` (299x299 inputs,
    at least 71x71).

    ``padding``: ``"keras"`` (TensorFlow's 'same' max-pools, as Keras's files were
    trained) or ``"torch"`` (``MaxPool2d(3, 2, 1)``, padded with ``-inf`` on every side:
    timm's ``legacy_xception``, whose checkpoints then give its outputs). The two differ
    where a pool takes an even-sized map (74x74 at 299x299 inputs).
    Takes the keras.applications arguments (``include_top``, ``weights`` (``None``,
    ``"imagenet"``, a catalogue tag or a file), ``input_tensor``, ``input_shape``,
    ``pooling``, ``classes``, ``classifier_activation``, ``name``) plus ``drop_path_rate``
    (stochastic depth on the residual blocks), ``features_only`` (outputs ``C2``-``C5``)
    and ``remat`` (gradient checkpointing of every block).

    Example::

        model = Xception(padding="torch", weights="timm/tf_in1k")   # timm's legacy_xception
    """
    spec = xception_spec(padding)
    if weights == "imagenet" and padding != "keras":
        raise ValueError(f"Xception padding must be 'keras' for weights='imagenet' (Keras's "
                         f"file was trained with it); got padding={padding!r}")
    return build_model(spec, weights=weights, **kwargs)


def _from_name(match, **options):
    check_options("Xception", options, ("padding",))
    return xception_spec(**options)


register_family(
    "xception", r"xception", _from_name, ["xception"],
    "Chollet: Xception: Deep Learning with Depthwise Separable Convolutions, CVPR 2017 "
    "(arXiv:1610.02357)",
    PaperErrors("Chollet 2017, Table 1", ("ImageNet top-1",), {"xception": ("21.0",)}))

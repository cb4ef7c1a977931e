"""Atrous spatial pyramid pooling (DeepLabV3). The module is not named ``aspp``: the
function it holds would shadow it in the package namespace.

Example::

    y = aspp(features, 256, rates=(6, 12, 18), name="aspp")
"""

from __future__ import annotations

from keras_resnets import primitives as P
from keras_resnets.blocks.common import DEFAULT_STYLE, conv_bn_act, spatial


def aspp(x, filters=256, rates=(6, 12, 18), *, name="aspp", style=DEFAULT_STYLE,
         image_pooling=True, dropout_rate=0.1):
    """Atrous spatial pyramid pooling (Chen et al., 2017, DeepLabV3).

    Parallel branches on the same features: a 1x1 conv (``{name}_b0``), a 3x3 conv of
    dilation ``r`` for each rate (``{name}_b1`` ...), and image-level pooling (global
    average -> 1x1 conv -> bilinear resize back, ``{name}_pool*``); each conv is followed
    by BN and ReLU. The branches are concatenated (``{name}_concat``) and projected by a
    1x1 conv -> BN -> ReLU (``{name}_project``), then dropout. The rates suit output
    stride 16; double them at output stride 8.
    """
    height, width = spatial(x)
    outputs = [conv_bn_act(x, filters, 1, name=f"{name}_b0", style=style)]
    for i, rate in enumerate(rates, 1):
        outputs.append(conv_bn_act(x, filters, 3, dilation=rate, name=f"{name}_b{i}",
                                   style=style))
    if image_pooling:
        if height is None or width is None:
            raise ValueError(f"{name}: image-level pooling needs a known feature-map size; "
                             f"got {height}x{width}. Give the model a fixed input_shape")
        y = P.GlobalPool("avg", keepdims=True, name=f"{name}_pool")(x)
        y = conv_bn_act(y, filters, 1, name=f"{name}_pool", style=style)
        outputs.append(P.Resize((height, width), name=f"{name}_pool_resize")(y))
    y = P.Concat(name=f"{name}_concat")(outputs)
    y = conv_bn_act(y, filters, 1, name=f"{name}_project", style=style)
    return P.Dropout(dropout_rate, name=f"{name}_dropout")(y) if dropout_rate else y

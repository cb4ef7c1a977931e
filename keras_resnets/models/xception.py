"""Xception (Chollet, 2017): depthwise-separable convolutions with residual connections.

Layer for layer identical to keras.applications ``Xception`` (same layer names where Keras
names them, same order and weight shapes), so Keras's ImageNet files load. The entry,
middle and exit flows are rows of :func:`keras_resnets.blocks.xception_block`.

Example::

    model = Xception(input_shape=(96, 96, 3), classes=10)
    keras_resnets.count_params("xception")   # ParamCount(trainable=22855952, total=22910480)
"""

from __future__ import annotations

import dataclasses

from keras_resnets import blocks as B
from keras_resnets import primitives as P
from keras_resnets.engine import LegacySpec, build_model
from keras_resnets.registry import register_family

FLOWS = (
    # block name, separable conv widths, stride, leading activation
    ("block2", (128, 128), 2, False),   # entry flow
    ("block3", (256, 256), 2, True),
    ("block4", (728, 728), 2, True),
    *((f"block{i}", (728, 728, 728), 1, True) for i in range(5, 13)),  # middle flow
    ("block13", (728, 1024), 2, True),  # exit flow
)


@dataclasses.dataclass(frozen=True)
class XceptionSpec(LegacySpec):
    """Two 3x3 convs -> Xception blocks (``flows``) -> two separable convs -> head."""

    name: str = "xception"
    flows: tuple = FLOWS
    exit_widths: tuple = (1536, 2048)
    style: B.Style = B.KERAS_XCEPTION_STYLE
    default_input_shape: tuple = (299, 299, 3)
    default_classes: int = 1000
    keras_weights: str | None = "xception"

    def features(self, x, *, drop_path_rate=0.0):
        style = self.style
        for i, filters in enumerate((32, 64), 1):
            x = P.Conv(filters, 3, 2 if i == 1 else 1, padding="valid", name=f"block1_conv{i}")(x)
            x = B.batch_norm(x, name=f"block1_conv{i}_bn", style=style)
            x = P.Act("relu", name=f"block1_conv{i}_act")(x)
        levels, stride, total = {}, 2, len(self.flows)
        for index, (name, widths, block_stride, activate_first) in enumerate(self.flows):
            if block_stride > 1:
                levels[stride.bit_length() - 1] = x  # the last map at this resolution
            stride *= block_stride
            x = B.xception_block(x, widths, block_stride, name=name, style=style,
                                 activate_first=activate_first,
                                 drop_rate=drop_path_rate * index / max(total - 1, 1))
        final = f"block{len(self.flows) + 2}"
        for i, width in enumerate(self.exit_widths, 1):
            x = P.SeparableConv(width, 3, padding="same", name=f"{final}_sepconv{i}")(x)
            x = B.batch_norm(x, name=f"{final}_sepconv{i}_bn", style=style)
            x = P.Act("relu", name=f"{final}_sepconv{i}_act")(x)
        levels[stride.bit_length() - 1] = x
        return {f"C{level}": y for level, y in levels.items() if level >= 2}, x


def Xception(**kwargs):
    """Xception, layer for layer as keras.applications ``Xception`` (299x299 inputs,
    at least 71x71).

    Takes the keras.applications arguments (``include_top``, ``weights`` (``None``,
    ``"imagenet"`` or a file), ``input_tensor``, ``input_shape``, ``pooling``, ``classes``,
    ``classifier_activation``, ``name``) plus ``drop_path_rate`` (stochastic depth on
    the residual blocks) and ``features_only`` (outputs ``C2``-``C5``).
    """
    return build_model(XceptionSpec(), **kwargs)


register_family(
    "xception", r"xception", lambda match, **options: XceptionSpec(**options), ["xception"],
    "Chollet: Xception: Deep Learning with Depthwise Separable Convolutions, CVPR 2017 "
    "(arXiv:1610.02357)",
    # ImageNet top-1 error (%), Chollet 2017, Table 1.
    {"xception": "21.0"})

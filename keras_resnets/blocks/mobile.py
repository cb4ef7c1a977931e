"""MobileNet blocks: depthwise-separable convolutions and inverted residuals.

Example::

    y = inverted_residual_block(x, 24, stride=2, name="block_1")
"""

from __future__ import annotations

import dataclasses

from keras_resnets import _checks as C
from keras_resnets import primitives as P
from keras_resnets.blocks.common import (
    DEFAULT_STYLE,
    Style,
    act_name,
    batch_norm,
    channels,
    correct_pad,
)
from keras_resnets.blocks.residual import merge_residual
from keras_resnets.blocks.se import squeeze_excite

KERAS_MOBILENET_STYLE = Style(bn_epsilon=1e-3, bn_momentum=0.999)
"""keras.applications MobileNetV2: bias-free convs, BatchNorm epsilon 1e-3, momentum 0.999."""


def depthwise_separable_conv(x, filters, stride=1, *, name, style=DEFAULT_STYLE, kernel_size=3,
                             dilation=1, activation="relu", linear=False, se_ratio=0.0,
                             zero_init=False):
    """Depthwise-separable convolution (Howard et al., 2017, MobileNet): a kxk depthwise
    convolution per channel -> BN -> activation, then a 1x1 pointwise convolution mixing
    the channels -> BN (-> activation unless ``linear``).

    Layers ``{name}_depthwise``, ``{name}_depthwise_BN``, ``{name}_depthwise_relu``,
    ``{name}_project``, ``{name}_project_BN``, ``{name}_project_relu`` as in
    keras.applications MobileNetV2 (``{name}_pad`` before a strided depthwise conv, padded
    as TensorFlow's 'same'). ``se_ratio`` > 0 adds squeeze-and-excitation between the two
    (MobileNetV3, EfficientNet). Weights: ``k*k*C + C*filters`` instead of a full
    convolution's ``k*k*C*filters`` (656 against 4,608 for 3x3, 16 -> 32).
    ``zero_init`` starts the projection BN's gamma at zero.
    """
    if stride > 1:
        x = P.ZeroPad(correct_pad(x, kernel_size, style), name=f"{name}_pad")(x)
    x = P.Conv(0, kernel_size, stride, padding="valid" if stride > 1 else "same",
               dilation=dilation, depthwise=True, use_bias=style.bias_before_bn,
               name=f"{name}_depthwise")(x)
    x = batch_norm(x, name=f"{name}_depthwise_BN", style=style)
    x = P.Act(activation, name=act_name(f"{name}_depthwise", activation))(x)
    if se_ratio:
        x = squeeze_excite(x, se_ratio, name=name)
    x = P.Conv(filters, 1, use_bias=style.bias_before_bn, name=f"{name}_project")(x)
    x = batch_norm(x, name=f"{name}_project_BN", style=style, zero_init=zero_init)
    if linear:
        return x
    return P.Act(activation, name=act_name(f"{name}_project", activation))(x)


def inverted_residual_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
                            drop_rate=0.0, dilation=1, se_ratio=0.0, zero_init_residual=True,
                            expansion=6, kernel_size=3, activation="relu6"):
    """Inverted residual with a linear bottleneck (Sandler et al., 2018, MobileNetV2).

    1x1 expansion to ``expansion * C`` channels -> BN -> ReLU6, kxk depthwise -> BN ->
    ReLU6 (squeeze-and-excitation here when ``se_ratio`` > 0), 1x1 linear projection to
    ``filters`` -> BN, and the input added where the shapes match (stride 1, ``filters ==
    C``) unless ``shortcut="none"``; shapes that differ get no shortcut, as in the paper
    (``"A"`` and ``"B"`` behave alike). ``expansion=1`` has no expansion layer.
    Layers as keras.applications: ``{name}_expand``, ``{name}_expand_BN``,
    ``{name}_expand_relu``, then :func:`depthwise_separable_conv`'s, then ``{name}_add``.
    ``zero_init_residual``: where there is a sum, the projection BN's gamma starts at zero.
    """
    C.check_positive_int("expansion", expansion, "6 in MobileNetV2")
    residual = shortcut != "none" and stride == 1 and channels(x) == filters
    y = x
    if expansion != 1:
        y = P.Conv(expansion * channels(x), 1, use_bias=style.bias_before_bn,
                   name=f"{name}_expand")(y)
        y = batch_norm(y, name=f"{name}_expand_BN", style=style)
        y = P.Act(activation, name=act_name(f"{name}_expand", activation))(y)
    y = depthwise_separable_conv(y, filters, stride, name=name, style=style,
                                 kernel_size=kernel_size, dilation=dilation,
                                 activation=activation, linear=True, se_ratio=se_ratio,
                                 zero_init=zero_init_residual and residual)
    return merge_residual(y, x if residual else None, name=name, drop_rate=drop_rate, se_ratio=0.0,
                          activation=None)


@dataclasses.dataclass(frozen=True)
class PointwiseConvOptions:
    """Options of the ``"pointwise_conv"`` kind: the ``activation`` and its layer's name
    (``activation_name``; default ``{name}_relu``, ``{name}_act`` for other activations)."""

    activation: str = "relu6"
    activation_name: str | None = None

    def __post_init__(self):
        if not isinstance(self.activation, str):
            raise ValueError(f"activation must be an activation name such as 'relu6'; "
                             f"got {self.activation!r}")
        if self.activation_name is not None and not isinstance(self.activation_name, str):
            raise ValueError(f"activation_name must be a layer name such as 'out_relu' or "
                             f"None; got {self.activation_name!r}")


def pointwise_conv(x, filters, stride=1, *, name, style=DEFAULT_STYLE, activation="relu6",
                   activation_name=None):
    """1x1 convolution ``{name}`` -> BN ``{name}_bn`` -> activation: MobileNetV2's last
    layers (``Conv_1``, ``Conv_1_bn``, ``out_relu`` in keras.applications)."""
    x = P.Conv(filters, 1, stride, padding="valid", use_bias=style.bias_before_bn, name=name)(x)
    x = batch_norm(x, name=f"{name}_bn", style=style)
    return P.Act(activation, name=activation_name or act_name(name, activation))(x)

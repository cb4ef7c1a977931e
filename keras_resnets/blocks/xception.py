"""Xception blocks (Chollet, 2017).

Example::

    y = xception_block(x, 128, stride=2, name="block2", activate_first=False, convs=2)
"""

from __future__ import annotations

import dataclasses

from keras_resnets import primitives as P
from keras_resnets.blocks import common
from keras_resnets.blocks.common import (
    DEFAULT_STYLE,
    Style,
    batch_norm,
    max_pool,
)
from keras_resnets.blocks.residual import merge_residual

KERAS_XCEPTION_STYLE = Style(bn_epsilon=1e-3, bn_momentum=0.99)
"""keras.applications Xception: Keras's BatchNorm defaults (epsilon 1e-3, momentum 0.99)."""


def xception_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
                   drop_rate=0.0, dilation=1, se_ratio=0.0, zero_init_residual=True, convs=3,
                   activate_first=True, activation="relu"):
    """Xception block (Chollet, 2017): separable convolutions with a residual connection.

    ``convs`` times (activation -> 3x3 separable conv -> BN), the first activation
    skipped when ``activate_first=False`` (Xception's block2 follows a ReLU already);
    ``filters`` is an int or one width per separable conv (``(728, 1024)``). A strided
    block ends in a 3x3 max-pool (padded with ``-inf`` as PyTorch's when
    ``style.padding == "torch"``: :func:`~keras_resnets.blocks.common.max_pool`) and projects the shortcut with a strided 1x1 conv + BN
    (``{name}_0_conv``, ``{name}_0_bn``; option ``"A"`` zero-pads instead).
    Layers as keras.applications: ``{name}_sepconv{i}_act``, ``{name}_sepconv{i}``,
    ``{name}_sepconv{i}_bn``, ``{name}_pool``, ``{name}_add``. ``zero_init_residual``:
    the last BN's gamma starts at zero (where there is a shortcut).
    """
    widths = tuple(filters) if isinstance(filters, (tuple, list)) else (filters,) * convs
    identity = common.shortcut(x, widths[-1], stride, kind=shortcut, name=name, style=style)
    y = x
    for i, width in enumerate(widths, 1):
        if i > 1 or activate_first:
            y = P.Act(activation, name=f"{name}_sepconv{i}_act")(y)
        y = P.SeparableConv(width, 3, padding="same", dilation=dilation,
                            use_bias=style.bias_before_bn, name=f"{name}_sepconv{i}")(y)
        y = batch_norm(y, name=f"{name}_sepconv{i}_bn", style=style,
                       zero_init=zero_init_residual and identity is not None
                       and i == len(widths))
    if stride > 1:
        y = max_pool(y, 3, stride, name=f"{name}_pool", style=style)
    return merge_residual(y, identity, name=name, drop_rate=drop_rate, se_ratio=se_ratio,
                          activation=None, branch_first=True)


@dataclasses.dataclass(frozen=True)
class SeparableConvsOptions:
    """Options of the ``"separable_convs"`` kind: the activation after each BN."""

    activation: str = "relu"

    def __post_init__(self):
        if not isinstance(self.activation, str):
            raise ValueError(f"activation must be an activation name such as 'relu'; "
                             f"got {self.activation!r}")


def separable_convs(x, filters, stride=1, *, name, style=DEFAULT_STYLE, dilation=1,
                    activation="relu"):
    """3x3 separable conv -> BN -> activation once per width of ``filters`` (an int or a
    tuple), without a shortcut: Xception's exit flow (``block14_sepconv1`` ... ``_act``).
    Only the first convolution strides."""
    for i, width in enumerate(filters if isinstance(filters, (tuple, list)) else (filters,), 1):
        x = P.SeparableConv(width, 3, stride if i == 1 else 1, padding="same", dilation=dilation,
                            use_bias=style.bias_before_bn, name=f"{name}_sepconv{i}")(x)
        x = batch_norm(x, name=f"{name}_sepconv{i}_bn", style=style)
        x = P.Act(activation, name=f"{name}_sepconv{i}_act")(x)
    return x

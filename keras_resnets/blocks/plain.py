"""Plain one-step block kinds: conv -> BN -> activation, and pooling.

A stage of these lets a network keep layers that are neither a stem nor a residual block
in its table, so the engine sees their strides (InceptionV3's ``conv2d_3b``,
``conv2d_4a`` and ``maxpool_5a``: the last 1/4 map is ``conv2d_4a``'s, the C2 output).

Example::

    Stage(1, 192, 1, kind="conv_bn_act", options=ConvBNActOptions(3, "valid"),
          name="conv2d_4a")
    Stage(1, None, 2, kind="pool", options=PoolOptions("max", 3), name="maxpool_5a")
"""

from __future__ import annotations

import dataclasses

from keras_resnets import _checks as C
from keras_resnets import primitives as P
from keras_resnets.blocks.common import DEFAULT_STYLE, conv_bn_act

PADDINGS = ("same", "valid")


def _check_kernel(kernel_size):
    sizes = kernel_size if isinstance(kernel_size, tuple) and len(kernel_size) == 2 \
        else (kernel_size,)
    if not all(C.is_int(k) and k >= 1 for k in sizes):
        raise ValueError(f"kernel_size must be a positive integer or a (rows, cols) pair, "
                         f"e.g. 3 or (1, 7); got {kernel_size!r}")


@dataclasses.dataclass(frozen=True)
class ConvBNActOptions:
    """Options of the ``"conv_bn_act"`` kind: ``kernel_size`` (an int or ``(rows, cols)``),
    ``padding`` (``"same"`` or ``"valid"``) and the ``activation``."""

    kernel_size: int | tuple = 3
    padding: str = "same"
    activation: str = "relu"

    def __post_init__(self):
        _check_kernel(self.kernel_size)
        C.check_choice("padding", self.padding, PADDINGS)
        if not isinstance(self.activation, str):
            raise ValueError(f"activation must be an activation name such as 'relu'; "
                             f"got {self.activation!r}")


@dataclasses.dataclass(frozen=True)
class PoolOptions:
    """Options of the ``"pool"`` kind: ``"max"`` or ``"avg"`` pooling of ``size`` with
    ``padding`` (the stride is the stage's)."""

    pool: str = "max"
    size: int = 3
    padding: str = "valid"

    def __post_init__(self):
        C.check_choice("pool", self.pool, ("avg", "max"))
        C.check_positive_int("size", self.size, "2, 3")
        C.check_choice("padding", self.padding, PADDINGS)


def conv_bn_act_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, dilation=1,
                      kernel_size=3, padding="same", activation="relu"):
    """The ``"conv_bn_act"`` kind: :func:`~keras_resnets.blocks.conv_bn_act` (layers
    ``{name}_conv``, ``{name}_bn``, ``{name}_relu``)."""
    return conv_bn_act(x, filters, kernel_size, stride, name=name, style=style,
                       activation=activation, padding=padding, dilation=dilation)


def pool_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, pool="max", size=3,
               padding="valid"):
    """The ``"pool"`` kind: one pooling layer named ``name``; ``filters`` is ignored."""
    return P.Pool(pool, size, stride, padding=padding, name=name)(x)

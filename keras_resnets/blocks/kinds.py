"""Block kinds: what the engine calls for each block of a stage, with typed options.

Every kind is called as ``build(x, filters, *, name, style, **options)``, with those of
``stride``, ``dilation`` and ``drop_rate`` it takes, and returns the block's output (or ``(output, feature)`` when the map that
goes on differs from the one a feature pyramid or a multi-scale head should see). The
options are a frozen dataclass per kind, checked when it is made, so a spec never holds
an option its blocks do not take.

Example::

    kind = BLOCK_KINDS["bottleneck"]
    options = kind.options(groups=32, base_width=4, stride_in="3x3")   # ResNeXt 32x4d
    y = kind.build(x, 64, stride=1, name="b1", style=DEFAULT_STYLE, dilation=1,
                   drop_rate=0.0, **vars(options))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from keras_resnets import _checks as C
from keras_resnets.blocks.dense import (
    CliqueOptions,
    DenseLayerOptions,
    TransitionOptions,
    clique_block,
    dense_layer,
    final_bn_relu,
    transition,
)
from keras_resnets.blocks.inception import InceptionOptions, inception_block
from keras_resnets.blocks.mobile import (
    PointwiseConvOptions,
    inverted_residual_block,
    pointwise_conv,
)
from keras_resnets.blocks.plain import (
    ConvBNActOptions,
    PoolOptions,
    conv_bn_act_block,
    pool_block,
)
from keras_resnets.blocks.residual import (
    basic_block,
    bottleneck_block,
    preact_block,
    preact_bottleneck_block,
)
from keras_resnets.blocks.xception import SeparableConvsOptions, separable_convs, xception_block

STRIDE_PLACES = ("1x1", "3x3")


@dataclasses.dataclass(frozen=True)
class BlockKind:
    """A block the engine can stack: ``drop_path`` (it has a residual branch that
    stochastic depth can drop) and ``dilates`` (it can trade its stride for dilation).

    ``build(x, filters, *, name, style, **options)`` also takes those of ``stride``,
    ``dilation`` and ``drop_rate`` it names; the engine refuses a stage that asks a kind
    for a stride or dilation it cannot apply."""

    name: str
    build: Callable
    options: type | None = None
    drop_path: bool = True
    dilates: bool = True
    stride: int | None = None  # the stride the kind always applies (None: the stage's)


@dataclasses.dataclass(frozen=True)
class ResidualOptions:
    """Options of every residual block: the shortcut (``"A"`` zero-padding, ``"B"``
    projection, ``"none"`` for a plain net), squeeze-and-excitation (``se_ratio`` in
    [0, 1], 0 for none) and ``zero_init_residual`` (the branch starts as zero, so the block
    starts as the identity; see :mod:`keras_resnets.blocks.residual`)."""

    shortcut: str = "B"
    se_ratio: float = 0.0
    zero_init_residual: bool = True

    def __post_init__(self):
        C.check_bool("zero_init_residual", self.zero_init_residual)
        if not C.is_number(self.se_ratio) or not 0 <= self.se_ratio <= 1:
            raise ValueError(f"se_ratio must be a number in [0, 1] (e.g. 0.25; 0 for no "
                             f"squeeze-and-excitation); got {self.se_ratio!r}")


@dataclasses.dataclass(frozen=True)
class BottleneckOptions(ResidualOptions):
    """``expansion`` of the last 1x1, ``groups`` (ResNeXt's cardinality), ``base_width``
    (128: the wide ResNets' doubled bottleneck) and the stride's place (``"1x1"``:
    keras.applications; ``"3x3"``: ResNet v1.5, ResNeXt)."""

    expansion: int = 4
    groups: int = 1
    base_width: int = 64
    stride_in: str = "1x1"

    def __post_init__(self):
        super().__post_init__()
        C.check_positive_int("expansion", self.expansion, "4")
        C.check_positive_int("groups", self.groups, "1, 32")
        C.check_positive_int("base_width", self.base_width, "4, 64, 128")
        C.check_choice("stride_in", self.stride_in, STRIDE_PLACES)


@dataclasses.dataclass(frozen=True)
class PreactOptions(ResidualOptions):
    """``kernels``: the convolutions of the block (``(3, 3)``, WRN's ``(1, 3, 1)``...);
    ``dropout_rate`` between them (WRN)."""

    kernels: tuple = (3, 3)
    dropout_rate: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.kernels, tuple) or not self.kernels \
                or not all(C.is_int(k) and k >= 1 for k in self.kernels):
            raise ValueError(f"kernels must be a tuple of kernel sizes such as (3, 3) or "
                             f"(1, 3, 1); got {self.kernels!r}")
        C.check_rate("dropout_rate", self.dropout_rate)


@dataclasses.dataclass(frozen=True)
class PreactBottleneckOptions(ResidualOptions):
    expansion: int = 4
    groups: int = 1
    base_width: int = 64

    def __post_init__(self):
        super().__post_init__()
        C.check_positive_int("expansion", self.expansion, "4")
        C.check_positive_int("groups", self.groups, "1, 32")
        C.check_positive_int("base_width", self.base_width, "4, 64")


@dataclasses.dataclass(frozen=True)
class InvertedResidualOptions(ResidualOptions):
    expansion: int = 6
    kernel_size: int = 3
    activation: str = "relu6"

    def __post_init__(self):
        super().__post_init__()
        C.check_positive_int("expansion", self.expansion, "1, 6")
        C.check_positive_int("kernel_size", self.kernel_size, "3, 5")


@dataclasses.dataclass(frozen=True)
class XceptionOptions(ResidualOptions):
    convs: int = 3
    activate_first: bool = True
    activation: str = "relu"

    def __post_init__(self):
        super().__post_init__()
        C.check_positive_int("convs", self.convs, "2, 3")
        C.check_bool("activate_first", self.activate_first)


BLOCK_KINDS = {kind.name: kind for kind in (
    BlockKind("basic", basic_block, ResidualOptions),
    BlockKind("bottleneck", bottleneck_block, BottleneckOptions),
    BlockKind("preact", preact_block, PreactOptions),
    BlockKind("preact_bottleneck", preact_bottleneck_block, PreactBottleneckOptions),
    BlockKind("inverted_residual", inverted_residual_block, InvertedResidualOptions),
    BlockKind("xception", xception_block, XceptionOptions),
    BlockKind("dense_layer", dense_layer, DenseLayerOptions, drop_path=False),
    BlockKind("transition", transition, TransitionOptions, drop_path=False, dilates=False,
              stride=2),
    BlockKind("clique", clique_block, CliqueOptions, drop_path=False, dilates=False),
    BlockKind("final_bn_relu", final_bn_relu, None, drop_path=False),
    BlockKind("conv_bn_act", conv_bn_act_block, ConvBNActOptions, drop_path=False),
    BlockKind("pool", pool_block, PoolOptions, drop_path=False, dilates=False),
    BlockKind("pointwise_conv", pointwise_conv, PointwiseConvOptions, drop_path=False),
    BlockKind("separable_convs", separable_convs, SeparableConvsOptions, drop_path=False),
    BlockKind("inception", inception_block, InceptionOptions, drop_path=False, dilates=False),
)}
"""The engine's block kinds by name; families add their own :class:`BlockKind` objects
to a stage directly."""

RESIDUAL_BLOCKS = {name: kind.build for name, kind in BLOCK_KINDS.items() if kind.drop_path}
"""The residual block functions by name (a ResNet's ``block=`` choices)."""

"""Building blocks: tensor in, tensor out, every layer named.

Each function takes a Keras tensor (or a counting :class:`~keras_resnets.primitives.Probe`)
and returns the block's output, so the same code builds a model and counts it. One module
per block family, each with its keras.applications style beside it:

- :mod:`~keras_resnets.blocks.common`: :class:`Style`, conv/BN/activation helpers, shortcut;
- :mod:`~keras_resnets.blocks.se`: squeeze-and-excitation;
- :mod:`~keras_resnets.blocks.residual`: ResNet v1 and pre-activation blocks;
- :mod:`~keras_resnets.blocks.inception`: inception modules, factorized convolutions;
- :mod:`~keras_resnets.blocks.mobile`: depthwise-separable convs, inverted residuals;
- :mod:`~keras_resnets.blocks.xception`: Xception blocks;
- :mod:`~keras_resnets.blocks.pyramid`: atrous spatial pyramid pooling;
- :mod:`~keras_resnets.blocks.dense`: DenseNet and CliqueNet blocks.

Every public name is re-exported here. The residual blocks share one signature, which
lets the engine use any of them (:data:`BLOCK_KINDS`, with typed options per kind;
:mod:`~keras_resnets.blocks.kinds`), or a user's own, as a stage block; stems are in
:mod:`~keras_resnets.blocks.stems`::

    block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
          drop_rate=0.0, dilation=1, se_ratio=0.0, **block_options)

Example::

    from keras_resnets import blocks as B

    inputs = keras.Input((32, 32, 16))
    x = B.basic_block(inputs, 32, stride=2, name="my_block")   # (None, 16, 16, 32)
"""

from __future__ import annotations

from keras_resnets.blocks.common import (
    DEFAULT_STYLE,
    SHORTCUTS,
    Style,
    act_name,
    batch_norm,
    bn_relu,
    channels,
    conv,
    conv_bn,
    conv_bn_act,
    correct_pad,
    max_pool,
    shortcut,
    spatial,
)
from keras_resnets.blocks.dense import (
    KERAS_DENSENET_STYLE,
    CliqueOptions,
    clique_block,
    dense_block,
    dense_layer,
    transition,
)
from keras_resnets.blocks.inception import (
    FACTORIZED_ORDERS,
    KERAS_INCEPTION_STYLE,
    POOL_KINDS,
    factorized_conv,
    inception_block,
)
from keras_resnets.blocks.kinds import (  # noqa: E402  (kinds read the modules above)
    BLOCK_KINDS,
    RESIDUAL_BLOCKS,
    BlockKind,
    BottleneckOptions,
    DenseLayerOptions,
    InvertedResidualOptions,
    PreactBottleneckOptions,
    PreactOptions,
    ResidualOptions,
    TransitionOptions,
    XceptionOptions,
)
from keras_resnets.blocks.mobile import (
    KERAS_MOBILENET_STYLE,
    depthwise_separable_conv,
    inverted_residual_block,
)
from keras_resnets.blocks.pyramid import aspp
from keras_resnets.blocks.residual import (
    KERAS_V1_STYLE,
    KERAS_V2_STYLE,
    basic_block,
    bottleneck_block,
    bottleneck_width,
    merge_residual,
    preact_block,
    preact_bottleneck_block,
)
from keras_resnets.blocks.se import squeeze_excite
from keras_resnets.blocks.stems import STEMS, StemKind  # noqa: E402
from keras_resnets.blocks.xception import KERAS_XCEPTION_STYLE, xception_block

__all__ = [
    "CliqueOptions",
    "BLOCK_KINDS",
    "BlockKind",
    "BottleneckOptions",
    "DenseLayerOptions",
    "InvertedResidualOptions",
    "PreactBottleneckOptions",
    "PreactOptions",
    "ResidualOptions",
    "STEMS",
    "StemKind",
    "TransitionOptions",
    "XceptionOptions",
    "DEFAULT_STYLE",
    "FACTORIZED_ORDERS",
    "KERAS_DENSENET_STYLE",
    "KERAS_INCEPTION_STYLE",
    "KERAS_MOBILENET_STYLE",
    "KERAS_V1_STYLE",
    "KERAS_V2_STYLE",
    "KERAS_XCEPTION_STYLE",
    "POOL_KINDS",
    "RESIDUAL_BLOCKS",
    "SHORTCUTS",
    "Style",
    "act_name",
    "aspp",
    "basic_block",
    "batch_norm",
    "bn_relu",
    "bottleneck_block",
    "bottleneck_width",
    "channels",
    "clique_block",
    "conv",
    "conv_bn",
    "conv_bn_act",
    "correct_pad",
    "dense_block",
    "dense_layer",
    "depthwise_separable_conv",
    "factorized_conv",
    "inception_block",
    "inverted_residual_block",
    "max_pool",
    "merge_residual",
    "preact_block",
    "preact_bottleneck_block",
    "shortcut",
    "spatial",
    "squeeze_excite",
    "transition",
    "xception_block",
]

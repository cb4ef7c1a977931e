"""Stems: the layers before a network's first stage, by kind.

A stem is called as ``build(x, stem, *, style)`` with a :class:`keras_resnets.engine.Stem`
(kind, filters, batch_norm, pool_name); ``reduction`` is how much it shrinks its input,
from which the engine names the stage outputs.

Example::

    STEMS["imagenet"].build(x, Stem("imagenet", 64), style=DEFAULT_STYLE)  # 1/4 the size
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from keras_resnets import primitives as P
from keras_resnets.blocks.common import batch_norm, conv, conv_bn_act, max_pool


@dataclasses.dataclass(frozen=True)
class StemKind:
    build: Callable
    reduction: int


def _conv_bn_relu(x, stem, kernel, stride, style):
    x = conv(x, stem.filters, kernel, stride, name="conv1", style=style,
             bn_follows=stem.batch_norm)
    if stem.batch_norm:
        x = batch_norm(x, name="conv1_bn", style=style)
        x = P.Act("relu", name="conv1_relu")(x)
    return x


def imagenet_stem(x, stem, *, style):
    """7x7/2 convolution (-> BN -> ReLU) -> 3x3/2 max-pool (He et al., 2015), after a
    ``pool1_pad`` of zeros (keras.applications) or, with ``style.padding == "torch"``, of
    ``-inf`` (PyTorch's ``MaxPool2d(3, 2, 1)``; they differ where the stem has no ReLU)."""
    x = _conv_bn_relu(x, stem, 7, 2, style)
    if style.padding == "torch":
        return max_pool(x, 3, 2, name=stem.pool_name, style=style, pad_name="pool1_pad")
    x = P.ZeroPad(1, name="pool1_pad")(x)
    return P.Pool("max", 3, 2, name=stem.pool_name)(x)


def cifar_stem(x, stem, *, style):
    """One 3x3 convolution (-> BN -> ReLU) at full resolution (the CIFAR networks)."""
    return _conv_bn_relu(x, stem, 3, 1, style)


def mobilenet_stem(x, stem, *, style):
    """3x3/2 convolution ``Conv1`` -> BN ``bn_Conv1`` -> ReLU6 ``Conv1_relu``
    (keras.applications MobileNetV2; with ``style.padding == "torch"`` a symmetric
    ``Conv1_pad`` first, as PyTorch's)."""
    padding = "same"
    if style.padding == "torch":
        x, padding = P.ZeroPad(1, name="Conv1_pad")(x), "valid"
    x = P.Conv(stem.filters, 3, 2, padding=padding, use_bias=style.bias_before_bn,
               name="Conv1")(x)
    x = batch_norm(x, name="bn_Conv1", style=style)
    return P.Act("relu6", name="Conv1_relu")(x)


def xception_stem(x, stem, *, style):
    """Two 3x3 'valid' convolutions, the first strided, each -> BN -> ReLU: ``block1_conv1``
    and ``block1_conv2`` (``filters``: their two widths, 32 and 64 in Xception)."""
    for i, filters in enumerate(stem.filters, 1):
        x = P.Conv(filters, 3, 2 if i == 1 else 1, padding="valid",
                   use_bias=style.bias_before_bn, name=f"block1_conv{i}")(x)
        x = batch_norm(x, name=f"block1_conv{i}_bn", style=style)
        x = P.Act("relu", name=f"block1_conv{i}_act")(x)
    return x


INCEPTION_STEM = (("conv2d_1a", 2, "valid"), ("conv2d_2a", 1, "valid"), ("conv2d_2b", 1, "same"))


def inception_stem(x, stem, *, style):
    """InceptionV3's first layers (TF-slim names): 3x3 convs ``conv2d_1a`` (stride 2,
    'valid'), ``conv2d_2a`` ('valid') and ``conv2d_2b`` ('same'), each -> BN -> ReLU,
    widths ``filters`` (32, 32, 64), then the 3x3/2 max-pool ``pool_name``
    (``maxpool_3a``). The rest of its stem is a stage of plain kinds."""
    for (name, stride, padding), filters in zip(INCEPTION_STEM, stem.filters, strict=True):
        x = conv_bn_act(x, filters, 3, stride, padding=padding, name=name, style=style)
    return P.Pool("max", 3, 2, name=stem.pool_name)(x)


STEMS = {
    "imagenet": StemKind(imagenet_stem, 4),
    "cifar": StemKind(cifar_stem, 1),
    "mobilenet": StemKind(mobilenet_stem, 2),
    "xception": StemKind(xception_stem, 2),
    "inception": StemKind(inception_stem, 4),
}

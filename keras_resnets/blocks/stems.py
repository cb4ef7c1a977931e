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
from keras_resnets.blocks.common import batch_norm, conv


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
    """7x7/2 convolution (-> BN -> ReLU) -> 3x3/2 max-pool (He et al., 2015)."""
    x = _conv_bn_relu(x, stem, 7, 2, style)
    x = P.ZeroPad(1, name="pool1_pad")(x)
    return P.Pool("max", 3, 2, name=stem.pool_name)(x)


def cifar_stem(x, stem, *, style):
    """One 3x3 convolution (-> BN -> ReLU) at full resolution (the CIFAR networks)."""
    return _conv_bn_relu(x, stem, 3, 1, style)


STEMS = {
    "imagenet": StemKind(imagenet_stem, 4),
    "cifar": StemKind(cifar_stem, 1),
}

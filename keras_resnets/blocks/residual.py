"""ResNet blocks: v1 basic and bottleneck, pre-activation, and the residual merge the
other residual families share.

The residual blocks share one signature, which lets the residual engine use any
of them, or a user's own, as a stage block::

    block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
          drop_rate=0.0, dilation=1, se_ratio=0.0, zero_init_residual=True, **block_options)

``zero_init_residual``: each residual branch starts as zero, so every block starts as
the identity (Goyal et al. 2017, "Accurate, Large Minibatch SGD", Sec. 5.1; timm's
``zero_init_last``): the branch's last BatchNorm starts with gamma = 0, or its last
convolution with a zero kernel where no BatchNorm follows it (pre-activation blocks).
Without it a fresh 1000-layer network's activations grow with every residual sum until
they overflow. A plain block (``shortcut="none"``) keeps the usual initialisation, and so
does a v1 block whose option-A shortcut pads new channels with zeros (only its branch can
fill them; zeroed, ResNet-20 stayed at chance on digits).
"""

from __future__ import annotations

from keras_resnets import primitives as P
from keras_resnets.blocks import common
from keras_resnets.blocks.common import (
    DEFAULT_STYLE,
    Style,
    bn_relu,
    channels,
    conv,
    conv_bn,
)
from keras_resnets.blocks.se import squeeze_excite

KERAS_V1_STYLE = Style(True, True, 1.001e-5, 0.99)
KERAS_V2_STYLE = Style(False, True, 1.001e-5, 0.99, explicit_padding=True)


def merge_residual(branch, identity, *, name, drop_rate, se_ratio, activation, out_name="add",
                   branch_first=False):
    """SE and stochastic depth on the branch, then the residual sum (and activation);
    ``branch_first`` orders the sum's inputs as Xception does (it fixes the layer order)."""
    if se_ratio:
        branch = squeeze_excite(branch, se_ratio, name=name)
    if identity is None:
        out = branch
    else:
        if drop_rate:
            branch = P.StochasticDepth(drop_rate, name=f"{name}_drop")(branch)
        out = P.Add(name=f"{name}_{out_name}")(
            [branch, identity] if branch_first else [identity, branch])
    return P.Act(activation, name=f"{name}_out")(out) if activation else out


def basic_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
                drop_rate=0.0, dilation=1, se_ratio=0.0, zero_init_residual=True):
    """ResNet v1 basic block (He et al., 2015): 3x3 -> BN -> ReLU -> 3x3 -> BN, add, ReLU."""
    identity = common.shortcut(x, filters, stride, kind=shortcut, name=name, style=style)
    y = conv_bn(x, filters, 3, stride, name=f"{name}_1", style=style, dilation=dilation)
    y = conv_bn(y, filters, 3, name=f"{name}_2", style=style, activation=None, dilation=dilation,
                zero_init=zero_init_residual and _carries_every_channel(x, filters, shortcut,
                                                                        identity))
    return merge_residual(y, identity, name=name, drop_rate=drop_rate, se_ratio=se_ratio,
                          activation="relu")


def bottleneck_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
                     drop_rate=0.0, dilation=1, se_ratio=0.0, zero_init_residual=True,
                     expansion=4, groups=1, base_width=64, stride_in="1x1"):
    """ResNet v1 bottleneck: 1x1 reduce -> 3x3 -> 1x1 expand to ``filters * expansion``.

    The 3x3 has ``groups`` groups (ResNeXt's cardinality) and
    ``filters * base_width // 64 * groups`` channels, so ``base_width=128`` gives the
    wide ResNets' doubled bottleneck; ``stride_in`` is ``"1x1"`` (paper,
    keras.applications) or ``"3x3"`` (ResNet v1.5, ResNeXt, wide ResNets).
    """
    width = bottleneck_width(filters, base_width, groups)
    out = filters * expansion
    identity = common.shortcut(x, out, stride, kind=shortcut, name=name, style=style)
    first, second = (stride, 1) if stride_in == "1x1" else (1, stride)
    y = conv_bn(x, width, 1, first, name=f"{name}_1", style=style)
    y = conv_bn(y, width, 3, second, name=f"{name}_2", style=style, groups=groups,
                dilation=dilation)
    y = conv_bn(y, out, 1, name=f"{name}_3", style=style, activation=None,
                zero_init=zero_init_residual and _carries_every_channel(x, out, shortcut,
                                                                        identity))
    return merge_residual(y, identity, name=name, drop_rate=drop_rate, se_ratio=se_ratio,
                          activation="relu")


def preact_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
                 drop_rate=0.0, dilation=1, se_ratio=0.0, zero_init_residual=True,
                 kernels=(3, 3), dropout_rate=0.0):
    """Pre-activation block (He et al., 2016; Zagoruyko & Komodakis, 2016).

    ``(BN -> ReLU -> conv k)`` for each ``k`` in ``kernels``, dropout between the
    convolutions, the stride on the first one. ``kernels=(3, 3)`` is the basic
    pre-activation block and WRN's B(3,3); ``(1, 3, 1)`` is WRN's B(1,3,1), and so on.
    A projection shortcut takes the pre-activated input, as in the papers.
    """
    preact = bn_relu(x, name=f"{name}_preact", style=style)
    projects = channels(x) != filters and shortcut != "A"
    identity = common.shortcut(preact if projects else x, filters, stride, kind=shortcut, name=name,
                               style=style, with_bn=False)
    y = preact
    for i, kernel in enumerate(kernels):
        if i:
            y = bn_relu(y, name=f"{name}_{i}", style=style)
            if dropout_rate:
                y = P.Dropout(dropout_rate, name=f"{name}_{i}_dropout")(y)
        last = i + 1 == len(kernels)
        y = conv(y, filters, kernel, stride if i == 0 else 1, name=f"{name}_{i + 1}",
                 style=style, bn_follows=not last, dilation=dilation,
                 zero_init=last and zero_init_residual and identity is not None)
    return merge_residual(y, identity, name=name, drop_rate=drop_rate, se_ratio=se_ratio,
                          activation=None, out_name="out")


def preact_bottleneck_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
                            drop_rate=0.0, dilation=1, se_ratio=0.0, zero_init_residual=True,
                            expansion=4, groups=1, base_width=64):
    """Pre-activation bottleneck (He et al., 2016; keras.applications ResNetV2 layout):
    BN -> ReLU -> 1x1 -> BN -> ReLU -> 3x3 (stride) -> BN -> ReLU -> 1x1 expand."""
    width = bottleneck_width(filters, base_width, groups)
    out = filters * expansion
    preact = bn_relu(x, name=f"{name}_preact", style=style)
    projects = channels(x) != out and shortcut != "A"
    identity = common.shortcut(preact if projects else x, out, stride, kind=shortcut, name=name,
                               style=style, with_bn=False)
    y = conv_bn(preact, width, 1, name=f"{name}_1", style=style)
    y = conv_bn(y, width, 3, stride, name=f"{name}_2", style=style, groups=groups,
                dilation=dilation)
    y = conv(y, out, 1, name=f"{name}_3", style=style, bn_follows=False,
             zero_init=zero_init_residual and identity is not None)
    return merge_residual(y, identity, name=name, drop_rate=drop_rate, se_ratio=se_ratio,
                          activation=None, out_name="out")


def _carries_every_channel(x, out_channels, shortcut, identity):
    """Whether a v1 block's shortcut carries a signal on every output channel, so its branch
    may start as zero. Option A's zero-padded channels get theirs only from the branch; a
    zero BatchNorm gamma there learns too slowly (its gradient, the upstream gradient times
    the normalized activations, nearly cancels): ResNet-20 stayed at chance on digits."""
    return identity is not None and not (shortcut == "A" and channels(x) != out_channels)


def bottleneck_width(filters, base_width=64, groups=1):
    """Width of a bottleneck's 3x3 (torchvision's rule): ``filters * base_width // 64 * groups``."""
    return int(filters * base_width / 64) * groups

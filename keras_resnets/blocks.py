"""Building blocks: tensor in, tensor out, every layer named.

Each function takes a Keras tensor (or a counting :class:`~keras_resnets.primitives.Probe`)
and returns the block's output, so the same code builds a model and counts it.
The residual blocks share one signature, which lets the residual engine use any
of them, or a user's own, as a stage block::

    block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
          drop_rate=0.0, dilation=1, se_ratio=0.0, **block_options)

Example::

    inputs = keras.Input((32, 32, 16))
    x = basic_block(inputs, 32, stride=2, name="my_block")   # (None, 16, 16, 32)
"""

from __future__ import annotations

import dataclasses

from keras_resnets import primitives as P


@dataclasses.dataclass(frozen=True)
class Style:
    """Conventions a network follows: conv biases and BatchNorm settings.

    ``bias_before_bn``: biases on convolutions followed by BatchNorm (keras.applications
    ResNet v1 has them); ``bias_elsewhere``: on convolutions not followed by BatchNorm;
    ``explicit_padding``: pad 3x3 convolutions with a ZeroPadding2D layer even at stride 1.
    BatchNorm ``momentum`` follows Keras's convention (0.9 = PyTorch's 0.1).
    """

    bias_before_bn: bool = False
    bias_elsewhere: bool = False
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9
    explicit_padding: bool = False


DEFAULT_STYLE = Style()
KERAS_V1_STYLE = Style(True, True, 1.001e-5, 0.99)
KERAS_V2_STYLE = Style(False, True, 1.001e-5, 0.99, explicit_padding=True)

SHORTCUTS = ("A", "B", "none")


def channels(x) -> int:
    """Channel count of a Keras tensor or probe (channels last)."""
    return x.shape[-1]


def conv(x, filters, kernel_size, stride=1, *, name, style=DEFAULT_STYLE, bn_follows=True,
         groups=1, dilation=1):
    """A convolution named ``{name}_conv``; strided (or explicitly styled) kxk convs get a
    symmetric ``{name}_pad`` ZeroPadding2D first, as in the reference implementations."""
    use_bias = style.bias_before_bn if bn_follows else style.bias_elsewhere
    if channels(x) % groups or filters % groups:
        raise ValueError(f"{name}: groups={groups} must divide the input channels "
                         f"({channels(x)}) and the output channels ({filters})")
    pad = dilation * (kernel_size - 1) // 2
    if kernel_size > 1 and (stride > 1 or style.explicit_padding):
        x = P.ZeroPad(pad, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return P.Conv(filters, kernel_size, stride, padding=padding, groups=groups,
                  dilation=dilation, use_bias=use_bias, name=f"{name}_conv")(x)


def batch_norm(x, *, name, style=DEFAULT_STYLE):
    return P.BatchNorm(epsilon=style.bn_epsilon, momentum=style.bn_momentum, name=name)(x)


def conv_bn(x, filters, kernel_size, stride=1, *, name, style=DEFAULT_STYLE, activation="relu",
            groups=1, dilation=1):
    """Conv -> BN (-> activation): layers ``{name}_conv``, ``{name}_bn``, ``{name}_relu``."""
    x = conv(x, filters, kernel_size, stride, name=name, style=style, groups=groups,
             dilation=dilation)
    x = batch_norm(x, name=f"{name}_bn", style=style)
    if activation:
        x = P.Act(activation, name=f"{name}_{'relu' if activation == 'relu' else 'act'}")(x)
    return x


def bn_relu(x, *, name, style=DEFAULT_STYLE):
    """Pre-activation: BN -> ReLU, layers ``{name}_bn`` and ``{name}_relu``."""
    x = batch_norm(x, name=f"{name}_bn", style=style)
    return P.Act("relu", name=f"{name}_relu")(x)


def squeeze_excite(x, se_ratio, *, name):
    """Squeeze-and-excitation (Hu et al., 2018): channel weights from global context."""
    c = channels(x)
    s = P.GlobalPool("avg", keepdims=True, name=f"{name}_se_pool")(x)
    s = P.Conv(max(1, int(c * se_ratio)), 1, activation="relu", use_bias=True,
               name=f"{name}_se_reduce")(s)
    s = P.Conv(c, 1, activation="sigmoid", use_bias=True, name=f"{name}_se_expand")(s)
    return P.Multiply(name=f"{name}_se_scale")([x, s])


def shortcut(x, out_channels, stride, *, kind="B", name, style=DEFAULT_STYLE, with_bn=True):
    """The identity path of a residual block; ``None`` when ``kind="none"`` (a plain net).

    Channels unchanged: identity, or a 1x1 max-pool subsampling when ``stride > 1``.
    Channels changed: option ``"A"`` zero-pads them, option ``"B"`` projects with a
    1x1 convolution (``{name}_0_conv``, plus ``{name}_0_bn`` when ``with_bn``).
    """
    if kind == "none":
        return None
    if channels(x) == out_channels:
        return x if stride == 1 else P.Pool("max", 1, stride, name=f"{name}_0_pool")(x)
    if kind == "A":
        return P.ChannelPadShortcut(out_channels, stride, name=f"{name}_0_pad")(x)
    x = P.Conv(out_channels, 1, stride, use_bias=style.bias_before_bn if with_bn
               else style.bias_elsewhere, name=f"{name}_0_conv")(x)
    return batch_norm(x, name=f"{name}_0_bn", style=style) if with_bn else x


def _merge(branch, identity, *, name, drop_rate, se_ratio, activation, out_name="add"):
    """SE and stochastic depth on the branch, then the residual sum (and activation)."""
    if se_ratio:
        branch = squeeze_excite(branch, se_ratio, name=name)
    if identity is None:
        out = branch
    else:
        if drop_rate:
            branch = P.StochasticDepth(drop_rate, name=f"{name}_drop")(branch)
        out = P.Add(name=f"{name}_{out_name}")([identity, branch])
    return P.Act(activation, name=f"{name}_out")(out) if activation else out


def basic_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
                drop_rate=0.0, dilation=1, se_ratio=0.0):
    """ResNet v1 basic block (He et al., 2015): 3x3 -> BN -> ReLU -> 3x3 -> BN, add, ReLU."""
    identity = _shortcut(x, filters, stride, shortcut, name, style)
    y = conv_bn(x, filters, 3, stride, name=f"{name}_1", style=style, dilation=dilation)
    y = conv_bn(y, filters, 3, name=f"{name}_2", style=style, activation=None, dilation=dilation)
    return _merge(y, identity, name=name, drop_rate=drop_rate, se_ratio=se_ratio,
                  activation="relu")


def bottleneck_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
                     drop_rate=0.0, dilation=1, se_ratio=0.0, expansion=4, groups=1,
                     base_width=64, stride_in="1x1"):
    """ResNet v1 bottleneck: 1x1 reduce -> 3x3 -> 1x1 expand to ``filters * expansion``.

    The 3x3 has ``groups`` groups (ResNeXt's cardinality) and
    ``filters * base_width // 64 * groups`` channels, so ``base_width=128`` gives the
    wide ResNets' doubled bottleneck; ``stride_in`` is ``"1x1"`` (paper,
    keras.applications) or ``"3x3"`` (ResNet v1.5, ResNeXt, wide ResNets).
    """
    width = bottleneck_width(filters, base_width, groups)
    out = filters * expansion
    identity = _shortcut(x, out, stride, shortcut, name, style)
    first, second = (stride, 1) if stride_in == "1x1" else (1, stride)
    y = conv_bn(x, width, 1, first, name=f"{name}_1", style=style)
    y = conv_bn(y, width, 3, second, name=f"{name}_2", style=style, groups=groups,
                dilation=dilation)
    y = conv_bn(y, out, 1, name=f"{name}_3", style=style, activation=None)
    return _merge(y, identity, name=name, drop_rate=drop_rate, se_ratio=se_ratio,
                  activation="relu")


def preact_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
                 drop_rate=0.0, dilation=1, se_ratio=0.0, kernels=(3, 3), dropout_rate=0.0):
    """Pre-activation block (He et al., 2016; Zagoruyko & Komodakis, 2016).

    ``(BN -> ReLU -> conv k)`` for each ``k`` in ``kernels``, dropout between the
    convolutions, the stride on the first one. ``kernels=(3, 3)`` is the basic
    pre-activation block and WRN's B(3,3); ``(1, 3, 1)`` is WRN's B(1,3,1), and so on.
    A projection shortcut takes the pre-activated input, as in the papers.
    """
    preact = bn_relu(x, name=f"{name}_preact", style=style)
    projects = channels(x) != filters and shortcut != "A"
    identity = _shortcut(preact if projects else x, filters, stride, shortcut, name, style,
                         with_bn=False)
    y = preact
    for i, kernel in enumerate(kernels):
        if i:
            y = bn_relu(y, name=f"{name}_{i}", style=style)
            if dropout_rate:
                y = P.Dropout(dropout_rate, name=f"{name}_{i}_dropout")(y)
        y = conv(y, filters, kernel, stride if i == 0 else 1, name=f"{name}_{i + 1}",
                 style=style, bn_follows=i + 1 < len(kernels), dilation=dilation)
    return _merge(y, identity, name=name, drop_rate=drop_rate, se_ratio=se_ratio,
                  activation=None, out_name="out")


def preact_bottleneck_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
                            drop_rate=0.0, dilation=1, se_ratio=0.0, expansion=4, groups=1,
                            base_width=64):
    """Pre-activation bottleneck (He et al., 2016; keras.applications ResNetV2 layout):
    BN -> ReLU -> 1x1 -> BN -> ReLU -> 3x3 (stride) -> BN -> ReLU -> 1x1 expand."""
    width = bottleneck_width(filters, base_width, groups)
    out = filters * expansion
    preact = bn_relu(x, name=f"{name}_preact", style=style)
    projects = channels(x) != out and shortcut != "A"
    identity = _shortcut(preact if projects else x, out, stride, shortcut, name, style,
                         with_bn=False)
    y = conv_bn(preact, width, 1, name=f"{name}_1", style=style)
    y = conv_bn(y, width, 3, stride, name=f"{name}_2", style=style, groups=groups,
                dilation=dilation)
    y = conv(y, out, 1, name=f"{name}_3", style=style, bn_follows=False)
    return _merge(y, identity, name=name, drop_rate=drop_rate, se_ratio=se_ratio,
                  activation=None, out_name="out")


def bottleneck_width(filters, base_width=64, groups=1):
    """Width of a bottleneck's 3x3 (torchvision's rule): ``filters * base_width // 64 * groups``."""
    return int(filters * base_width / 64) * groups


def _shortcut(x, out_channels, stride, kind, name, style, with_bn=True):
    if kind not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS}; got {kind!r}")
    return shortcut(x, out_channels, stride, kind=kind, name=name, style=style, with_bn=with_bn)


RESIDUAL_BLOCKS = {
    "basic": basic_block,
    "bottleneck": bottleneck_block,
    "preact": preact_block,
    "preact_bottleneck": preact_bottleneck_block,
}
"""Residual-engine block kinds by name; other modules add theirs here."""

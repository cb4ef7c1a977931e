"""What every block family shares: the :class:`Style` conventions, conv/BN/activation
helpers, tensor-shape helpers and the residual shortcut.

Example::

    x = conv_bn(inputs, 32, 3, stride=2, name="stem")   # conv -> BN -> ReLU
"""

from __future__ import annotations

import dataclasses

from keras_resnets import _checks as C
from keras_resnets import primitives as P


@dataclasses.dataclass(frozen=True)
class Style:
    """Conventions a network follows: conv biases and BatchNorm settings.

    ``bias_before_bn``: biases on convolutions followed by BatchNorm (keras.applications
    ResNet v1 has them); ``bias_elsewhere``: on convolutions not followed by BatchNorm;
    ``explicit_padding``: pad 3x3 convolutions with a ZeroPadding2D layer even at stride 1;
    ``bn_scale``: BatchNorm learns a scale (gamma); keras.applications InceptionV3 has none.
    ``kernel_initializer``: of the convolutions built here (``"he_uniform"``; ``"he_normal"``
    is the papers' choice at 4-5x the draw cost, Keras's own is ``"glorot_uniform"``).
    BatchNorm ``momentum`` follows Keras's convention (0.9 = PyTorch's 0.1).
    ``padding``: how strided layers pad an even-sized map: ``"keras"`` (TensorFlow's
    'same': one pixel less at the top and left) or ``"torch"`` (symmetric, PyTorch's
    ``padding=k // 2``), so PyTorch checkpoints give PyTorch's outputs; MobileNetV2 reads it
    for its strided convolutions, Xception and the ResNet stem for their max-pools
    (:func:`max_pool`: ``-inf`` padding, as ``torch.nn.MaxPool2d``), InceptionV3 for its
    average pools (zero padding counted in the mean, as ``F.avg_pool2d``).
    """

    bias_before_bn: bool = False
    bias_elsewhere: bool = False
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9
    explicit_padding: bool = False
    bn_scale: bool = True
    kernel_initializer: str = P.KERNEL_INITIALIZER
    padding: str = "keras"


DEFAULT_STYLE = Style()

SHORTCUTS = ("A", "B", "none")


def channels(x) -> int:
    """Channel count of a Keras tensor or probe (channels last)."""
    return x.shape[-1]


def conv(x, filters, kernel_size, stride=1, *, name, style=DEFAULT_STYLE, bn_follows=True,
         groups=1, dilation=1, zero_init=False):
    """A convolution named ``{name}_conv``; strided (or explicitly styled) kxk convs get a
    symmetric ``{name}_pad`` ZeroPadding2D first, as in the reference implementations.
    ``zero_init``: the kernel starts at zero (the last conv of a pre-activation branch)."""
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
                  dilation=dilation, use_bias=use_bias,
                  kernel_initializer="zeros" if zero_init else style.kernel_initializer,
                  name=f"{name}_conv")(x)


def batch_norm(x, *, name, style=DEFAULT_STYLE, zero_init=False):
    """BatchNorm named ``name``; ``zero_init``: gamma starts at zero (the last BN of a
    residual branch, so the block starts as the identity: Goyal et al. 2017)."""
    return P.BatchNorm(epsilon=style.bn_epsilon, momentum=style.bn_momentum,
                       scale=style.bn_scale, gamma_initializer="zeros" if zero_init else "ones",
                       name=name)(x)


def conv_bn(x, filters, kernel_size, stride=1, *, name, style=DEFAULT_STYLE, activation="relu",
            groups=1, dilation=1, zero_init=False):
    """Conv -> BN (-> activation): layers ``{name}_conv``, ``{name}_bn``, ``{name}_relu``;
    ``zero_init`` starts the BN's gamma at zero."""
    x = conv(x, filters, kernel_size, stride, name=name, style=style, groups=groups,
             dilation=dilation)
    x = batch_norm(x, name=f"{name}_bn", style=style, zero_init=zero_init)
    if activation:
        x = P.Act(activation, name=f"{name}_{'relu' if activation == 'relu' else 'act'}")(x)
    return x


def bn_relu(x, *, name, style=DEFAULT_STYLE):
    """Pre-activation: BN -> ReLU, layers ``{name}_bn`` and ``{name}_relu``."""
    x = batch_norm(x, name=f"{name}_bn", style=style)
    return P.Act("relu", name=f"{name}_relu")(x)


def spatial(x) -> tuple:
    """``(height, width)`` of a Keras tensor or probe (``None`` where unknown)."""
    return tuple(x.shape[-3:-1])


def act_name(name, activation):
    """Name of an activation layer: ``{name}_relu`` for ReLU and ReLU6, else ``{name}_act``."""
    return f"{name}_{'relu' if activation in ('relu', 'relu6') else 'act'}"


def correct_pad(x, kernel_size, style=DEFAULT_STYLE):
    """Zero-padding ``((top, bottom), (left, right))`` that makes a strided 'valid'
    convolution match TensorFlow's 'same' one: one pixel less at the top and left of
    an even-sized map (keras.applications' ``imagenet_utils.correct_pad``); with
    ``style.padding == "torch"``, ``k // 2`` on every side as PyTorch pads."""
    kernel = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * 2
    if style.padding == "torch":
        return tuple((k // 2, k // 2) for k in kernel)
    adjust = [1 if size is None else 1 - size % 2 for size in spatial(x)]
    return tuple((k // 2 - a, k // 2) for k, a in zip(kernel, adjust, strict=True))


def max_pool(x, size, stride, *, name, style=DEFAULT_STYLE, pad_name=None):
    """``size``x``size`` max-pool named ``name`` with stride ``stride``, 'same' (TensorFlow's:
    an even map is padded at the bottom and right only), or with ``style.padding ==
    "torch"`` PyTorch's ``MaxPool2d(size, stride, size // 2)``: a ``pad_name`` (default
    ``{name}_pad``) layer pads every side with ``-inf``, then a 'valid' pool.

    Example::

        y = max_pool(x, 3, 2, name="block2_pool", style=Style(padding="torch"))
    """
    if style.padding == "torch":
        x = P.ConstantPad(size // 2, name=pad_name or f"{name}_pad")(x)
        return P.Pool("max", size, stride, padding="valid", name=name)(x)
    return P.Pool("max", size, stride, padding="same", name=name)(x)


def conv_bn_act(x, filters, kernel_size, stride=1, *, name, style=DEFAULT_STYLE,
                activation="relu", padding="same", dilation=1):
    """Conv -> BN -> activation with any kernel shape (``3``, ``(1, 7)``) and the given
    padding; layers ``{name}_conv``, ``{name}_bn``, ``{name}_relu`` (``_act`` for other
    activations; none when ``activation=None``)."""
    x = P.Conv(filters, kernel_size, stride, padding=padding, dilation=dilation,
               use_bias=style.bias_before_bn, kernel_initializer=style.kernel_initializer,
               name=f"{name}_conv")(x)
    x = batch_norm(x, name=f"{name}_bn", style=style)
    return P.Act(activation, name=act_name(name, activation))(x) if activation else x


def shortcut(x, out_channels, stride, *, kind="B", name, style=DEFAULT_STYLE, with_bn=True):
    """The identity path of a residual block; ``None`` when ``kind="none"`` (a plain net).

    Channels unchanged: identity, or a 1x1 max-pool subsampling when ``stride > 1``.
    Channels changed: option ``"A"`` zero-pads them, option ``"B"`` projects with a
    1x1 convolution (``{name}_0_conv``, plus ``{name}_0_bn`` when ``with_bn``). Any
    other ``kind`` is refused here, the one place that reads it (counting runs this too).
    """
    C.check_choice("shortcut", kind, SHORTCUTS)
    if kind == "none":
        return None
    if channels(x) == out_channels:
        return x if stride == 1 else P.Pool("max", 1, stride, name=f"{name}_0_pool")(x)
    if kind == "A":
        return P.ChannelPadShortcut(out_channels, stride, name=f"{name}_0_pad")(x)
    x = P.Conv(out_channels, 1, stride, use_bias=style.bias_before_bn if with_bn
               else style.bias_elsewhere, kernel_initializer=style.kernel_initializer,
               name=f"{name}_0_conv")(x)
    return batch_norm(x, name=f"{name}_0_bn", style=style) if with_bn else x


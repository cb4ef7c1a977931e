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
    ``explicit_padding``: pad 3x3 convolutions with a ZeroPadding2D layer even at stride 1;
    ``bn_scale``: BatchNorm learns a scale (gamma); keras.applications InceptionV3 has none.
    BatchNorm ``momentum`` follows Keras's convention (0.9 = PyTorch's 0.1).
    """

    bias_before_bn: bool = False
    bias_elsewhere: bool = False
    bn_epsilon: float = 1e-5
    bn_momentum: float = 0.9
    explicit_padding: bool = False
    bn_scale: bool = True


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
    return P.BatchNorm(epsilon=style.bn_epsilon, momentum=style.bn_momentum,
                       scale=style.bn_scale, name=name)(x)


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


def _merge(branch, identity, *, name, drop_rate, se_ratio, activation, out_name="add",
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


# --------------------------------------------------------------------------------------
# The block zoo: the survey's structures beyond the residual blocks above. Each is used
# by the network that made it known (keras_resnets.models.*) and documented in
# docs/blocks.md with its parameter arithmetic.
# --------------------------------------------------------------------------------------

KERAS_MOBILENET_STYLE = Style(bn_epsilon=1e-3, bn_momentum=0.999)
"""keras.applications MobileNetV2: bias-free convs, BatchNorm epsilon 1e-3, momentum 0.999."""
KERAS_XCEPTION_STYLE = Style(bn_epsilon=1e-3, bn_momentum=0.99)
"""keras.applications Xception: Keras's BatchNorm defaults (epsilon 1e-3, momentum 0.99)."""
KERAS_INCEPTION_STYLE = Style(bn_epsilon=1e-3, bn_momentum=0.99, bn_scale=False)
"""keras.applications InceptionV3: as Xception, and BatchNorm without a scale (gamma)."""

POOL_KINDS = ("avg", "max")
FACTORIZED_ORDERS = ("1xn", "nx1")


def spatial(x) -> tuple:
    """``(height, width)`` of a Keras tensor or probe (``None`` where unknown)."""
    return tuple(x.shape[-3:-1])


def _act_name(name, activation):
    return f"{name}_{'relu' if activation in ('relu', 'relu6') else 'act'}"


def correct_pad(x, kernel_size):
    """Zero-padding ``((top, bottom), (left, right))`` that makes a strided 'valid'
    convolution match TensorFlow's 'same' one: one pixel less at the top and left of
    an even-sized map (keras.applications' ``imagenet_utils.correct_pad``)."""
    kernel = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * 2
    adjust = [1 if size is None else 1 - size % 2 for size in spatial(x)]
    return tuple((k // 2 - a, k // 2) for k, a in zip(kernel, adjust, strict=True))


def conv_bn_act(x, filters, kernel_size, stride=1, *, name, style=DEFAULT_STYLE,
                activation="relu", padding="same", dilation=1):
    """Conv -> BN -> activation with any kernel shape (``3``, ``(1, 7)``) and the given
    padding; layers ``{name}_conv``, ``{name}_bn``, ``{name}_relu`` (``_act`` for other
    activations; none when ``activation=None``)."""
    x = P.Conv(filters, kernel_size, stride, padding=padding, dilation=dilation,
               use_bias=style.bias_before_bn, name=f"{name}_conv")(x)
    x = batch_norm(x, name=f"{name}_bn", style=style)
    return P.Act(activation, name=_act_name(name, activation))(x) if activation else x


def factorized_conv(x, filters, kernel_size=7, *, name, style=DEFAULT_STYLE, mid_filters=None,
                    order="1xn", activation="relu"):
    """Factorized convolution (Szegedy et al., 2016, InceptionV3): a 1xn then an nx1
    convolution in place of one nxn (``order="nx1"``: nx1 first), each followed by BN
    and the activation; layers ``{name}_1_*`` and ``{name}_2_*``.

    Between ``C`` channels it costs ``2n / n**2`` of the nxn: 28.6% for n=7, 67% for n=3.
    ``mid_filters`` is the width between the two convolutions (default ``filters``).
    """
    if order not in FACTORIZED_ORDERS:
        raise ValueError(f"{name}: order must be one of {FACTORIZED_ORDERS}; got {order!r}")
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
        raise ValueError(f"{name}: kernel_size must be a positive integer n (the 1xn/nx1 "
                         f"pair replaces an nxn, e.g. 3 or 7); got {kernel_size!r}")
    n = kernel_size
    first, second = ((1, n), (n, 1)) if order == "1xn" else ((n, 1), (1, n))
    x = conv_bn_act(x, mid_filters or filters, first, name=f"{name}_1", style=style,
                    activation=activation)
    return conv_bn_act(x, filters, second, name=f"{name}_2", style=style, activation=activation)


def _inception_step(x, step, *, name, style, activation):
    if callable(step):
        return step(x, name=name)
    if isinstance(step, list):
        return inception_block(x, step, name=name, style=style, activation=activation)
    if isinstance(step, str):
        step = (step,)
    if isinstance(step, tuple) and 1 <= len(step) <= 4 and step[0] in POOL_KINDS:
        size = step[1] if len(step) > 1 else 3
        stride = step[2] if len(step) > 2 else 1
        padding = step[3] if len(step) > 3 else ("same" if stride == 1 else "valid")
        return P.Pool(step[0], size, stride, padding=padding, name=f"{name}_pool")(x)
    if (isinstance(step, tuple) and 2 <= len(step) <= 4 and isinstance(step[0], int)
            and not isinstance(step[0], bool)):
        stride = step[2] if len(step) > 2 else 1
        padding = step[3] if len(step) > 3 else "same"
        return conv_bn_act(x, step[0], step[1], stride, padding=padding, name=name, style=style,
                           activation=activation)
    raise ValueError(
        f"{name}: an inception branch step must be (filters, kernel[, stride[, padding]]), "
        "'avg'/'max' or (kind, size[, stride[, padding]]) pooling, a list of branches or a "
        f"callable f(x, name=...); got {step!r}")


def inception_block(x, branches, *, name, style=DEFAULT_STYLE, activation="relu"):
    """Inception module (Szegedy et al., 2015, 2016): parallel branches with different
    kernel sizes, concatenated along the channels.

    ``branches`` is a list of branches; a branch is a list of steps applied in turn:

    - ``(filters, kernel)``, ``(filters, kernel, stride)`` or
      ``(filters, kernel, stride, padding)``: conv -> BN -> activation, ``kernel`` an int
      or ``(rows, cols)`` such as ``(1, 7)``, padding ``"same"`` unless given;
    - ``"avg"`` or ``"max"``: 3x3 pooling, stride 1, ``"same"``; or
      ``(kind, size[, stride[, padding]])``, padding ``"valid"`` by default when strided;
    - a list of branches: a nested inception block (InceptionV3's expanded filter banks);
    - a callable ``f(x, name=...)``, e.g. ``functools.partial(factorized_conv, filters=192)``.

    Layers of branch ``i``, step ``j`` are named ``{name}_b{i}_{j}_*``; the concatenation
    is ``name``. Example (InceptionV3's first module, 35x35x192 -> 35x35x256)::

        inception_block(x, [[(64, 1)], [(48, 1), (64, 5)], [(64, 1), (96, 3), (96, 3)],
                            ["avg", (32, 1)]], name="mixed0")
    """
    if not isinstance(branches, (list, tuple)) or not branches:
        raise ValueError(f"{name}: branches must be a non-empty list of branches (lists of "
                         f"steps); got {branches!r}")
    outputs = []
    for i, branch in enumerate(branches):
        if not isinstance(branch, (list, tuple)) or not branch:
            raise ValueError(f"{name}: branch {i} must be a non-empty list of steps, e.g. "
                             f"[(48, 1), (64, 5)]; got {branch!r}")
        y = x
        for j, step in enumerate(branch, 1):
            y = _inception_step(y, step, name=f"{name}_b{i}_{j}", style=style,
                                activation=activation)
        outputs.append(y)
    return P.Concat(name=name)(outputs)


def depthwise_separable_conv(x, filters, stride=1, *, name, style=DEFAULT_STYLE, kernel_size=3,
                             dilation=1, activation="relu", linear=False, se_ratio=0.0):
    """Depthwise-separable convolution (Howard et al., 2017, MobileNet): a kxk depthwise
    convolution per channel -> BN -> activation, then a 1x1 pointwise convolution mixing
    the channels -> BN (-> activation unless ``linear``).

    Layers ``{name}_depthwise``, ``{name}_depthwise_BN``, ``{name}_depthwise_relu``,
    ``{name}_project``, ``{name}_project_BN``, ``{name}_project_relu`` as in
    keras.applications MobileNetV2 (``{name}_pad`` before a strided depthwise conv, padded
    as TensorFlow's 'same'). ``se_ratio`` > 0 adds squeeze-and-excitation between the two
    (MobileNetV3, EfficientNet). Weights: ``k*k*C + C*filters`` instead of a full
    convolution's ``k*k*C*filters`` (656 against 4,608 for 3x3, 16 -> 32).
    """
    if stride > 1:
        x = P.ZeroPad(correct_pad(x, kernel_size), name=f"{name}_pad")(x)
    x = P.Conv(0, kernel_size, stride, padding="valid" if stride > 1 else "same",
               dilation=dilation, depthwise=True, use_bias=style.bias_before_bn,
               name=f"{name}_depthwise")(x)
    x = batch_norm(x, name=f"{name}_depthwise_BN", style=style)
    x = P.Act(activation, name=_act_name(f"{name}_depthwise", activation))(x)
    if se_ratio:
        x = squeeze_excite(x, se_ratio, name=name)
    x = P.Conv(filters, 1, use_bias=style.bias_before_bn, name=f"{name}_project")(x)
    x = batch_norm(x, name=f"{name}_project_BN", style=style)
    if linear:
        return x
    return P.Act(activation, name=_act_name(f"{name}_project", activation))(x)


def inverted_residual_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
                            drop_rate=0.0, dilation=1, se_ratio=0.0, expansion=6, kernel_size=3,
                            activation="relu6"):
    """Inverted residual with a linear bottleneck (Sandler et al., 2018, MobileNetV2).

    1x1 expansion to ``expansion * C`` channels -> BN -> ReLU6, kxk depthwise -> BN ->
    ReLU6 (squeeze-and-excitation here when ``se_ratio`` > 0), 1x1 linear projection to
    ``filters`` -> BN, and the input added where the shapes match (stride 1, ``filters ==
    C``) unless ``shortcut="none"``; shapes that differ get no shortcut, as in the paper
    (``"A"`` and ``"B"`` behave alike). ``expansion=1`` has no expansion layer.
    Layers as keras.applications: ``{name}_expand``, ``{name}_expand_BN``,
    ``{name}_expand_relu``, then :func:`depthwise_separable_conv`'s, then ``{name}_add``.
    """
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS}; got {shortcut!r}")
    if isinstance(expansion, bool) or not isinstance(expansion, int) or expansion < 1:
        raise ValueError(f"{name}: expansion must be a positive integer (6 in MobileNetV2); "
                         f"got {expansion!r}")
    y = x
    if expansion != 1:
        y = P.Conv(expansion * channels(x), 1, use_bias=style.bias_before_bn,
                   name=f"{name}_expand")(y)
        y = batch_norm(y, name=f"{name}_expand_BN", style=style)
        y = P.Act(activation, name=_act_name(f"{name}_expand", activation))(y)
    y = depthwise_separable_conv(y, filters, stride, name=name, style=style,
                                 kernel_size=kernel_size, dilation=dilation,
                                 activation=activation, linear=True, se_ratio=se_ratio)
    residual = shortcut != "none" and stride == 1 and channels(x) == filters
    return _merge(y, x if residual else None, name=name, drop_rate=drop_rate, se_ratio=0.0,
                  activation=None)


def xception_block(x, filters, stride=1, *, name, style=DEFAULT_STYLE, shortcut="B",
                   drop_rate=0.0, dilation=1, se_ratio=0.0, convs=3, activate_first=True,
                   activation="relu"):
    """Xception block (Chollet, 2017): separable convolutions with a residual connection.

    ``convs`` times (activation -> 3x3 separable conv -> BN), the first activation
    skipped when ``activate_first=False`` (Xception's block2 follows a ReLU already);
    ``filters`` is an int or one width per separable conv (``(728, 1024)``). A strided
    block ends in a 3x3 max-pool and projects the shortcut with a strided 1x1 conv + BN
    (``{name}_0_conv``, ``{name}_0_bn``; option ``"A"`` zero-pads instead).
    Layers as keras.applications: ``{name}_sepconv{i}_act``, ``{name}_sepconv{i}``,
    ``{name}_sepconv{i}_bn``, ``{name}_pool``, ``{name}_add``.
    """
    widths = tuple(filters) if isinstance(filters, (tuple, list)) else (filters,) * convs
    identity = _shortcut(x, widths[-1], stride, shortcut, name, style)
    y = x
    for i, width in enumerate(widths, 1):
        if i > 1 or activate_first:
            y = P.Act(activation, name=f"{name}_sepconv{i}_act")(y)
        y = P.SeparableConv(width, 3, padding="same", dilation=dilation,
                            use_bias=style.bias_before_bn, name=f"{name}_sepconv{i}")(y)
        y = batch_norm(y, name=f"{name}_sepconv{i}_bn", style=style)
    if stride > 1:
        y = P.Pool("max", 3, stride, padding="same", name=f"{name}_pool")(y)
    return _merge(y, identity, name=name, drop_rate=drop_rate, se_ratio=se_ratio,
                  activation=None, branch_first=True)


def aspp(x, filters=256, rates=(6, 12, 18), *, name="aspp", style=DEFAULT_STYLE,
         image_pooling=True, dropout_rate=0.1):
    """Atrous spatial pyramid pooling (Chen et al., 2017, DeepLabV3).

    Parallel branches on the same features: a 1x1 conv (``{name}_b0``), a 3x3 conv of
    dilation ``r`` for each rate (``{name}_b1`` ...), and image-level pooling (global
    average -> 1x1 conv -> bilinear resize back, ``{name}_pool*``); each conv is followed
    by BN and ReLU. The branches are concatenated (``{name}_concat``) and projected by a
    1x1 conv -> BN -> ReLU (``{name}_project``), then dropout. The rates suit output
    stride 16; double them at output stride 8.
    """
    height, width = spatial(x)
    outputs = [conv_bn_act(x, filters, 1, name=f"{name}_b0", style=style)]
    for i, rate in enumerate(rates, 1):
        outputs.append(conv_bn_act(x, filters, 3, dilation=rate, name=f"{name}_b{i}",
                                   style=style))
    if image_pooling:
        if height is None or width is None:
            raise ValueError(f"{name}: image-level pooling needs a known feature-map size; "
                             f"got {height}x{width}. Give the model a fixed input_shape")
        y = P.GlobalPool("avg", keepdims=True, name=f"{name}_pool")(x)
        y = conv_bn_act(y, filters, 1, name=f"{name}_pool", style=style)
        outputs.append(P.Resize((height, width), name=f"{name}_pool_resize")(y))
    y = P.Concat(name=f"{name}_concat")(outputs)
    y = conv_bn_act(y, filters, 1, name=f"{name}_project", style=style)
    return P.Dropout(dropout_rate, name=f"{name}_dropout")(y) if dropout_rate else y


RESIDUAL_BLOCKS = {
    "basic": basic_block,
    "bottleneck": bottleneck_block,
    "preact": preact_block,
    "preact_bottleneck": preact_bottleneck_block,
    "inverted_residual": inverted_residual_block,
    "xception": xception_block,
}
"""Residual-engine block kinds by name; other modules add theirs here."""


# --------------------------------------------------------------------------------------
# Densely connected blocks: DenseNet (Huang et al., 2017) and CliqueNet (Yang et al., 2018).
# Used by keras_resnets.models.densenet and keras_resnets.models.cliquenet.
# --------------------------------------------------------------------------------------

KERAS_DENSENET_STYLE = Style(bn_epsilon=1.001e-5, bn_momentum=0.99)
"""keras.applications DenseNet: bias-free convs, BatchNorm epsilon 1.001e-5, momentum 0.99."""


def _dropout(x, rate, name):
    return P.Dropout(rate, name=name)(x) if rate else x


def dense_layer(x, growth_rate, *, name, bottleneck=True, bottleneck_width=4, dropout_rate=0.0,
                style=DEFAULT_STYLE):
    """DenseNet's composite layer (Huang et al., 2017): ``growth_rate`` new channels
    concatenated to the input.

    With ``bottleneck`` (DenseNet-B): BN -> ReLU -> 1x1 conv to ``bottleneck_width *
    growth_rate`` channels -> BN -> ReLU -> 3x3 conv to ``growth_rate``; without: BN ->
    ReLU -> 3x3 conv. Dropout after each convolution when ``dropout_rate`` > 0 (the paper's
    setting without data augmentation). Layers as keras.applications: ``{name}_0_bn``,
    ``{name}_0_relu``, ``{name}_1_conv``, ``{name}_1_bn``, ``{name}_1_relu``,
    ``{name}_2_conv``, ``{name}_concat`` (the plain layer's one conv is ``{name}_1_conv``).
    """
    y = bn_relu(x, name=f"{name}_0", style=style)
    if bottleneck:
        y = conv(y, bottleneck_width * growth_rate, 1, name=f"{name}_1", style=style)
        y = _dropout(y, dropout_rate, f"{name}_1_drop")
        y = bn_relu(y, name=f"{name}_1", style=style)
        last = 2
    else:
        last = 1
    y = conv(y, growth_rate, 3, name=f"{name}_{last}", style=style)
    y = _dropout(y, dropout_rate, f"{name}_{last}_drop")
    return P.Concat(name=f"{name}_concat")([x, y])


def dense_block(x, num_layers, growth_rate, *, name, bottleneck=True, bottleneck_width=4,
                dropout_rate=0.0, style=DEFAULT_STYLE):
    """``num_layers`` :func:`dense_layer` s named ``{name}_block1``, ``{name}_block2``, ...:
    the output has ``C + num_layers * growth_rate`` channels."""
    for i in range(num_layers):
        x = dense_layer(x, growth_rate, name=f"{name}_block{i + 1}", bottleneck=bottleneck,
                        bottleneck_width=bottleneck_width, dropout_rate=dropout_rate, style=style)
    return x


def transition(x, *, name, compression=0.5, dropout_rate=0.0, attention=False,
               style=DEFAULT_STYLE):
    """Transition between dense (or clique) blocks: BN -> ReLU -> 1x1 conv to
    ``int(C * compression)`` channels (dropout) -> 2x2 average pooling, stride 2.

    ``attention`` adds CliqueNet's attentional transition (Yang et al., 2018, Sec. 3.3):
    channel attention (global pooling -> FC to C/2 -> ReLU -> FC to C -> sigmoid ->
    channel-wise product) after the 1x1 conv, before the pooling. Layers ``{name}_bn``,
    ``{name}_relu``, ``{name}_conv``, ``{name}_se_*``, ``{name}_pool`` (keras.applications
    DenseNet names its transitions ``pool2``, ``pool3``, ``pool4``).
    """
    if isinstance(compression, bool) or not isinstance(compression, (int, float)) \
            or not 0 < compression <= 1:
        raise ValueError(f"{name}: compression must be in (0, 1] (0.5 for DenseNet-BC, 1 for "
                         f"none); got {compression!r}")
    y = bn_relu(x, name=name, style=style)
    y = conv(y, max(1, int(channels(x) * compression)), 1, name=name, style=style)
    y = _dropout(y, dropout_rate, f"{name}_drop")
    if attention:
        y = squeeze_excite(y, 0.5, name=name)
    return P.Pool("avg", 2, 2, name=f"{name}_pool")(y)


def clique_block(x, num_layers, growth_rate, *, name, bottleneck=False, loops=1,
                 refine_steps=None, dropout_rate=0.0, style=DEFAULT_STYLE):
    """Clique block with alternate updates (Yang et al., CVPR 2018, Sec. 3.1).

    Every pair of layers ``i != j`` of the block is joined both ways by a convolution
    ``W_ij`` (node 0 is the block input ``X_0``). Stage I initialises the layers in turn::

        X_j = g(W_0j * X_0 + sum_{i<j} W_ij * X_i)

    and each Stage-II loop updates them again, in turn, from the newest version of
    every other layer (already-updated ones for ``i < j``, the previous ones for ``i > j``)::

        X_j = g(sum_{i<j} W_ij * X_i(new) + sum_{i>j} W_ij * X_i(old))

    ``g`` is pre-activation: BN -> ReLU before the convolution (dropout after it). The
    ``W_ij`` are one Keras ``Conv2D`` layer each, ``{name}_w{i}_{j}_conv``, created once and
    *called again* in Stage II (shared layers, not copies), so a block holds ``n`` input
    kernels and ``n(n-1)`` inter-layer kernels. A sum over several sources is a convolution
    of their concatenation with the concatenated kernels, as in the reference code; BatchNorm
    is per channel, so each source's channels get their own BN layer
    (``{name}_s{stage}_l{j}_x{i}_bn``), one set per stage as in the reference.

    ``bottleneck`` (Sec. 3.3): the ``W_ij`` become 1x1 convolutions and each layer adds
    BN -> ReLU -> a 3x3 convolution ``{name}_b{j}_conv`` (shared by the stages as well).
    ``loops``: Stage-II loops (1 in the paper; 0 = Stage I only). ``refine_steps``: how many
    layers (the first ``X``) each loop updates (the ablation of the authors' README, Tab. 2;
    default all).

    Returns ``(stage_one, stage_two)``: the concatenated layers after Stage I and after the
    last Stage-II loop (the same tensor when nothing is updated).
    """
    n = num_layers
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"{name}: a clique block needs num_layers >= 2 (each layer is "
                         f"updated from the others); got {num_layers!r}")
    steps = n if refine_steps is None else refine_steps
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= n:
        raise ValueError(f"{name}: refine_steps must be an integer in [0, {n}] (the number of "
                         f"layers each Stage-II loop updates); got {refine_steps!r}")
    if isinstance(loops, bool) or not isinstance(loops, int) or loops < 0:
        raise ValueError(f"{name}: loops must be an integer >= 0 (1 in the paper, 0 for Stage "
                         f"I only); got {loops!r}")
    kernel = 1 if bottleneck else 3
    weights = {(i, j): P.Conv(growth_rate, kernel, name=f"{name}_w{i}_{j}_conv")
               for j in range(1, n + 1) for i in range(n + 1) if i != j}
    spatial_convs = {j: P.Conv(growth_rate, 3, name=f"{name}_b{j}_conv")
                     for j in range(1, n + 1)} if bottleneck else {}

    def update(j, sources, stage):
        prefix = f"{name}_s{stage}_l{j}"
        terms = [weights[i, j](bn_relu(t, name=f"{prefix}_x{i}", style=style))
                 for i, t in sources]
        y = terms[0] if len(terms) == 1 else P.Add(name=f"{prefix}_add")(terms)
        y = _dropout(y, dropout_rate, f"{prefix}_drop")
        if bottleneck:
            y = bn_relu(y, name=f"{prefix}_b", style=style)
            y = spatial_convs[j](y)
            y = _dropout(y, dropout_rate, f"{prefix}_b_drop")
        return y

    layers = {}
    for j in range(1, n + 1):
        layers[j] = update(j, [(0, x)] + [(i, layers[i]) for i in range(1, j)], 1)
    stage_one = P.Concat(name=f"{name}_stage1")([layers[j] for j in range(1, n + 1)])
    if not loops or not steps:
        return stage_one, stage_one
    for loop in range(loops):
        for j in range(1, steps + 1):
            layers[j] = update(j, [(i, layers[i]) for i in range(1, n + 1) if i != j], loop + 2)
    stage_two = P.Concat(name=f"{name}_stage2")([layers[j] for j in range(1, n + 1)])
    return stage_one, stage_two

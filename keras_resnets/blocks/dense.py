"""Densely connected blocks: DenseNet (Huang et al., 2017) and CliqueNet (Yang et al., 2018).
Used by keras_resnets.models.densenet and keras_resnets.models.cliquenet.

Example::

    x = dense_block(x, 6, 32, name="conv2")   # C + 6 * 32 channels
    x = transition(x, name="pool2")
"""

from __future__ import annotations

from keras_resnets import primitives as P
from keras_resnets.blocks.common import DEFAULT_STYLE, Style, bn_relu, channels, conv
from keras_resnets.blocks.se import squeeze_excite

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

"""Densely connected blocks: DenseNet (Huang et al., 2017) and CliqueNet (Yang et al., 2018).

The engine stacks them as the block kinds ``dense_layer``, ``transition`` and ``clique``
(:mod:`keras_resnets.blocks.kinds`, whose typed options check their arguments); the
functions here are also public, to build with by hand.

Example::

    x = dense_block(x, 6, 32, name="conv2")   # C + 6 * 32 channels
    x = transition(x, name="pool2")
"""

from __future__ import annotations

import dataclasses

from keras_resnets import _checks as C
from keras_resnets import primitives as P
from keras_resnets.blocks.common import (
    DEFAULT_STYLE,
    Style,
    batch_norm,
    bn_relu,
    channels,
    conv,
)
from keras_resnets.blocks.se import squeeze_excite

KERAS_DENSENET_STYLE = Style(bn_epsilon=1.001e-5, bn_momentum=0.99)
"""keras.applications DenseNet: bias-free convs, BatchNorm epsilon 1.001e-5, momentum 0.99."""
CLIQUE_VARIANTS = ("II+II", "I+II", "I+I")
"""Which features of a clique block form its block feature (pooled by CliqueNet's
multi-scale head) and which go on to the next block: ``"II+II"`` (the paper's CliqueNet),
``"I+II"`` (Stage I pooled, Stage II transited) and ``"I+I"`` (Stage I only)."""




@dataclasses.dataclass(frozen=True)
class DenseLayerOptions:
    """Options of the ``"dense_layer"`` kind: DenseNet-B's ``bottleneck`` (1x1 to
    ``bottleneck_width * k`` channels first) and ``dropout_rate`` after each convolution."""

    bottleneck: bool = True
    bottleneck_width: int = 4
    dropout_rate: float = 0.0

    def __post_init__(self):
        C.check_bool("bottleneck", self.bottleneck)
        C.check_positive_int("bottleneck_width", self.bottleneck_width, "4")
        C.check_rate("dropout_rate", self.dropout_rate)


@dataclasses.dataclass(frozen=True)
class TransitionOptions:
    """Options of the ``"transition"`` kind: ``compression`` (theta, in (0, 1]),
    ``dropout_rate`` and CliqueNet's ``attention``."""

    compression: float = 0.5
    dropout_rate: float = 0.0
    attention: bool = False

    def __post_init__(self):
        C.check_fraction("compression", self.compression, "0.5 for DenseNet-BC, 1.0 for none")
        C.check_rate("dropout_rate", self.dropout_rate)
        C.check_bool("attention", self.attention)


@dataclasses.dataclass(frozen=True)
class CliqueOptions:
    """Options of the ``"clique"`` kind (:func:`clique_block`): ``layers`` per block,
    ``variant`` (:data:`CLIQUE_VARIANTS`), Stage-II ``loops``, ``refine_steps`` (with
    ``"II+II"`` only), ``bottleneck``, ``compression`` of the block feature, ``dropout_rate``
    after each convolution and ``transits`` (False for a network's last block)."""

    layers: int = 4
    variant: str = "II+II"
    loops: int = 1
    refine_steps: int | None = None
    bottleneck: bool = False
    compression: bool = False
    dropout_rate: float = 0.0
    transits: bool = True

    def __post_init__(self):
        C.check_choice("variant", self.variant, CLIQUE_VARIANTS)
        check_clique(self.layers, self.loops, self.refine_steps)
        if self.refine_steps is not None and self.variant != "II+II":
            raise ValueError(f"refine_steps goes with variant='II+II' (it re-updates Stage "
                             f"II); got variant={self.variant!r}")
        for argument in ("bottleneck", "compression", "transits"):
            C.check_bool(argument, getattr(self, argument))
        C.check_rate("dropout_rate", self.dropout_rate)


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


def _check_no_filters(kind, filters):
    if filters is not None:
        raise ValueError(f"block kind {kind!r} sets its own width: its stage's filters must "
                         f"be None; got {filters!r} (e.g. Stage(1, None, ..., kind={kind!r}))")


def transition(x, filters=None, *, name, compression=0.5, dropout_rate=0.0, attention=False,
               style=DEFAULT_STYLE):
    """Transition between dense (or clique) blocks: BN -> ReLU -> 1x1 conv to
    ``int(C * compression)`` channels (dropout) -> 2x2 average pooling, stride 2.

    ``attention`` adds CliqueNet's attentional transition (Yang et al., 2018, Sec. 3.3):
    channel attention (global pooling -> FC to C/2 -> ReLU -> FC to C -> sigmoid ->
    channel-wise product) after the 1x1 conv, before the pooling. Layers ``{name}_bn``,
    ``{name}_relu``, ``{name}_conv``, ``{name}_se_*``, ``{name}_pool`` (keras.applications
    DenseNet names its transitions ``pool2``, ``pool3``, ``pool4``). The options are
    checked by :class:`TransitionOptions`; its width comes from ``compression``, so a
    ``filters`` other than None is refused (the ``"transition"`` block kind).
    """
    _check_no_filters("transition", filters)
    y = bn_relu(x, name=name, style=style)
    y = conv(y, max(1, int(channels(x) * compression)), 1, name=name, style=style)
    y = _dropout(y, dropout_rate, f"{name}_drop")
    if attention:
        y = squeeze_excite(y, 0.5, name=name)
    return P.Pool("avg", 2, 2, name=f"{name}_pool")(y)


def check_clique(num_layers, loops=1, refine_steps=None):
    """The one rule for a clique block's shape: ``num_layers`` >= 2 (each layer is updated
    from the others), ``loops`` >= 1 Stage-II loops, ``refine_steps`` ``None`` or in
    ``[0, num_layers]``. Checked by :func:`clique_block` and :class:`CliqueOptions`."""
    C.check_int("layers per clique block (each layer is updated from the others)",
                num_layers, 2, "4, 5, 6")
    if not C.is_int(loops) or loops < 1:
        raise ValueError(f"loops must be an integer >= 1 (Stage-II loops, 1 in the paper; "
                         f"variant='I+I', or stage_two=False, for Stage I only); got {loops!r}")
    if refine_steps is not None and (not C.is_int(refine_steps)
                                     or not 0 <= refine_steps <= num_layers):
        raise ValueError(f"refine_steps must be None (all layers) or an integer in "
                         f"[0, {num_layers}] (the first X layers re-updated in Stage II); "
                         f"got {refine_steps!r}")


def clique_block(x, growth_rate, *, name, style=DEFAULT_STYLE, layers=4, variant="II+II",
                 loops=1, refine_steps=None, bottleneck=False, compression=False,
                 dropout_rate=0.0, transits=True):
    """Clique block with alternate updates (Yang et al., CVPR 2018, Sec. 3.1) and its block
    feature (Sec. 3.2): ``layers`` layers of ``growth_rate`` channels; the ``"clique"``
    block kind.

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
    ``loops``: Stage-II loops (1 in the paper). ``refine_steps``: how many layers (the
    first ``X``) each loop updates (the ablation of the authors' README, Tab. 2; default
    all). ``variant`` (:data:`CLIQUE_VARIANTS`): ``"I+I"`` computes Stage I only. See
    :func:`check_clique` for the rules.

    Returns ``(transit, feature)``: what goes on to the next block (the Stage-II layers
    concatenated, ``{name}_stage2``; Stage I, ``{name}_stage1``, when nothing is updated)
    and what the multi-scale head pools (and the engine records as the stage output): the
    block input concatenated with the Stage-II layers (Stage I unless ``"II+II"``),
    ``{name}_feature``, halved by BN -> ReLU -> 1x1 conv (``{name}_compress_*``) when
    ``compression`` (Sec. 3.3, as the reference's ``compress``), then BN -> ReLU
    (``{name}_gp_*``). ``transits=False`` (a network's last block): an ``"I+II"`` block
    then computes no Stage II, which would feed nothing. Example::

        transit, feature = clique_block(x, 36, layers=4, name="block1")
    """
    check_clique(layers, loops, refine_steps)
    n = layers
    steps = n if refine_steps is None else refine_steps
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

    nodes = {}
    for j in range(1, n + 1):
        nodes[j] = update(j, [(0, x)] + [(i, nodes[i]) for i in range(1, j)], 1)
    stage_one = stage_two = P.Concat(name=f"{name}_stage1")([nodes[j] for j in range(1, n + 1)])
    if steps and (variant == "II+II" or (variant == "I+II" and transits)):
        for loop in range(loops):
            for j in range(1, steps + 1):
                nodes[j] = update(j, [(i, nodes[i]) for i in range(1, n + 1) if i != j],
                                  loop + 2)
        stage_two = P.Concat(name=f"{name}_stage2")([nodes[j] for j in range(1, n + 1)])
    feature = P.Concat(name=f"{name}_feature")([x, stage_two if variant == "II+II"
                                                else stage_one])
    if compression:
        feature = bn_relu(feature, name=f"{name}_compress", style=style)
        feature = P.Conv(channels(feature) // 2, 1, name=f"{name}_compress_conv")(feature)
        feature = _dropout(feature, dropout_rate, f"{name}_compress_drop")
    return stage_two, bn_relu(feature, name=f"{name}_gp", style=style)


def final_bn_relu(x, filters=None, *, name="", style=DEFAULT_STYLE):
    """The ``"final_bn_relu"`` kind: a network's last BN -> ReLU, named ``bn`` and ``relu``
    as keras.applications DenseNet (``{name}_bn``, ``{name}_relu`` given a name: the
    pre-activation ResNets' ``post_bn``, ``post_relu``). It keeps the channels: a
    ``filters`` other than None is refused."""
    _check_no_filters("final_bn_relu", filters)
    prefix = f"{name}_" if name else ""
    x = batch_norm(x, name=f"{prefix}bn", style=style)
    return P.Act("relu", name=f"{prefix}relu")(x)

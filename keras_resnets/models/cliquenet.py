"""CliqueNet (Yang, Zhong, Shen, Lin: "Convolutional Neural Networks with Alternately
Updated Clique", CVPR 2018), after the paper and the authors' code (github iboing/CliqueNet).

Each clique block joins every pair of its layers both ways; Stage I initialises the
layers from the block input and the layers before them, Stage II updates every layer
again from the newest versions of all the others, with the *same* weights (shared Keras
layers, see :func:`keras_resnets.blocks.clique_block`). Stage-II features go on through a
transition (BN -> ReLU -> 1x1 conv -> [attention] -> 2x2 average pooling) to the next
block; the multi-scale feature strategy concatenates each block's input with its Stage-II
features ([compression] -> BN -> ReLU -> global pooling) and feeds all blocks' pooled
features to the classifier.

- CIFAR/SVHN: ``cliquenet-<T>-<k>``: a 3x3 stem of 64 channels, three blocks of T/3
  layers with k channels each (Table 3: T=12 k=36, T=15 k=64, T=15 k=80, T=18 k=80).
- ImageNet: ``cliquenet-s0`` ... ``cliquenet-s3``: 7x7/2 stem + max-pool, four blocks,
  bottleneck, compression and attentional transitions.

Example::

    model = CliqueNet(12, 36)                           # 0.94M parameters, 10 classes
    model = CliqueNet(12, 36, variant="I+I")            # ablation: Stage-I features only
    model = create_model("cliquenet-s3")
"""

from __future__ import annotations

import dataclasses

from keras_resnets import blocks as B
from keras_resnets import primitives as P
from keras_resnets.engine import LegacySpec, build_model
from keras_resnets._checks import check_choice, check_positive_int, check_rate
from keras_resnets.models.densenet import _no_drop_path, check_options
from keras_resnets.registry import register_family

VARIANTS = ("II+II", "I+II", "I+I")
"""Which features form the block feature (pooled for the classifier) and which go on to
the next block: ``"II+II"`` (the paper's CliqueNet), ``"I+II"`` (Stage I pooled, Stage II
transited) and ``"I+I"`` (Stage I only; no Stage II is computed)."""
STEMS = ("cifar", "imagenet")
IMAGENET_LAYOUTS = {
    "s0": ((5, 6, 6, 6), (36, 64, 100, 80)),
    "s1": ((5, 6, 6, 6), (36, 80, 120, 100)),
    "s2": ((5, 5, 6, 6), (36, 80, 150, 120)),
    "s3": ((6, 6, 6, 6), (40, 80, 160, 160)),
}
"""ImageNet CliqueNets: (layers per block, channels per layer k), the authors' code."""
NAME_OPTIONS = ("attention", "bottleneck", "compression", "variant", "loops", "refine_steps",
                "dropout_rate", "stem_filters")
"""Options that ``create_model("cliquenet-...", ...)`` passes on to the spec."""
CIFAR_DROPOUT = 0.2  # keep_prob 0.8 after every convolution: the paper's CIFAR/SVHN setting


@dataclasses.dataclass(frozen=True)
class CliqueNetSpec(LegacySpec):
    """stem -> clique blocks and transitions -> multi-scale pooled features -> classifier.

    ``layers`` and ``growth`` give each block's number of layers and channels per layer.
    ``attention``, ``bottleneck`` and ``compression`` switch the three techniques of the
    paper's Sec. 3.3; ``variant``, ``loops`` and ``refine_steps`` its ablations.
    """

    name: str
    layers: tuple
    growth: tuple
    stem: str = "cifar"
    stem_filters: int = 64
    attention: bool = False
    bottleneck: bool = False
    compression: bool = False
    variant: str = "II+II"
    loops: int = 1
    refine_steps: int | None = None
    dropout_rate: float = 0.0
    style: B.Style = B.DEFAULT_STYLE
    default_input_shape: tuple = (32, 32, 3)
    default_classes: int = 10
    keras_weights: str | None = None

    def stem_layers(self, x):
        if self.stem == "cifar":
            # The reference's first layer is a bare 3x3 conv: the first block's
            # pre-activation BN follows it.
            return P.Conv(self.stem_filters, 3, name="conv1_conv")(x)
        x = B.conv(x, self.stem_filters, 7, 2, name="conv1", style=self.style)
        x = B.batch_norm(x, name="conv1_bn", style=self.style)
        x = P.Act("relu", name="conv1_relu")(x)
        x = P.ZeroPad(1, name="pool1_pad")(x)
        return P.Pool("max", 3, 2, name="pool1")(x)

    def features(self, x, *, drop_path_rate=0.0):
        """Returns ``({"C2": ...}, [block features])``: the BN-ReLU'd block features
        (block input + Stage-II layers, compressed if so) that the head pools."""
        _no_drop_path(drop_path_rate, "CliqueNet")
        x = self.stem_layers(x)
        outputs, pooled_inputs = {}, []
        for b, (n, k) in enumerate(zip(self.layers, self.growth, strict=True)):
            name, last_block = f"block{b + 1}", b + 1 == len(self.layers)
            # "I+II" transits Stage II but pools Stage I: the last block's Stage II would
            # feed nothing, so it is not computed (the reference creates its unused weights).
            stage_one_only = self.variant == "I+I" or (self.variant == "I+II" and last_block)
            stage_one, stage_two = B.clique_block(
                x, n, k, name=name, bottleneck=self.bottleneck,
                loops=0 if stage_one_only else self.loops,
                refine_steps=self.refine_steps, dropout_rate=self.dropout_rate, style=self.style)
            pooled_part = stage_two if self.variant == "II+II" else stage_one
            feature = P.Concat(name=f"{name}_feature")([x, pooled_part])
            if self.compression:
                # Sec. 3.3: compress the features that go to the classifier by half, not
                # the ones transited to the next block (the reference's ``compress``).
                feature = B.bn_relu(feature, name=f"{name}_compress", style=self.style)
                feature = P.Conv(B.channels(feature) // 2, 1, name=f"{name}_compress_conv")(
                    feature)
                if self.dropout_rate:
                    feature = P.Dropout(self.dropout_rate, name=f"{name}_compress_drop")(feature)
            feature = B.bn_relu(feature, name=f"{name}_gp", style=self.style)
            outputs[f"C{b + 2}"] = feature
            pooled_inputs.append(feature)
            if not last_block:
                x = B.transition(stage_two, name=f"trans{b + 1}", compression=1.0,
                                 dropout_rate=self.dropout_rate, attention=self.attention,
                                 style=self.style)
        return outputs, pooled_inputs

    def head(self, x, *, include_top, pooling, classes, classifier_activation):
        """Multi-scale feature strategy (Sec. 3.2): every block's feature is pooled
        globally and the concatenation goes to the classifier. ``pooling`` gives that
        concatenated vector without the classifier; ``pooling=None`` the last block's map."""
        if not include_top and pooling not in ("avg", "max"):
            return x[-1]
        kind = "avg" if include_top else pooling
        pooled = [P.GlobalPool(kind, name=f"block{b + 1}_gp_{kind}_pool")(f)
                  for b, f in enumerate(x)]
        y = P.Concat(name=f"multiscale_{kind}_pool")(pooled) if len(pooled) > 1 else pooled[0]
        if not include_top:
            return y
        return P.Dense(classes, activation=classifier_activation, dtype="float32",
                       name="predictions")(y)


def _check_bool(argument, value):
    if not isinstance(value, bool):
        raise ValueError(f"{argument} must be True or False; got {value!r}")


def cliquenet_spec(layers, growth, *, stem="cifar", stem_filters=64, attention=False,
                   bottleneck=False, compression=False, variant="II+II", loops=1,
                   refine_steps=None, dropout_rate=None, name=None) -> CliqueNetSpec:
    """The spec behind :func:`CliqueNetFromLayout` (same arguments)."""
    for argument, value in (("layers", layers), ("growth", growth)):
        if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) or not value:
            raise ValueError(f"{argument} must be a non-empty sequence with one entry per "
                             f"block, e.g. layers=(4, 4, 4), growth=(36, 36, 36); got {value!r}")
    if len(layers) != len(growth):
        raise ValueError(f"layers and growth need one entry per block; got {len(layers)} and "
                         f"{len(growth)} entries ({layers!r}, {growth!r})")
    for n in layers:
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"layers per clique block must be integers >= 2 (each layer is "
                             f"updated from the others), e.g. (4, 4, 4); got {layers!r}")
    for k in growth:
        check_positive_int("growth (channels per layer k)", k, "36, 64, 80")
    check_choice("stem", stem, STEMS)
    check_positive_int("stem_filters", stem_filters, "64")
    for argument, value in (("attention", attention), ("bottleneck", bottleneck),
                            ("compression", compression)):
        _check_bool(argument, value)
    check_choice("variant", variant, VARIANTS)
    if isinstance(loops, bool) or not isinstance(loops, int) or loops < 1:
        raise ValueError(f"loops must be a positive integer (Stage-II loops; 1 in the paper, "
                         f"variant='I+I' for Stage I only); got {loops!r}")
    if refine_steps is not None:
        if isinstance(refine_steps, bool) or not isinstance(refine_steps, int) \
                or not 0 <= refine_steps <= min(layers):
            raise ValueError(f"refine_steps must be None (all layers) or an integer in "
                             f"[0, {min(layers)}] (the first X layers re-updated in Stage II); "
                             f"got {refine_steps!r}")
        if variant != "II+II":
            raise ValueError(f"refine_steps goes with variant='II+II'; got variant={variant!r}")
    if dropout_rate is None:
        dropout_rate = CIFAR_DROPOUT if stem == "cifar" else 0.0
    check_rate("dropout_rate", dropout_rate)
    if name is None:
        name = f"cliquenet-{sum(layers)}-{growth[0]}" if len(set(growth)) == 1 \
            else "cliquenet-" + "-".join(map(str, growth))
    return CliqueNetSpec(
        name=name, layers=tuple(layers), growth=tuple(growth), stem=stem,
        stem_filters=stem_filters, attention=attention, bottleneck=bottleneck,
        compression=compression, variant=variant, loops=loops, refine_steps=refine_steps,
        dropout_rate=float(dropout_rate),
        default_input_shape=(32, 32, 3) if stem == "cifar" else (224, 224, 3),
        default_classes=10 if stem == "cifar" else 1000)


def cifar_layers_per_block(total_layers):
    """Layers per block from T, the layers of all three blocks (T = 3n, n >= 2)."""
    n, rest = divmod(total_layers, 3) if isinstance(total_layers, int) \
        and not isinstance(total_layers, bool) else (0, 1)
    if rest or n < 2:
        raise ValueError(f"CliqueNet T (layers in all three blocks) must be a multiple of 3, at "
                         f"least 6 (6, 9, 12, 15, 18, ...); got {total_layers!r}")
    return n


def cifar_spec(total_layers, growth_rate, **options) -> CliqueNetSpec:
    """``cliquenet-<T>-<k>``: three blocks of T/3 layers with k channels (CIFAR/SVHN)."""
    check_options("cliquenet-<T>-<k>", options, NAME_OPTIONS)
    n = cifar_layers_per_block(total_layers)
    check_positive_int("k (channels per layer)", growth_rate, "36, 64, 80")
    return cliquenet_spec((n, n, n), (growth_rate,) * 3, stem="cifar",
                          name=f"cliquenet-{total_layers}-{growth_rate}", **options)


def imagenet_spec(size, **options) -> CliqueNetSpec:
    """CliqueNet-S0 ... S3 for ImageNet: bottleneck, compression and attentional
    transitions switched on unless ``options`` say otherwise."""
    key = str(size).lower()
    if key not in IMAGENET_LAYOUTS:
        raise ValueError(f"CliqueNet ImageNet size must be one of "
                         f"{', '.join(IMAGENET_LAYOUTS)}; got {size!r}")
    check_options(f"cliquenet-{key}", options, NAME_OPTIONS)
    layers, growth = IMAGENET_LAYOUTS[key]
    options = {"attention": True, "bottleneck": True, "compression": True, **options}
    return cliquenet_spec(layers, growth, stem="imagenet", name=f"cliquenet-{key}", **options)


def CliqueNet(T, k, *, attention=False, bottleneck=False, compression=False, variant="II+II",
              loops=1, refine_steps=None, dropout_rate=None, **kwargs):
    """CliqueNet for CIFAR/SVHN (the paper's Table 3): three clique blocks of T/3 layers
    with k channels each, after a 3x3 convolution of 64 channels.

    Args:
        T: layers in all three blocks, a multiple of 3 (12, 15, 18).
        k: channels per layer (36, 64, 80).
        attention: attentional transitions (channel attention, Sec. 3.3).
        bottleneck: 1x1 inter-layer convolutions and a 3x3 convolution per layer.
        compression: halve each block feature with a 1x1 conv before global pooling.
        variant: ``"II+II"`` (the paper's net), ``"I+II"`` or ``"I+I"`` (Sec. 4.2 ablation).
        loops: Stage-II loops (1 in the paper).
        refine_steps: layers each Stage-II loop updates (None: all; the README's X).
        dropout_rate: dropout after every convolution (default 0.2, the paper's setting).
        **kwargs: the keras.applications arguments (32x32x3 inputs and 10 classes by
            default) and ``features_only``; ``drop_path_rate`` must stay 0.
    """
    spec = cifar_spec(T, k, attention=attention, bottleneck=bottleneck, compression=compression,
                      variant=variant, loops=loops, refine_steps=refine_steps,
                      dropout_rate=dropout_rate)
    return build_model(spec, **kwargs)


def CliqueNetFromLayout(layers, growth, *, stem="cifar", stem_filters=64, attention=False,
                        bottleneck=False, compression=False, variant="II+II", loops=1,
                        refine_steps=None, dropout_rate=None, **kwargs):
    """A CliqueNet with any number of blocks, layers and channels per block.

    ``layers`` and ``growth``: one entry per block, e.g. ``(5, 6, 6, 6)`` and
    ``(36, 64, 100, 80)``; ``stem``: ``"cifar"`` (3x3 conv) or ``"imagenet"`` (7x7/2 conv,
    BN, ReLU, 3x3/2 max-pool). Dropout defaults to 0.2 with the CIFAR stem and 0 with the
    ImageNet one (the reference code's settings). Other arguments as :func:`CliqueNet`.
    """
    spec = cliquenet_spec(layers, growth, stem=stem, stem_filters=stem_filters,
                          attention=attention, bottleneck=bottleneck, compression=compression,
                          variant=variant, loops=loops, refine_steps=refine_steps,
                          dropout_rate=dropout_rate)
    return build_model(spec, **kwargs)


def _fixed_size(size):
    name = f"CliqueNet{size.upper()}"

    def builder(*, attention=True, bottleneck=True, compression=True, dropout_rate=None,
                **kwargs):
        spec = imagenet_spec(size, attention=attention, bottleneck=bottleneck,
                             compression=compression, dropout_rate=dropout_rate)
        return build_model(spec, **kwargs)

    layers, growth = IMAGENET_LAYOUTS[size]
    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = (f"{name} for ImageNet: blocks of {layers} layers with {growth} channels "
                       "per layer, bottleneck, compression and attentional transitions; "
                       "224x224 inputs, 1000 classes. keras.applications arguments.")
    return builder


CliqueNetS0 = _fixed_size("s0")
CliqueNetS1 = _fixed_size("s1")
CliqueNetS2 = _fixed_size("s2")
CliqueNetS3 = _fixed_size("s3")


def _cifar_from_name(match, **options):
    return cifar_spec(int(match.group(1)), int(match.group(2)), **options)


def _imagenet_from_name(match, **options):
    return imagenet_spec(match.group(1), **options)


CLIQUENET_PAPER = ("Yang, Zhong, Shen, Lin: Convolutional Neural Networks with Alternately "
                   "Updated Clique, CVPR 2018 (arXiv:1802.10419)")

register_family(
    "cliquenet", r"cliquenet-(\d+)-(\d+)", _cifar_from_name,
    ["cliquenet-12-36", "cliquenet-15-64", "cliquenet-15-80", "cliquenet-18-80"],
    CLIQUENET_PAPER,
    # CIFAR-10 / CIFAR-100 / SVHN test error (%), no data augmentation, Table 3.
    {"cliquenet-12-36": "5.93 / 27.32 / 1.77", "cliquenet-15-64": "5.12 / 23.98 / 1.62",
     "cliquenet-15-80": "5.10 / 23.32 / 1.56", "cliquenet-18-80": "5.06 / 23.14 / 1.51"})
register_family("cliquenet", r"cliquenet-(s\d+)", _imagenet_from_name,
                [f"cliquenet-{size}" for size in IMAGENET_LAYOUTS], CLIQUENET_PAPER)

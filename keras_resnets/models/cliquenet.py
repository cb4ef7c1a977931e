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
from keras_resnets._checks import check_choice, check_options, check_positive_int
from keras_resnets.blocks.dense import CLIQUE_VARIANTS, CliqueOptions
from keras_resnets.builder import build_model
from keras_resnets.engine import NetworkSpec, Stage, Stem
from keras_resnets.families import PaperErrors, register_family

__all__ = ["CliqueNet", "CliqueNetFromLayout", "CliqueNetS0", "CliqueNetS1", "CliqueNetS2",
           "CliqueNetS3"]  # what keras_resnets exports

VARIANTS = CLIQUE_VARIANTS
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
class MultiScaleHead:
    """Multi-scale feature strategy (Sec. 3.2): every block's feature (the stage outputs,
    one per block) is pooled globally and the concatenation goes to the classifier.
    ``pooling`` gives that concatenated vector without the classifier; ``pooling=None`` the
    last block's feature map."""

    def __call__(self, spec, inputs, features, last, *, include_top, pooling, classes,
                 classifier_activation):
        maps = list(features.values())
        if not include_top and pooling not in ("avg", "max"):
            return maps[-1]
        kind = "avg" if include_top else pooling
        pooled = [P.GlobalPool(kind, name=f"block{b}_gp_{kind}_pool")(f)
                  for b, f in enumerate(maps, 1)]
        y = P.Concat(name=f"multiscale_{kind}_pool")(pooled) if len(pooled) > 1 else pooled[0]
        if not include_top:
            return y
        return P.Dense(classes, activation=classifier_activation, dtype="float32",
                       name="predictions")(y)


def _clique_options(layers, **options):
    """One :class:`~keras_resnets.blocks.dense.CliqueOptions` per block; the last block
    transits nothing."""
    result = []
    for b, n in enumerate(layers, 1):
        try:
            result.append(CliqueOptions(layers=n, transits=b < len(layers), **options))
        except ValueError as error:
            raise ValueError(f"{error} (block {b} of layers={tuple(layers)!r})") from None
    return result


def cliquenet_spec(layers, growth, *, stem="cifar", stem_filters=64, attention=False,
                   bottleneck=False, compression=False, variant="II+II", loops=1,
                   refine_steps=None, dropout_rate=None, name=None) -> NetworkSpec:
    """The spec behind :func:`CliqueNetFromLayout` (same arguments): stem -> clique blocks
    (``block{b}``) with attentional transitions (``trans{b}``) between them -> the
    multi-scale head. The typed options check the switches."""
    for argument, value in (("layers", layers), ("growth", growth)):
        if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)) or not value:
            raise ValueError(f"{argument} must be a non-empty sequence with one entry per "
                             f"block, e.g. layers=(4, 4, 4), growth=(36, 36, 36); got {value!r}")
    if len(layers) != len(growth):
        raise ValueError(f"layers and growth need one entry per block; got {len(layers)} and "
                         f"{len(growth)} entries ({layers!r}, {growth!r})")
    for k in growth:
        check_positive_int("growth (channels per layer k)", k, "36, 64, 80")
    check_choice("stem", stem, STEMS)
    check_positive_int("stem_filters", stem_filters, "64")
    if dropout_rate is None:
        dropout_rate = CIFAR_DROPOUT if stem == "cifar" else 0.0
    clique = _clique_options(layers, variant=variant, loops=loops, refine_steps=refine_steps,
                             bottleneck=bottleneck, compression=compression,
                             dropout_rate=dropout_rate)
    # The transitions keep the channels (the paper compresses the pooled features only).
    transition = B.TransitionOptions(compression=1.0, dropout_rate=dropout_rate,
                                     attention=attention)
    stages = []
    for b, (k, options) in enumerate(zip(growth, clique, strict=True), 1):
        stages.append(Stage(1, k, 1, kind="clique", options=options, name=f"block{b}"))
        if options.transits:
            stages.append(Stage(1, None, 2, kind="transition", options=transition,
                                name=f"trans{b}"))
    if name is None:
        name = f"cliquenet-{sum(layers)}-{growth[0]}" if len(set(growth)) == 1 \
            else "cliquenet-" + "-".join(map(str, growth))
    return NetworkSpec(
        name=name, stages=tuple(stages),
        # CIFAR: the reference's first layer is a bare 3x3 conv (the first block's
        # pre-activation BN follows it); ImageNet: 7x7/2 conv, BN, ReLU, 3x3/2 max-pool.
        stem=Stem(stem, stem_filters, batch_norm=stem == "imagenet", pool_name="pool1"),
        head=MultiScaleHead(),
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


def cifar_spec(total_layers, growth_rate, **options) -> NetworkSpec:
    """``cliquenet-<T>-<k>``: three blocks of T/3 layers with k channels (CIFAR/SVHN)."""
    check_options("cliquenet-<T>-<k>", options, NAME_OPTIONS)
    n = cifar_layers_per_block(total_layers)
    check_positive_int("k (channels per layer)", growth_rate, "36, 64, 80")
    return cliquenet_spec((n, n, n), (growth_rate,) * 3, stem="cifar",
                          name=f"cliquenet-{total_layers}-{growth_rate}", **options)


def imagenet_spec(size, **options) -> NetworkSpec:
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
            default), ``features_only`` and ``remat`` (gradient checkpointing of every
            block, see :func:`keras_resnets.build_model`); ``drop_path_rate`` must stay 0.
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
    PaperErrors("Yang et al. 2018, Table 3, no data augmentation", ("CIFAR-10", "CIFAR-100", "SVHN"),
                {"cliquenet-12-36": ("5.93", "27.32", "1.77"),
                 "cliquenet-15-64": ("5.12", "23.98", "1.62"),
                 "cliquenet-15-80": ("5.10", "23.32", "1.56"),
                 "cliquenet-18-80": ("5.06", "23.14", "1.51")}))
register_family("cliquenet-imagenet", r"cliquenet-(s\d+)", _imagenet_from_name,
                [f"cliquenet-{size}" for size in IMAGENET_LAYOUTS], CLIQUENET_PAPER)

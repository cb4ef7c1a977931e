"""Densely connected networks (Huang, Liu, van der Maaten, Weinberger: CVPR 2017).

Every layer of a dense block receives the concatenation of all the block's earlier
outputs and adds ``growth_rate`` (k) channels; transitions between blocks (BN -> ReLU ->
1x1 conv -> 2x2 average pooling) compress the channels by ``compression`` (theta).

- ImageNet: DenseNet121/169/201 (k=32) follow keras.applications layer for layer, so
  Keras's own ImageNet files load; DenseNet161 (k=48, 96 stem channels) and DenseNet264.
- CIFAR: ``densenet-<L>-<k>`` (plain: no bottleneck, no compression, 16 stem channels,
  ``(L - 4) / 3`` layers per block) and ``densenet-bc-<L>-<k>`` (bottleneck and
  compression 0.5, 2k stem channels, ``(L - 4) / 6`` layers per block).

Example::

    model = DenseNet121()                                   # keras.applications compatible
    model = create_model("densenet-bc-100-12")              # 769,162 parameters, 10 classes
    model = DenseNet((16, 16, 16), 12, stem="cifar", bottleneck=False, compression=1.0)
"""

from __future__ import annotations

from keras_resnets import blocks as B
from keras_resnets._checks import check_choice, check_options, check_positive_int
from keras_resnets.builder import build_model
from keras_resnets.engine import NetworkSpec, Stage, Stem
from keras_resnets.families import PaperErrors, TuningAxes, register_family

__all__ = ["DenseNet", "DenseNet121", "DenseNet161", "DenseNet169", "DenseNet201",
           "DenseNet264"]  # what keras_resnets exports

IMAGENET_LAYOUTS = {
    121: ((6, 12, 24, 16), 32),
    161: ((6, 12, 36, 24), 48),
    169: ((6, 12, 32, 32), 32),
    201: ((6, 12, 48, 32), 32),
    264: ((6, 12, 64, 48), 32),
}
"""DenseNet depth -> (layers per block, growth rate), Huang et al. Table 1 (161: the
authors' Torch release, as torchvision)."""
KERAS_DEPTHS = (121, 169, 201)
STEMS = ("imagenet", "cifar")
IMAGENET_OPTIONS = ("dropout_rate", "compression", "bottleneck_width", "initial_filters")
CIFAR_OPTIONS = ("dropout_rate", "initial_filters")


def _stages(blocks, growth_rate, layer, transition) -> tuple:
    """The stages of a DenseNet: each dense block is a stage of ``"dense_layer"`` blocks
    (``conv{b}_block{i}``), a ``"transition"`` (``pool{b}``) follows every block but the
    last, and the final BN-ReLU (``bn``, ``relu``) closes the features, all named as
    keras.applications. ``layer``/``transition``: their typed options."""
    stages = []
    for number, layers in enumerate(blocks, 2):
        stages.append(Stage(layers, growth_rate, 1, kind="dense_layer", options=layer,
                            name=f"conv{number}_block{{block}}"))
        if number - 1 < len(blocks):
            stages.append(Stage(1, None, 2, kind="transition", options=transition,
                                name=f"pool{number}"))
    return (*stages, Stage(1, None, 1, kind="final_bn_relu", name=""))


def densenet_spec(blocks, growth_rate, *, bottleneck=True, compression=0.5, dropout_rate=0.0,
                  stem="imagenet", initial_filters=None, bottleneck_width=4,
                  name=None) -> NetworkSpec:
    """The spec behind :func:`DenseNet` (same arguments): stem -> (dense block ->
    transition) x N -> dense block -> BN -> ReLU -> classifier."""
    if isinstance(blocks, (str, bytes)) or not isinstance(blocks, (tuple, list)) or not blocks:
        raise ValueError(f"blocks must be a non-empty sequence of layers per dense block, e.g. "
                         f"(6, 12, 24, 16) for DenseNet-121 or (16, 16, 16) for CIFAR; "
                         f"got {blocks!r}")
    for layers in blocks:
        check_positive_int("blocks (layers per dense block)", layers, "6, 12, 16")
    check_positive_int("growth_rate", growth_rate, "12, 24, 32, 40, 48")
    check_choice("stem", stem, STEMS)
    # The typed options check bottleneck, bottleneck_width, compression and dropout_rate.
    layer = B.DenseLayerOptions(bottleneck=bottleneck, bottleneck_width=bottleneck_width,
                                dropout_rate=dropout_rate)
    transition = B.TransitionOptions(compression=compression, dropout_rate=dropout_rate)
    if initial_filters is None:
        # Huang et al. Sec. 3-4: 2k stem channels for the ImageNet nets and DenseNet-BC,
        # 16 for the plain CIFAR DenseNet.
        initial_filters = 2 * growth_rate if stem == "imagenet" or bottleneck else 16
    check_positive_int("initial_filters", initial_filters, "16, 24, 64, 96")
    blocks = tuple(blocks)
    depth = _depth(blocks, bottleneck)
    keras_depth = next((d for d in KERAS_DEPTHS if IMAGENET_LAYOUTS[d] == (blocks, growth_rate)),
                       None)
    keras_compatible = (keras_depth is not None and stem == "imagenet" and bottleneck
                        and compression == 0.5 and not dropout_rate and initial_filters == 64
                        and bottleneck_width == 4)
    if name is None:
        variant = ("b" if bottleneck else "") + ("c" if compression < 1 else "")
        name = f"densenet-{variant + '-' if variant else ''}{depth}-{growth_rate}"
    return NetworkSpec(
        name=name,
        stages=_stages(blocks, growth_rate, layer, transition),
        # keras.applications: 7x7/2 conv, BN, ReLU, 3x3/2 max-pool "pool1"; CIFAR: a bare
        # 3x3 conv whose output the first dense layer's BN normalises.
        stem=Stem(stem, initial_filters, batch_norm=stem == "imagenet", pool_name="pool1"),
        style=B.KERAS_DENSENET_STYLE if keras_compatible else B.DEFAULT_STYLE,
        default_input_shape=(224, 224, 3) if stem == "imagenet" else (32, 32, 3),
        default_classes=1000 if stem == "imagenet" else 10,
        keras_weights=f"densenet{keras_depth}" if keras_compatible else None,
    )


def _depth(blocks, bottleneck):
    """Weighted layers as the paper counts them: convs in the dense layers, the stem conv,
    one per transition and the classifier."""
    return sum(blocks) * (2 if bottleneck else 1) + len(blocks) + 1


def DenseNet(blocks, growth_rate, *, bottleneck=True, compression=0.5, dropout_rate=0.0,
             stem="imagenet", initial_filters=None, bottleneck_width=4, **kwargs):
    """A DenseNet with any block layout.

    Args:
        blocks: layers per dense block, e.g. ``(6, 12, 24, 16)`` (DenseNet-121) or
            ``(16, 16, 16)`` (DenseNet-BC-100 on CIFAR).
        growth_rate: k, the channels each layer adds (12, 24, 32, 40, 48).
        bottleneck: DenseNet-B layers (1x1 conv to ``bottleneck_width * k`` before the 3x3).
        compression: theta, the transitions' channel factor (0.5 for DenseNet-C/BC, 1.0 for
            none).
        dropout_rate: dropout after every convolution (the paper: 0.2 on CIFAR and SVHN
            without data augmentation).
        stem: ``"imagenet"`` (7x7/2 conv, BN, ReLU, 3x3/2 max-pool; 224x224 inputs, 1000
            classes) or ``"cifar"`` (one 3x3 conv; 32x32 inputs, 10 classes).
        initial_filters: stem channels (default 2k, and 16 for a CIFAR net without
            bottleneck, as in the paper).
        bottleneck_width: the bottleneck's channels in units of k (4 in the paper).
        **kwargs: the keras.applications arguments (``include_top``, ``weights``,
            ``input_tensor``, ``input_shape``, ``pooling``, ``classes``,
            ``classifier_activation``, ``name``), ``features_only`` and ``remat``
            (gradient checkpointing of every dense layer); ``drop_path_rate`` must stay 0 (dense nets have no residual branches).
    """
    spec = densenet_spec(blocks, growth_rate, bottleneck=bottleneck, compression=compression,
                         dropout_rate=dropout_rate, stem=stem, initial_filters=initial_filters,
                         bottleneck_width=bottleneck_width)
    return build_model(spec, **kwargs)


def imagenet_spec(depth, **options) -> NetworkSpec:
    """DenseNet-121/161/169/201/264 (Huang et al. Table 1)."""
    if depth not in IMAGENET_LAYOUTS:
        raise ValueError(f"DenseNet ImageNet depth must be one of "
                         f"{', '.join(map(str, IMAGENET_LAYOUTS))}; got {depth!r} (CIFAR "
                         "DenseNets are 'densenet-<L>-<k>' and 'densenet-bc-<L>-<k>')")
    check_options(f"densenet{depth}", options, IMAGENET_OPTIONS)
    blocks, growth = IMAGENET_LAYOUTS[depth]
    # DenseNet-264 has 265 weighted layers by the paper's own count; keep its name.
    return densenet_spec(blocks, growth, name=f"densenet{depth}", **options)


def _fixed_depth(depth):
    name = f"DenseNet{depth}"

    def builder(*, dropout_rate=0.0, **kwargs):
        return build_model(imagenet_spec(depth, dropout_rate=dropout_rate), **kwargs)

    blocks, growth = IMAGENET_LAYOUTS[depth]
    compatible = (" Layer for layer as keras.applications, so ``weights='imagenet'`` loads "
                  "Keras's file." if depth in KERAS_DEPTHS else "")
    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = (f"{name}: dense blocks {blocks}, growth rate {growth}, 224x224 ImageNet "
                       f"inputs.{compatible} Takes the keras.applications arguments and "
                       "``dropout_rate``, ``features_only``.")
    return builder


DenseNet121 = _fixed_depth(121)
DenseNet161 = _fixed_depth(161)
DenseNet169 = _fixed_depth(169)
DenseNet201 = _fixed_depth(201)
DenseNet264 = _fixed_depth(264)


def cifar_layers_per_block(depth, bottleneck):
    """Layers per dense block from the depth L, as the paper: three blocks, a stem conv,
    two transitions and the classifier, so ``L = 3 * n * c + 4`` with ``c`` = 2 convs per
    layer for DenseNet-BC and 1 for the plain DenseNet."""
    per_layer = 2 if bottleneck else 1
    n, rest = divmod(depth - 4, 3 * per_layer) if not isinstance(depth, bool) \
        and isinstance(depth, int) else (0, 1)
    if rest or n < 1:
        step = 3 * per_layer
        examples = ", ".join(str(step * i + 4) for i in (1, 2, 3)) + (
            ", 100, 190, 250" if bottleneck else ", 40, 100")
        kind = "DenseNet-BC" if bottleneck else "DenseNet (no bottleneck)"
        raise ValueError(f"{kind} depth L must be {step}n+4 ({examples}, ...); got {depth!r}")
    return n


def cifar_spec(depth, growth_rate, *, bc=True, **options) -> NetworkSpec:
    """``densenet-bc-<L>-<k>`` (``bc=True``) or ``densenet-<L>-<k>`` on 32x32 CIFAR images;
    ``options``: ``dropout_rate``, ``initial_filters``."""
    model = f"densenet-{'bc-' if bc else ''}<L>-<k>"
    check_options(model, options, CIFAR_OPTIONS)
    n = cifar_layers_per_block(depth, bc)
    return densenet_spec((n, n, n), growth_rate, bottleneck=bc, compression=0.5 if bc else 1.0,
                         stem="cifar", **options)


def _imagenet_from_name(match, **options):
    return imagenet_spec(int(match.group(1)), **options)


def _cifar_from_name(bc):
    def factory(match, **options):
        return cifar_spec(int(match.group(1)), int(match.group(2)), bc=bc, **options)

    return factory


DENSENET_PAPER = ("Huang, Liu, van der Maaten, Weinberger: Densely Connected Convolutional "
                  "Networks, CVPR 2017 (arXiv:1608.06993)")
DENSENET_CIFAR_SOURCE = "Huang et al. 2017, Table 2, standard augmentation (C10+, C100+)"

register_family(
    "densenet", r"densenet(\d+)", _imagenet_from_name,
    ["densenet121", "densenet161", "densenet169", "densenet201", "densenet264"],
    DENSENET_PAPER,
    PaperErrors("Huang et al. 2017, Table 3, single crop", ("ImageNet top-1", "ImageNet top-5"),
                {"densenet121": ("25.02", "7.71"), "densenet169": ("23.80", "6.85"),
                 "densenet201": ("22.58", "6.34"), "densenet264": ("22.15", "6.12")}))
register_family(
    "densenet-bc", r"densenet-bc-(\d+)-(\d+)", _cifar_from_name(True),
    ["densenet-bc-100-12", "densenet-bc-250-24", "densenet-bc-190-40"], DENSENET_PAPER,
    PaperErrors(DENSENET_CIFAR_SOURCE, ("CIFAR-10", "CIFAR-100"),
                {"densenet-bc-100-12": ("4.51", "22.27"), "densenet-bc-250-24": ("3.62", "17.60"),
                 "densenet-bc-190-40": ("3.46", "17.18")}),
    tuning=TuningAxes("densenet-bc", "growth rate k", (40, 64, 100, 136, 190),
                      (12, 16, 24, 32, 40),
                      lambda depth, width, _: f"densenet-bc-{depth}-{int(width)}",
                      recipe="densenet", iso_integer=True, iso_max=256))
register_family(
    "densenet-cifar", r"densenet-(\d+)-(\d+)", _cifar_from_name(False),
    ["densenet-40-12", "densenet-100-12", "densenet-100-24"], DENSENET_PAPER,
    PaperErrors(DENSENET_CIFAR_SOURCE, ("CIFAR-10", "CIFAR-100"),
                {"densenet-40-12": ("5.24", "24.42"), "densenet-100-12": ("4.10", "20.20"),
                 "densenet-100-24": ("3.74", "19.25")}))

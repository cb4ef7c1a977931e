"""ResNet v1 (He et al., 2015) and pre-activation ResNet v2 (He et al., 2016).

ImageNet depths 18-200 and CIFAR depths 6n+2 (basic blocks) or 9n+2 (pre-activation
bottlenecks, e.g. 164 and 1001). ResNet50/101/152 and their V2 versions follow
keras.applications layer for layer, so Keras's ImageNet files load into them.

Example::

    model = ResNet50()                                   # keras.applications compatible
    cifar = ResNet(56, stem="cifar")                     # option-A shortcuts, 10 classes
    plain = ResNet(20, stem="cifar", shortcut="none")    # the paper's plain net
    timm = ResNet50V2(stride_at_end=False, padding="torch")   # timm's resnetv2_50
"""

from __future__ import annotations

import dataclasses

from keras_resnets import blocks as B
from keras_resnets._checks import (
    check_bool,
    check_choice,
    check_imagenet_padding,
    check_keywords,
    check_positive_int,
    check_width,
    min_width,
    scaled,
)
from keras_resnets.builder import build_model
from keras_resnets.engine import NetworkSpec, Stage
from keras_resnets.families import PaperErrors, TuningAxes, format_number, register_family
from keras_resnets.models.layouts import IMAGENET_BLOCKS, IMAGENET_STRIDES, IMAGENET_WIDTHS

__all__ = ["ResNet", "ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152", "ResNet200",
           "ResNet18V2", "ResNet34V2", "ResNet50V2", "ResNet101V2", "ResNet152V2",
           "ResNet200V2"]  # what keras_resnets exports

IMAGENET_LAYOUTS = {depth: ("basic" if depth < 50 else "bottleneck", blocks)
                    for depth, blocks in IMAGENET_BLOCKS.items()}
KERAS_DEPTHS = (50, 101, 152)
VERSIONS = (1, 1.5, 2)
CIFAR_BASIC_EXAMPLES = "20, 32, 44, 56, 110, 1202"
CIFAR_BOTTLENECK_EXAMPLES = "164, 1001"
PADDINGS = ("keras", "torch")


def _cifar_block(depth, version, block):
    if block in ("basic", "bottleneck"):
        return block
    if block is None and version == 2 and (depth >= 164 or (depth - 2) % 6):
        return "bottleneck"
    return "basic"


def _cifar_blocks_per_stage(depth, block):
    per_block = 3 if block == "bottleneck" else 2
    n, rest = divmod(depth - 2, 3 * per_block)
    if rest or n < 1:
        rule, examples = (("9n+2", CIFAR_BOTTLENECK_EXAMPLES) if per_block == 3
                          else ("6n+2", CIFAR_BASIC_EXAMPLES))
        raise ValueError(f"CIFAR ResNet depth with {block} blocks must be {rule} "
                         f"({examples}, ...); got {depth} (ImageNet depths, stem='imagenet': "
                         f"{', '.join(map(str, IMAGENET_LAYOUTS))})")
    return n


def resnet_spec(depth, *, version=1, stem="imagenet", width=1.0, shortcut=None, block=None,
                se_ratio=0.0, stride_at_end=None, padding="keras") -> NetworkSpec:
    """The spec behind :func:`ResNet` (same arguments)."""
    check_positive_int("depth", depth, f"18, 50 with stem='imagenet'; {CIFAR_BASIC_EXAMPLES} "
                                       "with stem='cifar'")
    check_choice("version", version, VERSIONS)
    check_choice("stem", stem, ("imagenet", "cifar"))
    check_width("width", width)
    check_choice("padding", padding, PADDINGS)
    if stride_at_end is not None:
        check_bool("stride_at_end", stride_at_end)
    else:
        stride_at_end = version == 2 and stem == "imagenet"
    if isinstance(block, str):
        check_choice("block", block, tuple(B.RESIDUAL_BLOCKS))
    layout_block = block if block in (None, "basic", "bottleneck") else "custom"
    preact = version == 2
    options = {"se_ratio": se_ratio} if se_ratio else {}
    if stem == "imagenet":
        if depth not in IMAGENET_LAYOUTS:
            raise ValueError(f"ResNet depth for stem='imagenet' must be one of "
                             f"{', '.join(map(str, IMAGENET_LAYOUTS))}; got {depth!r} "
                             "(CIFAR depths such as 20 or 56 need stem='cifar')")
        kind, counts = IMAGENET_LAYOUTS[depth]
        kind = layout_block if layout_block in ("basic", "bottleneck") else kind
        filters = IMAGENET_WIDTHS
        strides = (2, 2, 2, 1) if stride_at_end else IMAGENET_STRIDES
        stem_filters, input_shape, classes = 64, (224, 224, 3), 1000
        shortcut = shortcut or "B"
    else:
        kind = _cifar_block(depth, version, block)
        n = _cifar_blocks_per_stage(depth, kind)
        counts, filters, strides = (n, n, n), (16, 32, 64), (1, 2, 2)
        stem_filters, input_shape, classes = 16, (32, 32, 3), 10
        shortcut = shortcut or ("A" if kind == "basic" and not preact else "B")
    check_width("width", width, narrowest=min(filters + (stem_filters,)))
    keras_compatible = (stem == "imagenet" and depth in KERAS_DEPTHS and version in (1, 2)
                        and width == 1 and shortcut == "B" and not se_ratio and block is None
                        and stride_at_end == (preact and stem == "imagenet"))
    if version == 1.5:
        options["stride_in"] = "3x3"
    if layout_block == "custom":
        block_kind = block
    else:
        block_kind = ("preact" if kind == "basic" else "preact_bottleneck") if preact else kind
    if block_kind != "bottleneck":
        options.pop("stride_in", None)
    # the registry name of this network (a CIFAR v2 net is the preact family's)
    name = (f"preact-resnet{depth}" if preact and stem == "cifar"
            else f"resnet{depth}{ {1: '', 1.5: '-v1.5', 2: 'v2'}[version]}")
    style = ((B.KERAS_V2_STYLE if preact else B.KERAS_V1_STYLE) if keras_compatible
             else B.DEFAULT_STYLE)
    return NetworkSpec.residual(
        name=name,
        block=block_kind,
        stages=tuple(Stage(c, scaled(f, width), s) for c, f, s in zip(counts, filters, strides)),
        stem=stem,
        stem_filters=scaled(stem_filters, width),
        preact=preact,
        style=dataclasses.replace(style, padding=padding),
        shortcut=shortcut,
        stride_at_end=stride_at_end,
        block_options=options,
        default_input_shape=input_shape,
        default_classes=classes,
        keras_weights=f"resnet{depth}{'v2' if preact else ''}"
        if keras_compatible and padding == "keras" else None,
    )


def ResNet(depth, *, version=1, stem="imagenet", width=1.0, shortcut=None, block=None,
           se_ratio=0.0, stride_at_end=None, padding="keras", **kwargs):
    """A ResNet of any published depth.

    Args:
        depth: ImageNet 18, 34, 50, 101, 152, 200; CIFAR 6n+2 (basic blocks) or 9n+2
            (pre-activation bottlenecks, ``version=2``: 164, 1001).
        version: 1 (He et al. 2015, stride in the first 1x1 as keras.applications),
            1.5 (stride in the 3x3, torchvision) or 2 (pre-activation, He et al. 2016;
            ImageNet V2 nets follow keras.applications: stride in each stage's last block).
        stem: ``"imagenet"`` (7x7/2 conv + max-pool, 224x224 inputs) or ``"cifar"``
            (3x3 conv, 32x32 inputs, 16-32-64 channels).
        width: multiplier of every stage's channels.
        shortcut: ``"A"`` (zero-padding, CIFAR v1 default), ``"B"`` (1x1 projections)
            or ``"none"`` (the plain counterpart of the degradation experiment).
        block: ``"basic"`` or ``"bottleneck"`` (the paper's blocks, pre-activation ones
            when ``version=2``; default: the depth's own, and for CIFAR v2 bottleneck when
            depth >= 164), or any other name of
            :data:`keras_resnets.blocks.RESIDUAL_BLOCKS` or a block function, used as is.
        se_ratio: squeeze-and-excitation on every block when > 0 (e.g. 0.25).
        stride_at_end: each stage strides in its last block (True) or its first (False);
            default: the last for ImageNet ``version=2`` (keras.applications ResNetV2),
            the first otherwise.
        padding: how the stem's max-pool pads: ``"keras"`` (zeros, keras.applications)
            or ``"torch"`` (``-inf``, PyTorch's ``MaxPool2d(3, 2, 1)``). They differ only
            where the stem has no ReLU (``version=2``). ``version=2, stride_at_end=False,
            padding="torch"`` is timm's ``resnetv2_50``, whose checkpoints then give its
            outputs::

                ResNet50V2(stride_at_end=False, padding="torch", weights="timm/a1h_in1k")
        **kwargs: the keras.applications arguments (``include_top``, ``weights``,
            ``input_tensor``, ``input_shape``, ``pooling``, ``classes``,
            ``classifier_activation``, ``name``) plus ``drop_path_rate``,
            ``features_only`` and ``remat`` (gradient checkpointing of every block: for
            preact-ResNet-1001 or large batches that do not fit otherwise).
    """
    spec = resnet_spec(depth, version=version, stem=stem, width=width, shortcut=shortcut,
                       block=block, se_ratio=se_ratio, stride_at_end=stride_at_end,
                       padding=padding)
    check_imagenet_padding("ResNet", padding, kwargs.get("weights"))
    return build_model(spec, **kwargs)


def _fixed_depth(depth, version):
    name = f"ResNet{depth}{'V2' if version == 2 else ''}"

    def builder(**kwargs):
        return ResNet(depth, version=version, **kwargs)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = (f"{name}: ``ResNet({depth}, version={version})`` on 224x224 ImageNet "
                       "inputs; takes the keras.applications arguments.")
    return builder


ResNet18, ResNet34, ResNet50, ResNet101, ResNet152, ResNet200 = (
    _fixed_depth(d, 1) for d in IMAGENET_LAYOUTS)
ResNet18V2, ResNet34V2, ResNet50V2, ResNet101V2, ResNet152V2, ResNet200V2 = (
    _fixed_depth(d, 2) for d in IMAGENET_LAYOUTS)


def _resnet_from_name(match, **options):
    check_keywords(match.group(0), options, resnet_spec, skip=("depth",))
    depth, v2, width = int(match.group(1)), bool(match.group(2)), match.group(3)
    stem = "imagenet" if depth in IMAGENET_LAYOUTS else "cifar"
    if width is not None:
        width = float(width)
        options = {"width": int(width) if width.is_integer() else width, **options}
    return resnet_spec(depth, **{"version": 2 if v2 else 1, "stem": stem, **options})


def _preact_from_name(match, **options):
    check_keywords(match.group(0), options, resnet_spec, skip=("depth",))
    return resnet_spec(int(match.group(1)), **{"version": 2, "stem": "cifar", **options})


HE_2015 = "He, Zhang, Ren, Sun: Deep Residual Learning for Image Recognition, CVPR 2016 (arXiv:1512.03385)"
HE_2016 = "He, Zhang, Ren, Sun: Identity Mappings in Deep Residual Networks, ECCV 2016 (arXiv:1603.05027)"

register_family(
    "resnet", r"resnet(\d+)(v2)?(?:-w(\d+(?:\.\d+)?))?", _resnet_from_name,
    [f"resnet{d}" for d in IMAGENET_LAYOUTS] + [f"resnet{d}v2" for d in IMAGENET_LAYOUTS]
    + [f"resnet{d}" for d in (20, 32, 44, 56, 110, 1202)],
    HE_2015,
    PaperErrors("He et al. 2015, Table 6", ("CIFAR-10",),
                {"resnet20": ("8.75",), "resnet32": ("7.51",), "resnet44": ("7.17",),
                 "resnet56": ("6.97",), "resnet110": ("6.43",), "resnet1202": ("7.93",)}),
    tuning=TuningAxes("resnet", "width multiplier", (20, 32, 44, 56, 110), tuple(range(1, 9)),
                      lambda depth, width, _: f"resnet{depth}-w{format_number(width)}",
                      recipe="resnet-cifar", iso_min=min_width(16)))
register_family(
    "preact-resnet", r"preact-resnet(\d+)", _preact_from_name,
    ["preact-resnet164", "preact-resnet1001"], HE_2016,
    PaperErrors("He et al. 2016, Table 4", ("CIFAR-10", "CIFAR-100"),
                {"preact-resnet164": ("5.46", "24.33"), "preact-resnet1001": ("4.92", "22.71")}))


def _v15_from_name(match, **options):
    check_keywords(match.group(0), options, resnet_spec, skip=("depth", "version"))
    depth = int(match.group(1))
    if depth not in IMAGENET_LAYOUTS:
        raise ValueError(f"ResNet v1.5 is an ImageNet layout: depth must be one of "
                         f"{', '.join(map(str, IMAGENET_LAYOUTS))}; got {depth} "
                         "(e.g. 'resnet50-v1.5')")
    return resnet_spec(depth, **{"version": 1.5, **options})


register_family(
    "resnet-v1.5", r"resnet(\d+)-v1\.5", _v15_from_name,
    ["resnet50-v1.5", "resnet101-v1.5", "resnet152-v1.5"], HE_2015)

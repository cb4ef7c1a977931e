"""ResNeXt: aggregated residual transformations (Xie et al., CVPR 2017).

Bottlenecks whose 3x3 is a grouped convolution (``Conv2D(groups=cardinality)``,
never a slice-and-concatenate), stride in the 3x3 as in the authors' code.
ImageNet depths 50/101/152; CIFAR depth 9n+2 (ResNeXt-29: 3 stages of 3 blocks,
64-channel stem, outputs of 256, 512 and 1024 channels).

Example::

    model = ResNeXt50()                               # 32x4d, 25,028,904 parameters
    model = ResNeXt(29, 16, 64, stem="cifar")         # ResNeXt-29 16x64d
"""

from __future__ import annotations

from keras_resnets._checks import check_choice, check_keywords, check_positive_int
from keras_resnets.builder import build_model
from keras_resnets.engine import NetworkSpec, Stage
from keras_resnets.families import PaperErrors, TuningAxes, register_family
from keras_resnets.models.layouts import IMAGENET_BLOCKS, IMAGENET_STRIDES, IMAGENET_WIDTHS

__all__ = ["ResNeXt", "ResNeXt29", "ResNeXt50", "ResNeXt101"]  # what keras_resnets exports

IMAGENET_DEPTHS = (50, 101, 152)


def resnext_spec(depth, cardinality, bottleneck_width, *, stem=None) -> NetworkSpec:
    """The spec behind :func:`ResNeXt` (same arguments)."""
    check_positive_int("depth", depth, "50, 101, 152; 29 with stem='cifar'")
    check_positive_int("cardinality", cardinality, "8, 16, 32")
    check_positive_int("bottleneck_width", bottleneck_width, "4, 8, 64")
    stem = stem or ("cifar" if depth not in IMAGENET_DEPTHS else "imagenet")
    check_choice("stem", stem, ("imagenet", "cifar"))
    common = dict(block="bottleneck", shortcut="B",
                  block_options={"base_width": bottleneck_width, "groups": cardinality,
                                 "stride_in": "3x3"})
    name = f"resnext{depth}-{cardinality}x{bottleneck_width}d"
    if stem == "imagenet":
        if depth not in IMAGENET_DEPTHS:
            raise ValueError(f"ResNeXt depth for stem='imagenet' must be 50, 101 or 152; "
                             f"got {depth!r}")
        stages = tuple(Stage(c, f, s) for c, f, s in
                       zip(IMAGENET_BLOCKS[depth], IMAGENET_WIDTHS, IMAGENET_STRIDES))
        return NetworkSpec.residual(name=name, stages=stages, **common)
    n, rest = divmod(depth - 2, 9) if isinstance(depth, int) else (0, 1)
    if rest or n < 1:
        raise ValueError(f"CIFAR ResNeXt depth must be 9n+2 (11, 20, 29, ...); got {depth!r}")
    stages = (Stage(n, 64, 1), Stage(n, 128, 2), Stage(n, 256, 2))
    return NetworkSpec.residual(name=name, stages=stages, stem="cifar", stem_filters=64,
                        default_input_shape=(32, 32, 3), default_classes=10, **common)


def ResNeXt(depth, cardinality, bottleneck_width, *, stem=None, **kwargs):
    """ResNeXt-``depth`` (``cardinality`` x ``bottleneck_width``d).

    Args:
        depth: 50, 101, 152 (ImageNet) or 9n+2 such as 29 (CIFAR).
        cardinality: number of groups of the 3x3 convolutions (C).
        bottleneck_width: channels per group in the first stage (d).
        stem: ``"imagenet"`` or ``"cifar"``; default from the depth.
        **kwargs: keras.applications arguments, ``drop_path_rate``, ``features_only``
            and ``remat`` (gradient checkpointing of every block).
    """
    return build_model(resnext_spec(depth, cardinality, bottleneck_width, stem=stem), **kwargs)


def ResNeXt50(**kwargs):
    """ResNeXt-50 32x4d for ImageNet."""
    return ResNeXt(50, 32, 4, **kwargs)


def ResNeXt101(cardinality=32, bottleneck_width=8, **kwargs):
    """ResNeXt-101, 32x8d by default (32x4d by arguments)."""
    return ResNeXt(101, cardinality, bottleneck_width, **kwargs)


def ResNeXt29(cardinality=16, bottleneck_width=64, **kwargs):
    """CIFAR ResNeXt-29, 16x64d by default (8x64d by arguments)."""
    return ResNeXt(29, cardinality, bottleneck_width, stem="cifar", **kwargs)


def _resnext_from_name(match, **options):
    check_keywords(match.group(0), options, resnext_spec,
                   skip=("depth", "cardinality", "bottleneck_width"))
    return resnext_spec(*(int(g) for g in match.groups()), **options)


register_family(
    "resnext", r"resnext(\d+)-(\d+)x(\d+)d", _resnext_from_name,
    ["resnext50-32x4d", "resnext101-32x8d", "resnext101-32x4d", "resnext29-8x64d",
     "resnext29-16x64d"],
    "Xie, Girshick, Dollar, Tu, He: Aggregated Residual Transformations for Deep Neural "
    "Networks, CVPR 2017 (arXiv:1611.05431)",
    PaperErrors("Xie et al. 2017, Table 7", ("CIFAR-10", "CIFAR-100"),
                {"resnext29-8x64d": ("3.65", "17.77"), "resnext29-16x64d": ("3.58", "17.31")}),
    tuning=TuningAxes("resnext", "bottleneck width d", (11, 20, 29), (4, 8, 16, 32, 64),
                      lambda depth, width, cardinality: f"resnext{depth}-{cardinality}x{width}d",
                      recipe="resnet-cifar", cardinalities=(1, 2, 4, 8, 16, 32),
                      iso_integer=True, iso_max=512))

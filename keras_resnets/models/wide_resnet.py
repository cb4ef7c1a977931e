"""Wide Residual Networks (Zagoruyko & Komodakis, BMVC 2016).

WRN-d-k: a 3x3 stem of 16 channels, three groups of pre-activation blocks with
16k, 32k and 64k channels, dropout between the convolutions, 1x1 projections where
the shape changes, then BN-ReLU, global pooling and the classifier. ``block_type``
picks the paper's block types (its Table 1) and ``deepening`` its factor l (Table 3).

Example::

    model = WideResNet(28, 10)                       # WRN-28-10: 36,479,194 trainable parameters
    model = WideResNet(40, 4, dropout_rate=0.3, classes=100)
    model = WideResNet(22, 2, block_type="B(3,1,3)")
"""

from __future__ import annotations

import re

from keras_resnets import blocks as B
from keras_resnets._checks import (
    check_keywords,
    check_options,
    check_positive_int,
    check_rate,
    check_width,
    min_width,
    scaled,
)
from keras_resnets.builder import build_model
from keras_resnets.engine import NetworkSpec, Stage
from keras_resnets.families import PaperErrors, TuningAxes, format_number, register_family
from keras_resnets.models.layouts import IMAGENET_BLOCKS, IMAGENET_STRIDES, IMAGENET_WIDTHS

__all__ = ["WideResNet", "WideResNet50_2", "WideResNet101_2"]  # what keras_resnets exports

BLOCK_TYPES = {
    "B(3,3)": (3, 3),
    "B(3,1,3)": (3, 1, 3),
    "B(1,3,1)": (1, 3, 1),
    "B(1,3)": (1, 3),
    "B(3,1)": (3, 1),
    "B(3,1,1)": (3, 1, 1),
}


def _kernels(block_type, deepening):
    key = re.sub(r"\s+", "", str(block_type)).upper()
    if key not in BLOCK_TYPES:
        raise ValueError(f"block_type must be one of {', '.join(BLOCK_TYPES)}; "
                         f"got {block_type!r}")
    if deepening is None:
        return BLOCK_TYPES[key]
    check_positive_int("deepening", deepening, "1, 2, 3, 4")
    if key != "B(3,3)":
        raise ValueError(f"deepening (the paper's l) repeats 3x3 convolutions and goes with "
                         f"block_type='B(3,3)'; got block_type={block_type!r}")
    return (3,) * deepening


def blocks_per_group(depth, convs_per_block=2):
    """Blocks per group N from depth = 3 * l * N + 4, l the deepening factor (2 by default).

    As in the paper's tables and code, N depends on l only, not on the block type:
    WRN-40-2 has N = 6 blocks per group whether they are B(3,3) or B(1,3,1).
    """
    per_group = 3 * convs_per_block
    n, rest = divmod(depth - 4, per_group) if isinstance(depth, int) else (0, 1)
    if isinstance(depth, bool) or rest or n < 1:
        examples = ", ".join(str(per_group * i + 4) for i in (1, 2, 3, 4, 6))
        rule = f"{per_group}n+4 ({examples}, ...)"
        raise ValueError(f"WideResNet depth must be {rule} for deepening l={convs_per_block}; "
                         f"got {depth!r}")
    return n


def wide_resnet_spec(depth, width, *, dropout_rate=0.0, block_type="B(3,3)",
                     deepening=None) -> NetworkSpec:
    """The spec behind :func:`WideResNet` (same arguments)."""
    kernels = _kernels(block_type, deepening)
    n = blocks_per_group(depth, deepening or 2)
    check_width("width", width, narrowest=16)
    check_rate("dropout_rate", dropout_rate)
    options = {"kernels": kernels}
    if dropout_rate:
        options["dropout_rate"] = float(dropout_rate)
    width_name = f"{width:g}"
    return NetworkSpec.residual(
        name=f"wrn-{depth}-{width_name}",
        block="preact",
        stages=(Stage(n, scaled(16, width), 1), Stage(n, scaled(32, width), 2),
                Stage(n, scaled(64, width), 2)),
        stem="cifar",
        stem_filters=16,
        preact=True,
        shortcut="B",
        block_options=options,
        default_input_shape=(32, 32, 3),
        default_classes=10,
    )


def WideResNet(depth, width, *, dropout_rate=0.0, block_type="B(3,3)", deepening=None,
               **kwargs):
    """WRN-``depth``-``width`` exactly as in the paper.

    Args:
        depth: 6n+4 (10, 16, 22, 28, 40) with n blocks per group, whatever the
            block type (the paper's convention); 3 * l * n + 4 with ``deepening=l``.
        width: the widening factor k (groups of 16k, 32k, 64k channels).
        dropout_rate: dropout between the convolutions of each block (paper: 0.3).
        block_type: ``"B(3,3)"`` (default), ``"B(3,1,3)"``, ``"B(1,3,1)"``, ``"B(1,3)"``,
            ``"B(3,1)"`` or ``"B(3,1,1)"``.
        deepening: the paper's l, the number of 3x3 convolutions per block.
        **kwargs: keras.applications arguments (default 32x32x3 inputs, 10 classes),
            ``drop_path_rate``, ``features_only`` and ``remat`` (gradient
            checkpointing of every block: for WRN-28-10 at large batches).
    """
    spec = wide_resnet_spec(depth, width, dropout_rate=dropout_rate, block_type=block_type,
                            deepening=deepening)
    return build_model(spec, **kwargs)


def wide_bottleneck_spec(depth) -> NetworkSpec:
    """ImageNet wide ResNets (WRN-50-2, WRN-101-2): bottlenecks twice as wide inside."""
    if depth not in (50, 101, 152):
        raise ValueError(f"wide bottleneck ResNet depth must be 50, 101 or 152; got {depth!r}")
    return NetworkSpec.residual(
        name=f"wide-resnet{depth}-2",
        block="bottleneck",
        stages=tuple(Stage(c, f, s) for c, f, s in
                     zip(IMAGENET_BLOCKS[depth], IMAGENET_WIDTHS, IMAGENET_STRIDES)),
        style=B.DEFAULT_STYLE,
        block_options={"base_width": 128, "stride_in": "3x3"},
    )


def WideResNet50_2(**kwargs):
    """WRN-50-2 for ImageNet (68.9M parameters); keras.applications arguments."""
    return build_model(wide_bottleneck_spec(50), **kwargs)


def WideResNet101_2(**kwargs):
    """WRN-101-2 for ImageNet (126.9M parameters); keras.applications arguments."""
    return build_model(wide_bottleneck_spec(101), **kwargs)


def _wrn_from_name(match, **options):
    check_keywords(match.group(0), options, wide_resnet_spec, skip=("depth", "width"))
    width = float(match.group(2))
    return wide_resnet_spec(int(match.group(1)), int(width) if width.is_integer() else width,
                            **options)


def _wide_bottleneck_from_name(match, **options):
    check_options(match.group(0), options, ())
    return wide_bottleneck_spec(int(match.group(1)))


WRN_PAPER = "Zagoruyko, Komodakis: Wide Residual Networks, BMVC 2016 (arXiv:1605.07146)"

register_family(
    "wide-resnet", r"wrn-(\d+)-(\d+(?:\.\d+)?)", _wrn_from_name,
    ["wrn-16-4", "wrn-16-8", "wrn-16-10", "wrn-22-8", "wrn-28-10", "wrn-40-4", "wrn-40-8"],
    WRN_PAPER,
    PaperErrors("Zagoruyko & Komodakis 2016, Table 4, no dropout", ("CIFAR-10", "CIFAR-100"),
                {"wrn-16-4": ("5.02", "24.03"), "wrn-16-8": ("4.81", "22.07"),
                 "wrn-28-10": ("4.00", "19.25"), "wrn-40-4": ("4.97", "22.89")}),
    tuning=TuningAxes("wrn", "width factor k", (10, 16, 22, 28, 34, 40), tuple(range(1, 13)),
                      lambda depth, width, _: f"wrn-{depth}-{format_number(width)}",
                      recipe="wrn", iso_min=min_width(16)))
register_family("wide-resnet-imagenet", r"wide-resnet(50|101)-2", _wide_bottleneck_from_name,
                ["wide-resnet50-2", "wide-resnet101-2"], WRN_PAPER)

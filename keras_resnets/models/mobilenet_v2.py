"""MobileNetV2 (Sandler et al., 2018): inverted residuals with linear bottlenecks.

Layer for layer identical to keras.applications ``MobileNetV2`` (same layer names, order
and weight shapes), so Keras's ImageNet files load for every width multiplier ``alpha``
Keras ships (0.35, 0.5, 0.75, 1.0, 1.3, 1.4). The network is a table on the staged
engine: the ``"mobilenet"`` stem, one stage of ``"inverted_residual"`` blocks per
``(expansion, channels, repeats, stride)`` row, and a ``"pointwise_conv"`` stage
(``Conv_1``). Keras numbers the blocks globally (``expanded_conv``, then ``block_1`` ...
``block_16``), which the stages' name ``"block_{index}"`` gives.

Example::

    model = MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), classes=10)
    keras_resnets.count_params("mobilenetv2-1.0")   # ParamCount(trainable=3504872, total=3538984)
"""

from __future__ import annotations

import dataclasses

from keras_resnets import blocks as B
from keras_resnets._checks import (
    check_choice,
    check_imagenet_padding,
    check_options,
    check_width,
)
from keras_resnets.blocks.mobile import PointwiseConvOptions
from keras_resnets.builder import build_model
from keras_resnets.engine import NetworkSpec, Stage, Stem
from keras_resnets.families import PaperErrors, register_family
from keras_resnets.weights import MOBILENET_V2_ALPHAS

LAYOUT = (
    # expansion t, output channels c, repeats n, first stride s (Sandler et al., Table 2)
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)

__all__ = ["MobileNetV2"]  # what keras_resnets exports


def make_divisible(value, divisor=8, min_value=None):
    """Round ``value`` to a multiple of ``divisor``, never more than 10% down (the
    channel rule of MobileNetV2's reference code and keras.applications)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _alpha_name(alpha):
    return str(float(alpha))  # 0.35, 0.5, 1.0: as in Keras's file names


def mobilenet_v2_spec(alpha=1.0, padding="keras") -> NetworkSpec:
    """The spec behind :func:`MobileNetV2`: Conv 3x3/2 -> 17 inverted residual blocks
    (:data:`LAYOUT`) -> 1x1 conv -> head."""
    check_width("alpha", alpha)
    check_choice("padding", padding, ("keras", "torch"))
    alpha = float(alpha)
    stages = tuple(
        Stage(repeats, make_divisible(int(filters * alpha)), stride, kind="inverted_residual",
              options=B.InvertedResidualOptions(expansion=expansion),
              name="block_{index}" if row else "expanded_conv")
        for row, (expansion, filters, repeats, stride) in enumerate(LAYOUT))
    last = make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    stages += (Stage(1, last, 1, kind="pointwise_conv",
                     options=PointwiseConvOptions("relu6", "out_relu"), name="Conv_1"),)
    return NetworkSpec(
        name=f"mobilenetv2-{_alpha_name(alpha)}",
        stages=stages,
        stem=Stem("mobilenet", make_divisible(32 * alpha)),
        style=dataclasses.replace(B.KERAS_MOBILENET_STYLE, padding=padding),
        keras_weights=f"mobilenetv2_{alpha}" if alpha in MOBILENET_V2_ALPHAS
        and padding == "keras" else None,
    )


def MobileNetV2(alpha=1.0, *, padding="keras", weights=None, **kwargs):
    """MobileNetV2, layer for layer as keras.applications ``MobileNetV2``.

    Args:
        alpha: width multiplier of every layer (the last 1x1 conv grows only when
            ``alpha > 1``). ``weights="imagenet"`` needs one of 0.35, 0.5, 0.75, 1.0,
            1.3, 1.4, and loads Keras's file for the input size (96, 128, 160, 192 or 224;
            other sizes get the 224 file with a warning, as in Keras).
        padding: ``"keras"`` (TensorFlow's 'same' for the strided layers, as Keras's files
            were trained) or ``"torch"`` (symmetric, as torchvision's ``mobilenet_v2``:
            its checkpoints then give its logits).
        weights: ``None``, ``"imagenet"`` or the path of a weights file.
        **kwargs: the other keras.applications arguments (``include_top``,
            ``input_tensor``, ``input_shape``, ``pooling``, ``classes``,
            ``classifier_activation``, ``name``) plus ``drop_path_rate`` (stochastic
            depth on the residual blocks), ``features_only`` and ``remat``
            (gradient checkpointing of every block).
    """
    spec = mobilenet_v2_spec(alpha, padding)
    check_imagenet_padding("MobileNetV2", padding, weights)
    if weights == "imagenet" and spec.keras_weights is None:
        raise ValueError(f"MobileNetV2 alpha must be one of "
                         f"{', '.join(map(str, MOBILENET_V2_ALPHAS))} for weights='imagenet' "
                         f"(the widths Keras has ImageNet files for); got alpha={alpha!r}")
    return build_model(spec, weights=weights, **kwargs)


def _from_name(match, **options):
    check_options("MobileNetV2", options, ("padding",))
    return mobilenet_v2_spec(float(match.group(1)), **options)


register_family(
    "mobilenetv2", r"mobilenetv2-(\d+(?:\.\d+)?)", _from_name,
    [f"mobilenetv2-{_alpha_name(a)}" for a in MOBILENET_V2_ALPHAS],
    "Sandler, Howard, Zhu, Zhmoginov, Chen: MobileNetV2: Inverted Residuals and Linear "
    "Bottlenecks, CVPR 2018 (arXiv:1801.04381)",
    PaperErrors("Sandler et al. 2018, Table 4, 224x224", ("ImageNet top-1",),
                {"mobilenetv2-1.0": ("28.0",), "mobilenetv2-1.4": ("25.3",)}))

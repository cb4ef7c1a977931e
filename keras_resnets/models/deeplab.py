"""DeepLabV3 (Chen et al., 2017): semantic segmentation with atrous spatial pyramid pooling.

Any registered network whose stages can dilate is the backbone. Its last stages trade strides
for dilation (:meth:`~keras_resnets.engine.NetworkSpec.with_output_stride`), so the
features keep 1/16 or 1/8 of the input resolution; ASPP (:func:`keras_resnets.blocks.aspp`)
and a 3x3 conv -> BN -> ReLU -> 1x1 classifier follow, and the class scores are
resized bilinearly to the input resolution: the output is ``(height, width, classes)``,
a softmax over the classes per pixel by default.

Example::

    model = DeepLabV3("resnet50", classes=21, output_stride=16, input_shape=(512, 512, 3))
    model = keras_resnets.create_model("deeplabv3-resnet101", output_stride=8)
"""

from __future__ import annotations

import dataclasses

from keras_resnets import blocks as B
from keras_resnets import primitives as P
from keras_resnets._checks import check_positive_int, check_rate, is_int
from keras_resnets.builder import build_model
from keras_resnets.engine import ClassifierHead, NetworkSpec
from keras_resnets.families import get_spec, register_family

__all__ = ["DeepLabV3"]  # what keras_resnets exports

OUTPUT_STRIDES = (8, 16, 32)
ATROUS_RATES = {8: (12, 24, 36), 16: (6, 12, 18), 32: (3, 6, 9)}
"""ASPP rates per output stride (the paper's 6-12-18 at 16, doubled at 8)."""


@dataclasses.dataclass(frozen=True)
class DeepLabHead:
    """ASPP -> 3x3 conv -> BN -> ReLU -> 1x1 classifier -> bilinear resize to the input."""

    output_stride: int = 16
    atrous_rates: tuple = ATROUS_RATES[16]
    filters: int = 256
    dropout: float = 0.1
    style: B.Style = B.DEFAULT_STYLE

    def check_input(self, spec, inputs):
        height, width = B.spatial(inputs)
        if height is None or width is None:
            raise ValueError(f"{spec.name} needs a known input size to resize its output to; "
                             f"got {height}x{width}. Pass input_shape, e.g. (512, 512, 3)")
        stride = self.output_stride
        if height % stride or width % stride:
            raise ValueError(f"{spec.name}: the input height and width must be multiples of "
                             f"output_stride={stride}; got {height}x{width} (e.g. "
                             f"{height // stride * stride or 512}x{width // stride * stride or 512})")
        return height, width

    def __call__(self, spec, inputs, features, last, *, include_top, pooling, classes,
                 classifier_activation):
        size = self.check_input(spec, inputs)
        y = B.aspp(last, self.filters, self.atrous_rates, name="aspp", style=self.style,
                   dropout_rate=self.dropout)
        y = B.conv_bn_act(y, self.filters, 3, name="head", style=self.style)
        if not include_top:
            return ClassifierHead()(spec, inputs, features, y, include_top=False,
                                    pooling=pooling, classes=classes,
                                    classifier_activation=classifier_activation)
        y = P.Conv(classes, 1, use_bias=True, dtype="float32", name="logits")(y)
        y = P.Resize(size, name="upsample")(y)
        return P.Act(classifier_activation or "linear", dtype="float32", name="predictions")(y)


def deeplab_spec(backbone="resnet50", *, output_stride=16, atrous_rates=None, aspp_filters=256,
                 aspp_dropout=0.1, **backbone_options) -> NetworkSpec:
    """The spec behind :func:`DeepLabV3`: the backbone's spec with its strides traded for
    dilation beyond ``output_stride`` and the DeepLab head; ``backbone_options`` go to the
    backbone's family (e.g. ``se_ratio=0.25`` for ``"resnet50"``)."""
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {', '.join(map(str, OUTPUT_STRIDES))} "
                         f"(the backbone's downsampling, stopped by dilation); got "
                         f"{output_stride!r}")
    if isinstance(backbone, NetworkSpec):
        base, label = backbone, backbone.name
    elif isinstance(backbone, str):
        base, label = get_spec(backbone, **backbone_options), backbone.strip().lower()
    else:
        raise ValueError(f"backbone must be a model name such as 'resnet50', 'resnet101', "
                         f"'resnext50-32x4d', 'wide-resnet50-2' or 'mobilenetv2-1.0', or a "
                         f"NetworkSpec; got {backbone!r}")
    if isinstance(base.head, DeepLabHead):
        raise ValueError(f"backbone {label!r} is itself a DeepLabV3: the backbone must be a "
                         f"classification network, e.g. 'resnet50' ('deeplabv3-resnet50')")
    rates = tuple(ATROUS_RATES[output_stride] if atrous_rates is None else atrous_rates)
    if not rates or any(not is_int(r) or r < 1 for r in rates):
        raise ValueError(f"atrous_rates must be positive integers, e.g. (6, 12, 18); "
                         f"got {atrous_rates!r}")
    check_positive_int("aspp_filters", aspp_filters, "256")
    check_rate("aspp_dropout", aspp_dropout)
    try:
        dilated = base.with_output_stride(output_stride)
    except ValueError as error:
        raise ValueError(f"output_stride={output_stride} does not fit the backbone: {error}; "
                         "use an ImageNet-stem backbone such as 'resnet50'") from None
    head = DeepLabHead(output_stride, rates, aspp_filters, aspp_dropout)
    return dataclasses.replace(dilated, name=f"deeplabv3-{label}", head=head,
                               default_input_shape=(512, 512, 3), default_classes=21,
                               keras_weights=None)


def DeepLabV3(backbone="resnet50", *, classes=None, output_stride=16, input_shape=None,
              atrous_rates=None, aspp_filters=256, aspp_dropout=0.1, **kwargs):
    """DeepLabV3 for semantic segmentation: per-pixel class scores at input resolution.

    Args:
        backbone: a registered model name (``"resnet50"``, ``"resnet101"``,
            ``"resnext50-32x4d"``, ``"wide-resnet50-2"``, ...) or a
            :class:`~keras_resnets.engine.NetworkSpec` whose stages can dilate.
        classes: number of classes (21 for PASCAL VOC).
        output_stride: 16 (the last stage dilated by 2), 8 (the last two by 2 and 4) or
            32 (no dilation); the input height and width must be multiples of it.
        input_shape: a fixed ``(height, width, channels)``; default ``(512, 512, 3)``, or
            the shape of ``input_tensor``.
        atrous_rates: the ASPP rates; default (6, 12, 18) at output stride 16,
            (12, 24, 36) at 8, (3, 6, 9) at 32.
        aspp_filters: width of ASPP and of the head (256).
        aspp_dropout: dropout after the ASPP projection.
        **kwargs: ``include_top`` (False: the 256-channel head features at output stride),
            ``weights`` (a file), ``input_tensor``, ``pooling``, ``classifier_activation``
            (softmax per pixel; ``None`` for logits), ``name``, ``drop_path_rate``,
            ``features_only`` (the backbone's stage outputs ``C2``-``C5``), ``remat``
            (gradient checkpointing of the backbone's blocks).
    """
    spec = deeplab_spec(backbone, output_stride=output_stride, atrous_rates=atrous_rates,
                        aspp_filters=aspp_filters, aspp_dropout=aspp_dropout)
    return build_model(spec, classes=classes, input_shape=input_shape, **kwargs)


def _from_name(match, **options):
    return deeplab_spec(match.group(1), **options)


register_family(
    "deeplabv3", r"deeplabv3-(.+)", _from_name, ["deeplabv3-resnet50", "deeplabv3-resnet101"],
    "Chen, Papandreou, Schroff, Adam: Rethinking Atrous Convolution for Semantic Image "
    "Segmentation, arXiv:1706.05587 (2017)")

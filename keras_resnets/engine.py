"""Network specs (plain data) and the one builder that turns any spec into a Keras model.

A spec describes a network; :func:`build_model` builds it with the keras.applications
arguments, and :func:`count` runs the same spec on a counting probe, so the
parameter and multiply-add counts come from the very code that builds the model.

Example::

    spec = ResidualSpec(name="tiny", block="basic", stem="cifar", stem_filters=16,
                        stages=(Stage(2, 16, 1), Stage(2, 32, 2)),
                        default_input_shape=(32, 32, 3))
    model = build_model(spec, classes=10)
    count(spec, classes=10).trainable == model.count_params()
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import keras

from keras_resnets import blocks as B
from keras_resnets import primitives as P

# Keras maps (and reloads) functional graphs recursively: a ResNet-1202 has over 4,000
# layers, far beyond Python's default limit of 1,000 frames.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 30_000))

BUILD_ARGUMENTS = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
                   "classifier_activation", "name", "drop_path_rate", "features_only")


class NetworkSpec:
    """What every family's spec provides: a name, a default input and a forward pass.

    Subclasses implement :meth:`features`; :meth:`head` is the usual global pooling
    and classifier, named as in keras.applications.
    """

    name: str
    default_input_shape: tuple
    keras_weights: str | None = None
    default_classes: int = 1000

    @property
    def min_input_size(self) -> int:
        """Smallest height and width the network accepts (its total downsampling)."""
        return 1

    def features(self, x, *, drop_path_rate=0.0):
        """Run the network body on ``x``; returns ``(stage_outputs, last)``, where
        ``stage_outputs`` maps names such as ``"C2"`` to the stage outputs."""
        raise NotImplementedError

    def head(self, x, *, include_top, pooling, classes, classifier_activation):
        if include_top:
            x = P.GlobalPool("avg", name="avg_pool")(x)
            return P.Dense(classes, activation=classifier_activation, dtype="float32",
                           name="predictions")(x)
        if pooling in ("avg", "max"):
            return P.GlobalPool(pooling, name=f"{pooling}_pool")(x)
        return x

    def forward(self, x, *, include_top=True, pooling=None, classes=None,
                classifier_activation="softmax", drop_path_rate=0.0, features_only=False):
        stage_outputs, last = self.features(x, drop_path_rate=drop_path_rate)
        classes = self.default_classes if classes is None else classes
        if features_only:
            return stage_outputs
        return self.head(last, include_top=include_top, pooling=pooling, classes=classes,
                         classifier_activation=classifier_activation)


@dataclasses.dataclass(frozen=True)
class Stage:
    """``blocks`` blocks of ``filters`` channels (a bottleneck's inner width); the stage
    changes resolution by ``stride`` and dilates its 3x3 convolutions by ``dilation``."""

    blocks: int
    filters: int
    stride: int = 2
    dilation: int = 1


@dataclasses.dataclass(frozen=True)
class ResidualSpec(NetworkSpec):
    """stem -> stages of residual blocks -> (final BN-ReLU if pre-activation) -> head.

    ``block`` names an entry of :data:`keras_resnets.blocks.RESIDUAL_BLOCKS` or is a
    block function; ``block_options`` are extra keyword arguments for every block.
    ``stride_at_end`` puts each stage's stride in its last block (keras.applications
    ResNetV2 layout) instead of its first.
    """

    name: str
    block: Any
    stages: tuple
    stem: str = "imagenet"
    stem_filters: int = 64
    preact: bool = False
    style: B.Style = B.DEFAULT_STYLE
    shortcut: str = "B"
    stride_at_end: bool = False
    block_options: tuple = ()
    default_input_shape: tuple = (224, 224, 3)
    default_classes: int = 1000
    keras_weights: str | None = None

    @property
    def block_fn(self):
        return B.RESIDUAL_BLOCKS[self.block] if isinstance(self.block, str) else self.block

    @property
    def min_input_size(self):
        size = 4 if self.stem == "imagenet" else 1
        for stage in self.stages:
            size *= stage.stride
        return size

    @property
    def num_blocks(self):
        return sum(stage.blocks for stage in self.stages)

    def stem_layers(self, x):
        after_bn = not self.preact
        if self.stem == "imagenet":
            x = B.conv(x, self.stem_filters, 7, 2, name="conv1", style=self.style,
                       bn_follows=after_bn)
        else:
            x = B.conv(x, self.stem_filters, 3, 1, name="conv1", style=self.style,
                       bn_follows=after_bn)
        if after_bn:
            x = B.batch_norm(x, name="conv1_bn", style=self.style)
            x = P.Act("relu", name="conv1_relu")(x)
        if self.stem == "imagenet":
            x = P.ZeroPad(1, name="pool1_pad")(x)
            x = P.Pool("max", 3, 2, name="pool1_pool")(x)
        return x

    def features(self, x, *, drop_path_rate=0.0):
        x = self.stem_layers(x)
        options = dict(self.block_options)
        outputs, index, total = {}, 0, self.num_blocks
        for s, stage in enumerate(self.stages):
            for j in range(stage.blocks):
                strided = j == (stage.blocks - 1 if self.stride_at_end else 0)
                rate = drop_path_rate * index / max(total - 1, 1)
                x = self.block_fn(x, stage.filters, stage.stride if strided else 1,
                                  name=f"conv{s + 2}_block{j + 1}", style=self.style,
                                  shortcut=self.shortcut, drop_rate=rate,
                                  dilation=stage.dilation, **options)
                index += 1
            outputs[f"C{s + 2}"] = x
        if self.preact:
            x = B.bn_relu(x, name="post", style=self.style)
        return outputs, x

    def stem_stride(self) -> int:
        """How much the stem downsamples (4 for the ImageNet stem, 1 for the CIFAR one)."""
        probe = P.Probe.input((1024, 1024, 3))
        return 1024 // self.stem_layers(probe).shape[0]

    def with_output_stride(self, output_stride) -> ResidualSpec:
        """A copy whose features stop shrinking at ``output_stride`` (DeepLab's atrous
        backbone): the stages that would downsample further keep stride 1 and dilate
        their convolutions by the stride they gave up (output stride 16 on a ResNet-50:
        the last stage dilates by 2; 8: the last two by 2 and 4)."""
        stride, dilation, stages = self.stem_stride(), 1, []
        for stage in self.stages:
            if stride * stage.stride > output_stride:
                dilation *= stage.stride
                stage = dataclasses.replace(stage, stride=1)
            else:
                stride *= stage.stride
            if dilation > 1:
                stage = dataclasses.replace(stage, dilation=stage.dilation * dilation)
            stages.append(stage)
        if stride != output_stride:
            raise ValueError(f"output_stride {output_stride} is out of reach of {self.name!r}, "
                             f"which downsamples by {stride} in all")
        return dataclasses.replace(self, stages=tuple(stages))


def count(spec: NetworkSpec, input_shape=None, *, classes=None, **forward_kwargs) -> P.Tally:
    """Parameters and multiply-adds of ``spec`` for one image, with no model built."""
    forward_kwargs["classes"] = spec.default_classes if classes is None else classes
    probe = P.Probe.input(input_shape or spec.default_input_shape)
    spec.forward(probe, **forward_kwargs)
    return probe.tally


def validate_build_arguments(spec, *, include_top, weights, pooling, classes, input_shape,
                             drop_path_rate):
    """Check the keras.applications arguments before any layer is built."""
    from keras_resnets import weights as W

    if include_top and (not isinstance(classes, int) or classes < 1):
        raise ValueError(f"classes must be a positive integer when include_top=True; got "
                         f"{classes!r} (e.g. classes=10 for CIFAR-10, 1000 for ImageNet)")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max'; got {pooling!r}")
    if not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be in [0, 1); got {drop_path_rate!r}")
    if input_shape is not None and (len(input_shape) != 3 or input_shape[-1] is None):
        raise ValueError(f"input_shape must be (height, width, channels) with known channels; "
                         f"got {input_shape!r} (e.g. (32, 32, 3))")
    if input_shape is not None and any(
            size is not None and size < spec.min_input_size for size in input_shape[:2]):
        raise ValueError(f"input_shape {tuple(input_shape)} is too small for {spec.name}: it "
                         f"downsamples by {spec.min_input_size}, so height and width must be at "
                         f"least {spec.min_input_size}")
    W.validate(spec, weights, include_top=include_top, classes=classes)


def build_model(spec: NetworkSpec, *, include_top=True, weights=None, input_tensor=None,
                input_shape=None, pooling=None, classes=None, classifier_activation="softmax",
                name=None, drop_path_rate=0.0, features_only=False) -> keras.Model:
    """Build ``spec`` as a functional ``keras.Model`` (the keras.applications arguments).

    ``features_only=True`` returns a model whose outputs are the stage outputs, a dict
    ``{"C2": ..., "C5": ...}``, for detection and segmentation heads. ``drop_path_rate``
    is the stochastic-depth rate of the last block, rising linearly from 0 at the first.
    """
    from keras_resnets import weights as W

    classes = spec.default_classes if classes is None else classes
    if input_tensor is not None and input_shape is None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        input_shape = spec.default_input_shape
    input_shape = tuple(input_shape)
    validate_build_arguments(spec, include_top=include_top, weights=weights, pooling=pooling,
                             classes=classes, input_shape=input_shape,
                             drop_path_rate=drop_path_rate)
    forward_kwargs = dict(include_top=include_top, pooling=pooling, classes=classes,
                          classifier_activation=classifier_activation,
                          features_only=features_only)
    # shape and option checks of the whole network, before any layer exists
    tally = count(spec, input_shape, drop_path_rate=drop_path_rate, **forward_kwargs)
    W.check_file(weights, tally.total, spec.name)
    inputs = input_tensor if input_tensor is not None else keras.Input(input_shape)
    outputs = spec.forward(inputs, drop_path_rate=drop_path_rate, **forward_kwargs)
    model = keras.Model(inputs, outputs, name=name or spec.name)
    if weights is not None:
        W.load(model, spec, weights, include_top=include_top)
    return model

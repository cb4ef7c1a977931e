"""The staged engine: every network is a stem, stages of blocks and a head.

A :class:`NetworkSpec` is plain data: a :class:`Stem`, a tuple of :class:`Stage` (each a
block kind of :data:`keras_resnets.blocks.BLOCK_KINDS`, or a block function, with typed
options) and a head. The engine alone owns what every family needs:

- the drop-path (stochastic depth) schedule, rising linearly over the blocks that have a
  residual branch, and the refusal of ``drop_path_rate`` where a network has none;
- the output stride: stages that would shrink the features beyond ``output_stride``
  keep stride 1 and dilate instead (DeepLab's atrous backbone);
- the stage outputs: the last map at each reduction (``C2`` = 1/4 of the input, ``C5`` =
  1/32; a network whose stem keeps full resolution numbers its stages from ``C2``), with
  their channels, reductions and layer names in :func:`feature_info`, and the choice of
  some of them (``out_indices``, by index or name, as timm's);
- the defaults: ``classes`` and ``input_shape`` are resolved once, here.

:func:`build_model` builds a spec on Keras tensors; :func:`count` runs the same code on a
counting probe (see :mod:`keras_resnets.primitives`), so counts cannot drift from models.

Example::

    spec = NetworkSpec.residual(name="tiny", block="basic", stem="cifar", stem_filters=16,
                                stages=(Stage(2, 16, 1), Stage(2, 32, 2)),
                                default_input_shape=(32, 32, 3), default_classes=10)
    model = build_model(spec)
    count(spec).trainable == model.count_params() - 2 * 4 * 16   # BN statistics aside
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import math
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ClassVar, Protocol

from keras_resnets import _checks as C
from keras_resnets import blocks as B
from keras_resnets import primitives as P

if TYPE_CHECKING:  # Keras is imported where a model is built, not at import
    import keras

DEEP_GRAPH_RECURSION_LIMIT = 30_000
MAX_CLASSES = 1_000_000  # beyond any label set these nets are trained on; 2**40 would not fit


@contextlib.contextmanager
def deep_graph_recursion():
    """Raise Python's recursion limit while a very deep graph is built or loaded.

    Keras walks functional graphs recursively: a ResNet-1202 has over 4,000 layers, far
    beyond Python's default limit of 1,000 frames. The old limit comes back afterwards.
    """
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, DEEP_GRAPH_RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


class Options(Protocol):
    """A block kind's typed options: a frozen dataclass (``BottleneckOptions(groups=32)``)."""

    __dataclass_fields__: ClassVar[dict]


class Head(Protocol):
    """What follows the stages: called with the spec, the input, the stage outputs and the
    last tensor, it returns the model's outputs (:class:`ClassifierHead`)."""

    def __call__(self, spec: NetworkSpec, inputs, features: dict, last, *, include_top: bool,
                 pooling: str | None, classes: int, classifier_activation): ...


@dataclasses.dataclass(frozen=True)
class Stage:
    """``blocks`` blocks of ``kind`` with ``filters`` channels; the stage shrinks the
    features by ``stride`` (in its first block, or its last with the spec's
    ``stride_at_end``) and dilates its convolutions by ``dilation``.

    ``kind``: a name of :data:`keras_resnets.blocks.BLOCK_KINDS`, a
    :class:`keras_resnets.blocks.BlockKind` or a block function; ``None`` takes the spec's
    ``block``. ``options``: the kind's typed options (a dataclass) or a mapping; ``None``
    takes the spec's ``block_options``. ``name``: the block names, a format string with
    ``{stage}`` (the stage's number, from 2 by default), ``{block}`` (from 1) and ``{index}``
    (the block's position in the network, from 0).
    """

    blocks: int
    filters: int | tuple[int, ...] | None  # None: the kind keeps its input's channels
    stride: int = 2
    dilation: int = 1
    kind: str | B.BlockKind | Callable[..., object] | None = None
    options: Options | Mapping[str, object] | None = None
    name: str = "conv{stage}_block{block}"


@dataclasses.dataclass(frozen=True)
class Stem:
    """The layers before the stages: a kind of :data:`keras_resnets.blocks.STEMS`
    (``"imagenet"``: 7x7/2 conv and 3x3/2 max-pool; ``"cifar"``: one 3x3 conv; ...),
    ``filters`` channels, ``batch_norm`` after the convolution (pre-activation nets have
    none) and the max-pool's layer name."""

    kind: str = "imagenet"
    filters: int | tuple[int, ...] = 64
    batch_norm: bool = True
    pool_name: str = "pool1_pool"


@dataclasses.dataclass(frozen=True)
class ClassifierHead:
    """Global average pooling and a float32 classifier (``avg_pool``, ``predictions``);
    without the top, ``pooling`` ``"avg"``/``"max"`` or the last feature map."""

    def __call__(self, spec, inputs, features, last, *, include_top, pooling, classes,
                 classifier_activation):
        if include_top:
            x = P.GlobalPool("avg", name="avg_pool")(last)
            return P.Dense(classes, activation=classifier_activation, dtype="float32",
                           name="predictions")(x)
        if pooling in ("avg", "max"):
            return P.GlobalPool(pooling, name=f"{pooling}_pool")(last)
        return last


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """stem -> stages -> head, with the defaults a builder needs.

    ``block``/``block_options``: the kind and options of stages that give none.
    ``style``: conv biases and BatchNorm settings (:class:`keras_resnets.blocks.Style`).
    ``stride_at_end``: each stage strides in its last block (keras.applications
    ResNetV2). ``output_stride``: stop shrinking there and dilate (None: never).
    ``keras_weights``: the keras.applications weights key, for compatible layouts.
    """

    name: str
    stages: tuple[Stage, ...]
    stem: Stem = Stem()
    block: str | B.BlockKind | Callable[..., object] | None = None
    block_options: Options | Mapping[str, object] | None = None
    head: Head = ClassifierHead()
    style: B.Style = B.DEFAULT_STYLE
    stride_at_end: bool = False
    output_stride: int | None = None
    default_input_shape: tuple[int | None, int | None, int] = (224, 224, 3)
    default_classes: int = 1000
    keras_weights: str | None = None

    @classmethod
    def residual(cls, *, name, block, stages, stem="imagenet", stem_filters=64, preact=False,
                 style=B.DEFAULT_STYLE, shortcut="B", stride_at_end=False, block_options=None,
                 se_ratio=0.0, default_input_shape=(224, 224, 3), default_classes=1000,
                 keras_weights=None) -> NetworkSpec:
        """A residual network's spec: ``stem`` (``"imagenet"`` or ``"cifar"``) -> ``stages``
        of ``block`` (a name of :data:`keras_resnets.blocks.BLOCK_KINDS` or a block
        function) -> a final BN-ReLU when ``preact`` -> the classifier.

        ``shortcut``, ``se_ratio`` and ``block_options`` (a mapping of the kind's other
        options) become the block kind's typed options.
        """
        options = dict(block_options or {}, shortcut=shortcut)
        if se_ratio:
            options["se_ratio"] = se_ratio
        kind = block_kind(block)
        typed = kind.options(**options) if kind.options is not None else options
        stages = tuple(stages)
        if preact:
            stages += (Stage(1, None, 1, kind="final_bn_relu", options={}, name="post"),)
        return cls(name=name, stages=stages, stem=Stem(stem, stem_filters, not preact),
                   block=block, block_options=typed, style=style,
                   stride_at_end=stride_at_end, default_input_shape=default_input_shape,
                   default_classes=default_classes, keras_weights=keras_weights)

    @property
    def stem_reduction(self) -> int:
        return B.STEMS[self.stem.kind].reduction

    @property
    def reduction(self) -> int:
        """How much the whole network shrinks its input (without output stride)."""
        return self.stem_reduction * math.prod(stage.stride for stage in self.stages)

    @property
    def num_blocks(self) -> int:
        return sum(stage.blocks for stage in self.stages)

    def with_output_stride(self, output_stride) -> NetworkSpec:
        """A copy whose features stop shrinking at ``output_stride``: the stages that would
        downsample further keep stride 1 and dilate by the stride they gave up (16 on a
        ResNet-50: the last stage dilates by 2; 8: the last two by 2 and 4)."""
        reachable = [self.stem_reduction]
        for stage in self.stages:
            if stage.stride > 1:
                reachable.append(reachable[-1] * stage.stride)
        if output_stride not in reachable:
            raise ValueError(f"output_stride {output_stride} is out of reach of "
                             f"{self.name!r}, which downsamples by "
                             f"{', '.join(map(str, reachable))} along the way")
        for stage in self.stages:
            kind = block_kind(stage.kind or self.block)
            if stage.stride > 1 and not kind.dilates:
                raise ValueError(f"{self.name!r} cannot trade strides for dilation: its "
                                 f"{kind.name!r} stages downsample without convolutions; "
                                 "use a residual, MobileNetV2 or Xception backbone")
        return dataclasses.replace(self, output_stride=output_stride)

    def with_zero_init_residual(self, zero_init_residual: bool) -> NetworkSpec:
        """A copy whose residual blocks (typed :class:`~keras_resnets.blocks.ResidualOptions`)
        start their branches at zero, or not (the usual initialisation everywhere)."""
        def swap(options):
            if isinstance(options, B.ResidualOptions):
                return dataclasses.replace(options, zero_init_residual=zero_init_residual)
            return options

        return dataclasses.replace(
            self, block_options=swap(self.block_options),
            stages=tuple(dataclasses.replace(s, options=swap(s.options)) for s in self.stages))


def block_kind(kind) -> B.BlockKind:
    """The :class:`~keras_resnets.blocks.BlockKind` of a name, kind or block function."""
    if isinstance(kind, B.BlockKind):
        return kind
    if isinstance(kind, str):
        if kind not in B.BLOCK_KINDS:
            raise ValueError(f"block kind must be one of {', '.join(sorted(B.BLOCK_KINDS))} "
                             f"or a block function; got {kind!r}")
        return B.BLOCK_KINDS[kind]
    if callable(kind):
        return B.BlockKind(getattr(kind, "__name__", "custom"), kind)
    raise ValueError(f"block kind must be a name such as 'basic' or a block function; "
                     f"got {kind!r}")


def _option_kwargs(options) -> dict:
    if options is None:
        return {}
    if dataclasses.is_dataclass(options):
        return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    if isinstance(options, Mapping):
        return dict(options)
    raise ValueError(f"block options must be a dataclass or a mapping; got {options!r}")


@dataclasses.dataclass
class _Levels:
    """The stage outputs: the last map (or block feature) at each reduction."""

    level_offset: int  # 2 where the stem keeps full resolution: its first stage is C2
    outputs: dict = dataclasses.field(default_factory=dict)
    info: list = dataclasses.field(default_factory=list)

    def record(self, reduction, feature):
        level = round(math.log2(reduction)) + self.level_offset
        if level >= 2 and f"C{level}" not in self.outputs:
            self.outputs[f"C{level}"] = feature
            self.info.append({"name": f"C{level}", "channels": B.channels(feature),
                              "reduction": reduction,
                              "layer": feature.layer if P.is_probe(feature) else None})


def _droppable(spec) -> int:
    return sum(stage.blocks for stage in spec.stages
               if block_kind(stage.kind or spec.block).drop_path)


def check_drop_path(spec, drop_path_rate):
    """Refuse a drop-path rate that ``spec`` cannot honour (or that is not a rate)."""
    if isinstance(drop_path_rate, bool) or not isinstance(drop_path_rate, (int, float)) \
            or not 0.0 <= drop_path_rate < 1.0:
        raise ValueError(f"drop_path_rate must be a number in [0, 1); got {drop_path_rate!r}")
    if drop_path_rate and not _droppable(spec):
        raise ValueError(f"drop_path_rate must be 0 for {spec.name}: it has no residual "
                         f"branches to drop; got {drop_path_rate!r}. Use dropout_rate instead")


@functools.cache
def _parameters(build) -> frozenset[str] | None:
    """The keyword arguments a block function takes (None: any, it has ``**kwargs``)."""
    parameters = inspect.signature(build).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(p.name for p in parameters)


def _taken(kind, **arguments) -> dict:
    """Of the engine's ``stride``, ``dilation`` and ``drop_rate``, those ``kind`` takes
    (a pointwise kind takes no dilation: the one the output stride adds means nothing to
    it; what a stage asks of a kind is checked by :func:`_check_stage_arguments`)."""
    taken = _parameters(kind.build)
    return {k: v for k, v in arguments.items() if taken is None or k in taken}


def _check_stage_arguments(kind, stage):
    """Refuse a stride or dilation that ``stage`` asks of a kind that cannot apply it."""
    taken = _parameters(kind.build)
    stride = kind.stride if kind.stride is not None else 1
    if stage.stride != stride and (kind.stride is not None
                                   or (taken is not None and "stride" not in taken)):
        raise ValueError(f"stage {stage.name!r}: block kind {kind.name!r} always strides by "
                         f"{stride}; got stride={stage.stride} (e.g. Stage({stage.blocks}, "
                         f"{stage.filters!r}, {stride}, kind={kind.name!r}))")
    if stage.dilation != 1 and taken is not None and "dilation" not in taken:
        raise ValueError(f"stage {stage.name!r}: block kind {kind.name!r} cannot dilate; got "
                         f"dilation={stage.dilation} (use a convolutional kind such as "
                         "'bottleneck')")


def call_block(kind, x, filters, *, remat=False, name, **kwargs):
    """``kind.build(x, filters, name=name, ...)`` (``kwargs``: what :func:`_taken` keeps,
    the style and the options); with ``remat``, built as a model of its own and called
    through :class:`~keras_resnets.layers.RematBlock` (gradient checkpointing: only the
    block's input is kept for the backward pass)."""
    if not remat:
        return kind.build(x, filters, name=name, **kwargs)
    import keras

    from keras_resnets.layers import RematBlock

    inputs = keras.Input(x.shape[1:], dtype=x.dtype)
    outputs = kind.build(inputs, filters, name=name, **kwargs)
    return RematBlock(keras.Model(inputs, outputs, name=f"{name}_block"), name=name)(x)


def run_stages(spec, x, *, drop_path_rate=0.0, until=None, remat=False):
    """Stem and stages on ``x``: returns ``(stage outputs, last tensor, feature info)``;
    ``until``: stop once that level (``"C4"``) is out, leaving the later stages unbuilt;
    ``remat``: every block checkpointed (:func:`call_block`)."""
    x = B.STEMS[spec.stem.kind].build(x, spec.stem, style=spec.style)
    # reduction: as the strides ask; strided: as applied, capped at the output stride
    reduction = strided = spec.stem_reduction
    levels = _Levels(level_offset=2 if reduction == 1 else 0)
    # dilation_gain: the strides given up for the output stride; droppable_before: blocks
    # with a residual branch so far (the drop-path schedule's position)
    feature, dilation_gain, index, droppable_before = x, 1, 0, 0
    last_droppable = max(_droppable(spec) - 1, 1)
    for number, stage in enumerate(spec.stages, 2):
        kind = block_kind(stage.kind or spec.block)
        options = _option_kwargs(stage.options if stage.options is not None
                                 else spec.block_options)
        strided_block = stage.blocks - 1 if spec.stride_at_end else 0
        _check_stage_arguments(kind, stage)
        for j in range(stage.blocks):
            stride = stage.stride if j == strided_block else 1
            if stride > 1:
                levels.record(reduction, feature)
                if until in levels.outputs:
                    return levels.outputs, x, levels.info
                reduction *= stride
                if spec.output_stride and strided * stride > spec.output_stride:
                    dilation_gain, stride = dilation_gain * stride, 1
                else:
                    strided *= stride
            rate = (drop_path_rate * droppable_before / last_droppable if kind.drop_path
                    else 0.0)
            out = call_block(kind, x, stage.filters, remat=remat,
                             name=stage.name.format(stage=number, block=j + 1, index=index),
                             style=spec.style, **_taken(kind, stride=stride, drop_rate=rate,
                                                        dilation=stage.dilation * dilation_gain),
                             **options)
            x, feature = out if isinstance(out, tuple) else (out, out)
            index += 1
            droppable_before += kind.drop_path
    levels.record(reduction, feature)
    return levels.outputs, x, levels.info


def forward(spec, inputs, *, include_top=True, pooling=None, classes=None,
            classifier_activation="softmax", drop_path_rate=0.0, features_only=False,
            levels=None, remat=False):
    """The whole network on ``inputs`` (a Keras tensor or a probe); with ``features_only``,
    the stage outputs named in ``levels`` (all of them if None), the network up to them;
    ``remat``: every block checkpointed."""
    outputs, last, _ = run_stages(spec, inputs, drop_path_rate=drop_path_rate, remat=remat,
                                  until=levels[-1] if features_only and levels else None)
    if features_only:
        return outputs if levels is None else {level: outputs[level] for level in levels}
    return spec.head(spec, inputs, outputs, last, include_top=include_top, pooling=pooling,
                     classes=spec.default_classes if classes is None else classes,
                     classifier_activation=classifier_activation)


def feature_info(spec, input_shape=None, out_indices=None) -> list[dict]:
    """The stage outputs' names, channels, reductions and layer names (timm's
    ``feature_info``), those of ``out_indices`` only when given::

        feature_info(get_spec("resnet50"), out_indices=("C4", -1))
        # [{"name": "C4", "channels": 1024, "reduction": 16, "layer": "conv4_block6_out"},
        #  {"name": "C5", "channels": 2048, "reduction": 32, "layer": "conv5_block3_out"}]
    """
    probe = P.Probe.input(input_shape or spec.default_input_shape)
    info = run_stages(spec, probe)[2]
    if out_indices is None:
        return info
    chosen = select_levels(info, out_indices, spec.name)
    return [f for f in info if f["name"] in chosen]


def select_levels(info, out_indices, model_name) -> tuple:
    """The level names that ``out_indices`` picks from ``info`` (indices into it, negative
    ones from the end, or names such as ``"C3"``), in the network's order."""
    names = [f["name"] for f in info]
    rule = (f"out_indices must be a non-empty tuple of distinct level indices (0 to "
            f"{len(names) - 1}, or negative from the end) or names of {model_name}'s levels "
            f"{', '.join(names)}; got {out_indices!r} (e.g. out_indices=(1, 2, 3) or "
            f"('C3', 'C4', 'C5'))")
    if not isinstance(out_indices, (tuple, list)) or not out_indices:
        raise ValueError(rule)
    chosen = []
    for item in out_indices:
        if C.is_int(item) and -len(names) <= item < len(names):
            chosen.append(names[item])
        elif isinstance(item, str) and item.upper() in names:
            chosen.append(item.upper())
        else:
            raise ValueError(rule)
    if len(set(chosen)) != len(chosen):
        raise ValueError(rule)
    return tuple(sorted(chosen, key=names.index))


def count(spec, input_shape=None, *, classes=None, **forward_kwargs) -> P.Tally:
    """Parameters and multiply-adds of ``spec`` for one image, with no model built."""
    probe = P.Probe.input(input_shape or spec.default_input_shape)
    forward(spec, probe, classes=classes, **forward_kwargs)
    return probe.tally


def validate_build_arguments(spec, *, include_top, pooling, classes, input_shape,
                             drop_path_rate, classifier_activation="softmax",
                             features_only=False, out_indices=None, name=None):
    """Check the keras.applications arguments before any layer is built or counted
    (``weights`` are resolved above the engine, in :mod:`keras_resnets.builder`)."""
    C.check_bool("include_top", include_top)
    C.check_bool("features_only", features_only)
    if out_indices is not None and not features_only:
        raise ValueError(f"out_indices picks feature levels, so it needs features_only=True; "
                         f"got out_indices={out_indices!r} with features_only={features_only!r}"
                         " (e.g. features_only=True, out_indices=('C3', 'C4', 'C5'))")
    if not C.is_int(classes) or not 1 <= classes <= MAX_CLASSES:
        raise ValueError(f"classes must be an integer from 1 to {MAX_CLASSES:,}; got "
                         f"{classes!r} (e.g. classes=10 for CIFAR-10, 1000 for ImageNet)")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max'; got {pooling!r}")
    C.check_activation("classifier_activation", classifier_activation)
    if name is not None:
        C.check_name("name", name, "name='my_resnet'")
    check_drop_path(spec, drop_path_rate)
    if any(size is not None and size < spec.reduction for size in input_shape[:2]):
        raise ValueError(f"input_shape {tuple(input_shape)} is too small for {spec.name}: it "
                         f"downsamples by {spec.reduction}, so height and width must be at "
                         f"least {spec.reduction}")


def check_no_head_arguments(features_only, *, pooling, classes, classifier_activation):
    """``features_only=True`` builds no head: refuse the head's arguments rather than drop
    them (``include_top`` is not consulted; its default is True)."""
    given = [f"{name}={value!r}" for name, value, default in (
        ("pooling", pooling, None), ("classes", classes, None),
        ("classifier_activation", classifier_activation, "softmax")) if value != default]
    if features_only is True and given:
        raise ValueError(f"features_only=True returns the stage outputs with no pooling or "
                         f"classifier, so {', '.join(given)} would be ignored; drop "
                         f"{'it' if len(given) == 1 else 'them'}, or pass include_top=False "
                         f"with pooling='avg' for pooled features")


def _input_shape(spec, input_tensor, input_shape):
    """The input shape the model will have: ``input_shape``, the shape of ``input_tensor``
    (which must agree with ``input_shape`` where both are known) or the spec's default."""
    if input_shape is not None:
        input_shape = C.check_input_shape(input_shape)
    if input_tensor is None:
        return input_shape or tuple(spec.default_input_shape)
    return C.check_input_tensor(input_tensor, input_shape)


def _prepare(spec, *, include_top=True, input_tensor=None, input_shape=None, pooling=None,
             classes=None, classifier_activation="softmax", name=None, drop_path_rate=0.0,
             features_only=False, out_indices=None, zero_init_residual=None, remat=False):
    """Resolve the defaults once, check every argument and count the network: returns
    ``(spec, input_shape, forward keyword arguments, tally)``; no layer is built
    (``remat`` changes no count)."""
    C.check_channels_last()
    check_no_head_arguments(features_only, pooling=pooling, classes=classes,
                            classifier_activation=classifier_activation)
    classes = spec.default_classes if classes is None else classes
    input_shape = _input_shape(spec, input_tensor, input_shape)
    validate_build_arguments(spec, include_top=include_top, pooling=pooling,
                             classes=classes, input_shape=input_shape,
                             drop_path_rate=drop_path_rate,
                             classifier_activation=classifier_activation,
                             features_only=features_only, out_indices=out_indices, name=name)
    C.check_bool("remat", remat)
    if zero_init_residual is not None:
        spec = spec.with_zero_init_residual(C.check_bool("zero_init_residual",
                                                         zero_init_residual))
    forward_kwargs = dict(include_top=include_top and not features_only, pooling=pooling,
                          classes=classes,
                          classifier_activation=classifier_activation,
                          features_only=features_only, drop_path_rate=drop_path_rate,
                          levels=None if out_indices is None else tuple(
                              f["name"] for f in feature_info(spec, input_shape, out_indices)))
    # shape and option checks of the whole network, before any layer exists
    tally = count(spec, input_shape, **forward_kwargs)
    return spec, input_shape, dict(forward_kwargs, remat=remat), tally


def count_model(spec, *, known_size=False, **build_arguments) -> P.Tally:
    """What :func:`build_model` with the same arguments would build, counted: the same
    checks refuse the same arguments, and no layer is built. ``known_size``: refuse an
    input whose height or width is undefined (multiply-adds depend on them)."""
    _, input_shape, _, tally = _prepare(spec, **build_arguments)
    if known_size and None in input_shape[:2]:
        raise ValueError(f"counting multiply-adds needs a known input size; got input_shape "
                         f"{input_shape} (e.g. input_shape=(224, 224, 3))")
    return tally


def build_model(spec: NetworkSpec, *, input_tensor=None, name=None,
                **build_arguments) -> keras.Model:
    """Build ``spec`` as a functional ``keras.Model`` (the keras.applications
    arguments but ``weights``: ``include_top, input_tensor, input_shape, pooling, classes,
    classifier_activation, name``; :func:`keras_resnets.build_model` also loads weights).

    ``features_only=True`` returns a model whose outputs are the stage outputs, a dict
    ``{"C2": ..., "C5": ...}``, for detection and segmentation heads; ``out_indices`` keeps
    some of them, by index or name (``(1, 2, 3)`` or ``("C3", "C4", "C5")``), and the network
    ends at the last one. ``drop_path_rate``
    is the stochastic-depth rate of the last block, rising linearly from 0 at the first.
    Every residual branch starts as zero, so a fresh network of any depth is the identity
    plus its projections and stays finite; ``zero_init_residual=False`` keeps the usual
    initialisation (None: the spec's own, :class:`~keras_resnets.blocks.ResidualOptions`).
    ``remat=True`` checkpoints every block (:class:`~keras_resnets.layers.RematBlock`):
    training recomputes each block's activations in the backward pass instead of keeping
    them, for deep nets or large batches that do not fit otherwise; same weights, outputs
    and gradients, more time per step.
    """
    import keras  # here, not at the top: counting and the registry run without Keras

    spec, input_shape, forward_kwargs, _ = _prepare(
        spec, input_tensor=input_tensor, name=name, **build_arguments)
    with deep_graph_recursion():
        inputs = input_tensor if input_tensor is not None else keras.Input(input_shape)
        outputs = forward(spec, inputs, **forward_kwargs)
        return keras.Model(inputs, outputs, name=name or spec.name)


BUILD_ARGUMENTS = tuple(inspect.signature(_prepare).parameters)[1:]
"""The keyword arguments of :func:`build_model` and :func:`count_model` (one source: the
signature of the function that resolves them)."""

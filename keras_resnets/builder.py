"""Build a spec with its weights: ``weights=`` is resolved once, into one
:class:`~keras_resnets.weights.Weights` record, before anything is built; the engine
builds the network; then the weights load (timm's ``build_model_with_cfg``). The engine
itself knows nothing of weights.

Example::

    from keras_resnets import builder, get_spec
    model = builder.build_model(get_spec("resnet50-v1.5"), weights="timm/a1_in1k")
    builder.count_model(get_spec("resnet50"), weights="imagenet", classes=10)  # ValueError
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from keras_resnets import engine, families
from keras_resnets import weights as W

if TYPE_CHECKING:  # Keras is imported where a model is built, not at import
    import keras

BUILD_ARGUMENTS = ("weights", *engine.BUILD_ARGUMENTS)
"""The keyword arguments of :func:`build_model` after the spec (the rest go to the spec)."""


def _with_top(build_arguments):
    """Whether the model gets the classifier whose weights load: ``features_only=True``
    builds none, whatever ``include_top`` says."""
    return (build_arguments.get("include_top", True)
            and not build_arguments.get("features_only", False))


@dataclasses.dataclass(frozen=True)
class BuildRecord:
    """How a model was built, kept on it as ``model.keras_resnets_build`` (read by
    ``keras_resnets.feature_info`` and ``keras_resnets.save_preset``): the spec, the build
    arguments (``weights`` as given, ``input_shape`` resolved, ``input_tensor`` left out)
    and, when ``create_model`` built it, the registry name and the family's options."""

    spec: engine.NetworkSpec
    arguments: Mapping
    model_name: str | None = None
    spec_options: Mapping = dataclasses.field(default_factory=dict)


def resolve_weights(spec, weights, *, include_top=True, classes=None) -> W.Weights | None:
    """``weights`` of :func:`build_model` as one record, or a ValueError before building."""
    return W.resolve(spec, weights, include_top=include_top,
                     classes=spec.default_classes if classes is None else classes,
                     spec_of=families.get_spec)


def count_model(spec, *, weights=None, known_size=False, **build_arguments):
    """What :func:`build_model` with the same arguments would build, counted (the same
    checks refuse the same arguments, ``weights`` included; nothing is built)."""
    resolve_weights(spec, weights, include_top=_with_top(build_arguments),
                    classes=build_arguments.get("classes"))
    return engine.count_model(spec, known_size=known_size, **build_arguments)


def build_model(spec: engine.NetworkSpec, *, weights=None, **build_arguments) -> keras.Model:
    """Build ``spec`` with :func:`keras_resnets.engine.build_model` (the keras.applications
    arguments) and load ``weights``: ``None``, ``"imagenet"``, a catalogue tag, a URL or
    the path of a weights file (see :mod:`keras_resnets.weights`). With ``remat``, the
    weights load into the plain network (the layout weights files hold) and are copied
    into the checkpointed one by variable path. The model keeps how it was built as
    ``model.keras_resnets_build`` (a :class:`BuildRecord`)."""
    include_top = _with_top(build_arguments)
    resolved = resolve_weights(spec, weights, include_top=include_top,
                               classes=build_arguments.get("classes"))
    model = engine.build_model(spec, **build_arguments)
    if resolved is not None:
        W.check_file(resolved, model.count_params(), spec.name)
        with engine.deep_graph_recursion():
            if build_arguments.get("remat"):
                plain = engine.build_model(spec, **dict(build_arguments, remat=False))
                W.load(plain, resolved, include_top=include_top)
                values = {v.path: v for v in plain.weights}
                for variable in model.weights:
                    variable.assign(values[variable.path])
            else:
                W.load(model, resolved, include_top=include_top)
    arguments = {key: value for key, value in build_arguments.items() if key != "input_tensor"}
    arguments.update(name=build_arguments.get("name"), weights=weights,
                     input_shape=tuple(engine._input_shape(
                         spec, build_arguments.get("input_tensor"),
                         build_arguments.get("input_shape"))))
    model.keras_resnets_build = BuildRecord(spec, arguments)
    return model

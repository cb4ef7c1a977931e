"""Model names -> specs, and the counters that read them.

A family registers a name pattern (a regular expression) and a factory that turns
a match into a spec; ``list_models`` lists each family's named examples, and
``create_model`` accepts every name the patterns match (``wrn-40-4``, ``resnet74``...).

Example::

    create_model("wrn-28-10", dropout_rate=0.3, classes=100)
    list_models("resnext*")
    count_params("resnet50")          # ParamCount(trainable=25583592, total=25636712)
    count_macs("wrn-28-10")           # 5248180224
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import re
from collections import namedtuple
from collections.abc import Callable

from keras_resnets import engine

ParamCount = namedtuple("ParamCount", ["trainable", "total"])


@dataclasses.dataclass(frozen=True)
class TuningAxes:
    """How the budgeted search varies a family: depth against width (and cardinality).

    ``model_name(depth, width, cardinality)`` is the canonical registered name of one
    configuration, so every configuration the tuner proposes is a name ``create_model``
    builds. ``iso_integer``: the width solved for in iso mode is an integer (ResNeXt's
    bottleneck width d, DenseNet-BC's growth rate k); ``iso_max`` bounds that solver.
    ``recipe`` is the family's default training recipe.
    """

    name: str
    width_name: str
    depths: tuple
    widths: tuple
    model_name: Callable
    recipe: str
    cardinalities: tuple | None = None
    iso_integer: bool = False
    iso_max: int = 64


@dataclasses.dataclass(frozen=True)
class Family:
    """A registered family: names matching ``pattern`` are made by ``factory(match)``."""

    name: str
    pattern: str
    factory: Callable
    examples: tuple
    paper: str
    paper_errors: dict = dataclasses.field(default_factory=dict)
    tuning: TuningAxes | None = None


_FAMILIES: list[Family] = []


def register_family(name, pattern, factory, examples, paper, paper_errors=None, tuning=None):
    """Register names matching ``pattern`` (full match); ``factory(match, **spec_kwargs)``
    returns the spec. ``paper_errors`` maps example names to published test errors;
    ``tuning`` (:class:`TuningAxes`) makes the family searchable by the tuner."""
    _FAMILIES.append(Family(name, pattern, factory, tuple(examples), paper, paper_errors or {},
                            tuning))


def format_number(value) -> str:
    """A width as a name writes it: ``2`` for 2.0, ``2.5`` for 2.5."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def tuning_families() -> dict[str, TuningAxes]:
    """The searchable families by tuning name (``"wrn"``, ``"resnet"``, ...)."""
    return {f.tuning.name: f.tuning for f in _FAMILIES if f.tuning is not None}


def _natural_key(name):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_models(pattern=None) -> list[str]:
    """Registered model names, optionally filtered by a shell-style ``pattern`` ("wrn-*")."""
    names = sorted({n for family in _FAMILIES for n in family.examples}, key=_natural_key)
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def _resolve(name):
    if not isinstance(name, str):
        raise ValueError(f"model name must be a string such as 'wrn-28-10'; got {name!r}")
    key = name.strip().lower()
    for family in _FAMILIES:
        match = re.fullmatch(family.pattern, key)
        if match:
            return family, match
    close = difflib.get_close_matches(key, list_models(), n=5, cutoff=0.5)
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise ValueError(f"unknown model name {name!r}{hint}. See keras_resnets.list_models() "
                     "(parametrised names such as 'wrn-<depth>-<width>' take any valid values)")


def get_spec(name, **spec_kwargs) -> engine.NetworkSpec:
    """The spec of a registered model, with family-specific overrides (e.g. dropout_rate)."""
    family, match = _resolve(name)
    return family.factory(match, **spec_kwargs)


def _split(kwargs):
    build = {k: v for k, v in kwargs.items() if k in engine.BUILD_ARGUMENTS}
    spec = {k: v for k, v in kwargs.items() if k not in engine.BUILD_ARGUMENTS}
    return spec, build


def create_model(name, **kwargs):
    """Build a registered model: ``create_model("wrn-28-10", classes=100)``.

    Keyword arguments are the keras.applications ones (``include_top``, ``weights``,
    ``input_tensor``, ``input_shape``, ``pooling``, ``classes``, ``classifier_activation``,
    ``name``), ``drop_path_rate``, ``features_only``, and the family's own options
    (for example ``dropout_rate`` for Wide ResNets).
    """
    spec_kwargs, build_kwargs = _split(kwargs)
    return engine.build_model(get_spec(name, **spec_kwargs), **build_kwargs)


def _tally(name, input_shape, kwargs):
    spec_kwargs, build_kwargs = _split(kwargs)
    if input_shape is not None:
        build_kwargs["input_shape"] = input_shape
    return engine.count_model(get_spec(name, **spec_kwargs), **build_kwargs)


def count_params(name, **kwargs) -> ParamCount:
    """Trainable and total parameters (total counts BatchNorm moving statistics, as
    ``model.count_params()`` does), computed from the spec without building a model."""
    tally = _tally(name, None, kwargs)
    return ParamCount(tally.trainable, tally.total)


def count_macs(name, input_shape=None, **kwargs) -> int:
    """Multiply-adds of conv and dense layers for one image (default input size)."""
    return _tally(name, input_shape, kwargs).macs


def model_info(name) -> dict:
    """What ``keras-resnets info`` prints: counts, MACs, layers, paper, weights."""
    family, _ = _resolve(name)
    spec = get_spec(name)
    tally = engine.count(spec)
    from keras_resnets import weights

    return {
        "name": name.strip().lower(),
        "family": family.name,
        "input_shape": spec.default_input_shape,
        "classes": spec.default_classes,
        "trainable_params": tally.trainable,
        "total_params": tally.total,
        "macs": tally.macs,
        "weighted_layers": tally.layers,
        "paper": family.paper,
        "paper_error": family.paper_errors.get(name.strip().lower()),
        "keras_applications_compatible": spec.keras_weights is not None,
        "imagenet_weights": spec.keras_weights in weights.IMAGENET,
    }

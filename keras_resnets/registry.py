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
import importlib
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
    bottleneck width d, DenseNet-BC's growth rate k); ``iso_min`` and ``iso_max`` bound
    that solver (``iso_min``: the narrowest width the family builds).
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
    iso_min: float = 1
    iso_max: int = 64


@dataclasses.dataclass(frozen=True)
class PaperErrors:
    """Published test errors (%) of some of a family's models, as one paper prints them:
    ``errors`` maps a name to one figure per dataset of ``datasets``; ``source`` says where.

    Example::

        PaperErrors("Zagoruyko & Komodakis 2016, Table 4", ("CIFAR-10", "CIFAR-100"),
                    {"wrn-28-10": ("4.00", "19.25")}).of("wrn-28-10")
        # {"CIFAR-10": "4.00", "CIFAR-100": "19.25"}
    """

    source: str
    datasets: tuple
    errors: dict

    def __post_init__(self):
        for name, figures in self.errors.items():
            if len(figures) != len(self.datasets):
                raise ValueError(f"paper errors of {name!r} must give one figure per dataset "
                                 f"{self.datasets}; got {figures!r}")

    def of(self, name) -> dict:
        """``{dataset: published error}`` of ``name``; empty if the paper gives none."""
        return dict(zip(self.datasets, self.errors.get(name, ()), strict=False))


@dataclasses.dataclass(frozen=True)
class Family:
    """A registered family: names matching ``pattern`` are made by ``factory(match)``."""

    name: str
    pattern: str
    factory: Callable
    examples: tuple
    paper: str
    paper_errors: PaperErrors | None = None
    tuning: TuningAxes | None = None


_FAMILIES: list[Family] = []

# The modules that register the families; the registry imports them when first read, so
# that listing and counting run on plain Python (no Keras, no TensorFlow).
FAMILY_MODULES = ("cliquenet", "deeplab", "densenet", "inception_v3", "mobilenet_v2", "resnet",
                  "resnext", "wide_resnet", "xception")


def _families() -> list[Family]:
    for module in FAMILY_MODULES:
        importlib.import_module(f"keras_resnets.models.{module}")
    return _FAMILIES


def register_family(name, pattern, factory, examples, paper, paper_errors=None, tuning=None):
    """Register names matching ``pattern`` (full match); ``factory(match, **spec_kwargs)``
    returns the spec. ``paper_errors`` (:class:`PaperErrors`) holds published test errors;
    ``tuning`` (:class:`TuningAxes`) makes the family searchable by the tuner."""
    _FAMILIES.append(Family(name, pattern, factory, tuple(examples), paper, paper_errors,
                            tuning))


def format_number(value) -> str:
    """A width as a name writes it: ``2`` for 2.0, ``2.5`` for 2.5."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def tuning_families() -> dict[str, TuningAxes]:
    """The searchable families by tuning name (``"wrn"``, ``"resnet"``, ...)."""
    return {f.tuning.name: f.tuning for f in _families() if f.tuning is not None}


def _natural_key(name):
    """Numbers compare as numbers: mobilenetv2-0.35 < mobilenetv2-0.5 < resnet18 < resnet101."""
    parts = re.split(r"(\d+(?:\.\d+)?)", name)
    return [float(part) if index % 2 else part for index, part in enumerate(parts)]


def list_models(pattern=None) -> list[str]:
    """Registered model names, optionally filtered by a shell-style ``pattern`` ("wrn-*")."""
    if pattern is not None and not isinstance(pattern, str):
        raise ValueError(f"pattern must be None or a shell-style pattern such as 'wrn-*'; "
                         f"got {pattern!r}")
    names = sorted({n for family in _families() for n in family.examples}, key=_natural_key)
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def _resolve(name):
    if not isinstance(name, str):
        raise ValueError(f"model name must be a string such as 'wrn-28-10'; got {name!r}")
    key = name.strip().lower()
    for family in _families():
        match = re.fullmatch(family.pattern, key)
        if match:
            return family, match
    close = difflib.get_close_matches(key, list_models(), n=5, cutoff=0.5)
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise ValueError(f"unknown model name {name!r}{hint}. See keras_resnets.list_models() "
                     "(parametrised names such as 'wrn-<depth>-<width>' take any valid values)")


def _same_numbers(key, family) -> list[str]:
    """Registered names of other families with the same numbers as ``key``
    (``wrn-50-2`` -> ``wide-resnet50-2``)."""
    numbers = re.findall(r"\d+", key)
    return [n for f in _families() if f is not family for n in f.examples
            if numbers and re.findall(r"\d+", n) == numbers]


def get_spec(name, **spec_kwargs) -> engine.NetworkSpec:
    """The spec of a registered model, with family-specific overrides (e.g. dropout_rate)."""
    family, match = _resolve(name)
    try:
        return family.factory(match, **spec_kwargs)
    except ValueError as error:
        similar = _same_numbers(match.group(0), family)
        if not similar:
            raise
        raise ValueError(f"{error}; did you mean {' or '.join(map(repr, similar))}?") from error


def _weight_options(model_name, kwargs):
    """``kwargs`` plus the build options a catalogue tag's weights need (timm's Xception:
    ``padding="torch"``), unless the call sets one of them itself."""
    weights = kwargs.get("weights")
    if not isinstance(weights, str) or "/" not in weights:
        return kwargs
    from keras_resnets.weights import catalogue

    record = catalogue.records(get_spec(model_name).name).get(weights)
    if record is None or any(key in kwargs for key, _ in record.options):
        return kwargs
    return {**dict(record.options), **kwargs}


def _split(kwargs):
    build = {k: v for k, v in kwargs.items() if k in engine.BUILD_ARGUMENTS}
    spec = {k: v for k, v in kwargs.items() if k not in engine.BUILD_ARGUMENTS}
    return spec, build


def create_model(model_name, /, **kwargs):
    """Build a registered model: ``create_model("wrn-28-10", classes=100, name="wrn")``.

    Keyword arguments are the keras.applications ones (``include_top``, ``weights``,
    ``input_tensor``, ``input_shape``, ``pooling``, ``classes``, ``classifier_activation``,
    ``name``: the Keras model's name), ``drop_path_rate``, ``features_only``,
    ``zero_init_residual``, and the family's own options (for example ``dropout_rate``
    for Wide ResNets). A catalogue tag brings the options its weights were trained with:
    ``create_model("xception", weights="timm/tf_in1k")`` builds ``padding="torch"``.
    """
    spec_kwargs, build_kwargs = _split(_weight_options(model_name, kwargs))
    return engine.build_model(get_spec(model_name, **spec_kwargs), **build_kwargs)


def _tally(model_name, kwargs, known_size=False):
    spec_kwargs, build_kwargs = _split(_weight_options(model_name, kwargs))
    return engine.count_model(get_spec(model_name, **spec_kwargs), known_size=known_size,
                              **build_kwargs)


def count_params(model_name, /, **kwargs) -> ParamCount:
    """Trainable and total parameters (total counts BatchNorm moving statistics, as
    ``model.count_params()`` does), computed from the spec without building a model;
    the arguments of :func:`create_model`, refused exactly where it refuses them."""
    tally = _tally(model_name, kwargs)
    return ParamCount(tally.trainable, tally.total)


def count_macs(model_name, /, input_shape=None, **kwargs) -> int:
    """Multiply-adds of conv and dense layers for one image (default input size; a given
    ``input_shape`` must have a known height and width)."""
    return _tally(model_name, dict(kwargs, input_shape=input_shape), known_size=True).macs


def model_info(name) -> dict:
    """What ``keras-resnets info`` prints: counts, MACs, layers, paper, published errors
    (``{"CIFAR-10": "4.00", ...}`` as printed in ``paper_errors_source``), weights."""
    family, _ = _resolve(name)
    key = name.strip().lower()
    spec = get_spec(name)
    tally = engine.count(spec)
    from keras_resnets import weights

    return {
        "name": key,
        "family": family.name,
        "input_shape": spec.default_input_shape,
        "classes": spec.default_classes,
        "trainable_params": tally.trainable,
        "total_params": tally.total,
        "macs": tally.macs,
        "weighted_layers": tally.layers,
        "paper": family.paper,
        "paper_errors": family.paper_errors.of(key) if family.paper_errors else {},
        "paper_errors_source": family.paper_errors.source if family.paper_errors else None,
        "keras_applications_compatible": spec.keras_weights is not None,
        "imagenet_weights": spec.keras_weights in weights.IMAGENET,
        "weights": sorted(weights.catalogue.records(name.strip().lower())),
    }

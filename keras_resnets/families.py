"""The table of registered families: name patterns -> specs, read by name.

A family module calls :func:`register_family` when imported; :mod:`keras_resnets.registry`
imports every family module, so read names through it (``keras_resnets.get_spec``). This
module sits below the families so that they and the weights builder can use it.

Example::

    register_family("tiny", r"tiny(\\d+)", lambda match, **kw: tiny_spec(int(match.group(1))),
                    ["tiny8"], "my paper")
    get_spec("tiny8").name            # "tiny8": a spec is named by its registry name
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import re
from collections.abc import Callable

from keras_resnets import engine


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


_FAMILIES: dict[str, Family] = {}


def register_family(name, pattern, factory, examples, paper, paper_errors=None, tuning=None):
    """Register names matching ``pattern`` (full match); ``factory(match, **spec_kwargs)``
    returns the spec. ``paper_errors`` (:class:`PaperErrors`) holds published test errors;
    ``tuning`` (:class:`TuningAxes`) makes the family searchable by the tuner. A family
    name is registered once: a second ``register_family("resnet", ...)`` is refused."""
    if name in _FAMILIES:
        raise ValueError(f"family name {name!r} is already registered (pattern "
                         f"{_FAMILIES[name].pattern!r}); give the family {pattern!r} its own "
                         f"name, e.g. {name + '-imagenet'!r}")
    _FAMILIES[name] = Family(name, pattern, factory, tuple(examples), paper, paper_errors,
                             tuning)


def _families() -> list[Family]:
    return list(_FAMILIES.values())


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


def find_family(name) -> tuple[Family, re.Match]:
    """The registered family whose pattern matches ``name`` (case and spaces aside) and
    the match, or a ValueError naming the closest registered names."""
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
    family, match = find_family(name)
    try:
        return family.factory(match, **spec_kwargs)
    except ValueError as error:
        similar = _same_numbers(match.group(0), family)
        if not similar:
            raise
        raise ValueError(f"{error}; did you mean {' or '.join(map(repr, similar))}?") from error

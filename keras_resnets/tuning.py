"""Budgeted Keras Tuner search over depth and width: at a fixed number of parameters,
is a thin deep network or a wide shallow one better on my data?

The search space holds only the configurations whose parameter count (the analytic
counter, exact, trainable parameters as the papers report them) lies in
``[(1 - tolerance) * budget, budget]``: no trial builds a model over budget, none is
wasted, and every Keras Tuner oracle samples only feasible points, because the space is
a single ``Choice("config", [...])`` over the feasible configuration keys
(``"wrn-16-4"``, ``"resnet56-w2"``, ``"resnext29-8x16d"``, ``"densenet-bc-100-12"``).

``mode="grid"`` takes the integer widths of ``widths``; ``mode="iso"`` solves, for each
depth, the width that brings the count closest to the budget from below (the Wide
ResNet paper's equal-parameter comparison).

Example::

    feasible_configs("wrn", "1.5M")                       # list of Config, no model built
    result = run_search("wrn", "1.5M", dataset="digits", oracle="bayesian",
                        max_trials=20, epochs=15, directory="runs/tune")
    print(result.csv)                                      # one row per trial

    # or with your own data and the Keras Tuner objects
    hypermodel = BudgetedHyperModel("wrn", 1_500_000, mode="iso")
    tuner = make_tuner(hypermodel, "hyperband", directory="runs/tune-iso", epochs=9)
    tuner.search(train_ds, validation_data=val_ds, epochs=9)
    results_table(tuner)                                   # CSV + figure beside it
    save_best_model(tuner)                                 # best_model.keras
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import importlib
import io
import json
import math
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import time

import keras_tuner
import numpy as np
from keras_tuner.src.distribute import utils as dist_utils
from keras_tuner.src.engine import tuner_utils
from keras_tuner.src.engine.trial import Trial, TrialStatus

from keras_resnets import engine

FAMILIES = ("wrn", "resnet", "resnext", "densenet-bc")
MODES = ("grid", "iso")
ORACLES = ("random", "grid", "bayesian", "hyperband")
DEFINITION_FILE = "search.json"
RESULTS_FILE = "results.csv"
BEST_MODEL_FILE = "best_model.keras"
CONFIG_HP = "config"
ISO_STEPS = 64  # iso widths of wrn/resnet are multiples of 1/64: every channel count reachable
DEFAULT_RECIPES = {"wrn": "wrn", "resnet": "resnet-cifar", "resnext": "resnet-cifar",
                   "densenet-bc": "densenet"}
_BUDGET_RE = re.compile(r"^([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgb]?)$")
_SUFFIXES = {"": 1, "k": 10 ** 3, "m": 10 ** 6, "g": 10 ** 9, "b": 10 ** 9}


# --- budgets ---------------------------------------------------------------------------


def parse_budget(budget) -> int:
    """A parameter budget as an integer: ``1500000``, ``"1.5M"``, ``"800k"``, ``"1_500_000"``."""
    value = None
    if isinstance(budget, (int, float, np.integer, np.floating)) and not isinstance(budget, bool):
        value = float(budget)
    elif isinstance(budget, str):
        match = _BUDGET_RE.match(budget.strip().lower().replace("_", "").replace(",", ""))
        if match:
            value = float(match.group(1)) * _SUFFIXES[match.group(2)]
    if value is None or not math.isfinite(value):
        raise ValueError(f"budget must be a number of parameters such as 1500000, '1.5M' or "
                         f"'800k'; got {budget!r}")
    if value < 1:
        raise ValueError(f"budget must be > 0 parameters (e.g. '1.5M', '800k'); got {budget!r}")
    return int(round(value))


def _format_count(n) -> str:
    if n >= 10 ** 9:
        return f"{n / 1e9:.3g}G"
    if n >= 10 ** 6:
        return f"{n / 1e6:.3g}M"
    if n >= 10 ** 3:
        return f"{n / 1e3:.3g}k"
    return str(int(n))


def _format_width(width) -> str:
    width = float(width)
    return str(int(width)) if width.is_integer() else repr(width)


# --- families ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Family:
    name: str
    width_name: str
    default_depths: tuple
    default_widths: tuple
    default_cardinalities: tuple | None
    iso_integer: bool  # the solved width is an integer (resnext d, densenet k)
    iso_max: int  # largest width the iso solver considers


_FAMILY_TABLE = {
    "wrn": _Family("wrn", "width factor k", (10, 16, 22, 28, 34, 40), tuple(range(1, 13)),
                   None, False, 64),
    "resnet": _Family("resnet", "width multiplier", (20, 32, 44, 56, 110), tuple(range(1, 9)),
                      None, False, 64),
    "resnext": _Family("resnext", "bottleneck width d", (11, 20, 29), (4, 8, 16, 32, 64),
                       (1, 2, 4, 8, 16, 32), True, 512),
    "densenet-bc": _Family("densenet-bc", "growth rate k", (40, 64, 100, 136, 190),
                           (12, 16, 24, 32, 40), None, True, 256),
}


def _densenet_registered() -> bool:
    from keras_resnets import registry

    with contextlib.suppress(ImportError):
        importlib.import_module("keras_resnets.models.densenet")
    try:
        registry._resolve("densenet-bc-100-12")
    except ValueError:
        return False
    return True


def _check_family(family):
    key = family.strip().lower() if isinstance(family, str) else family
    if key not in _FAMILY_TABLE:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}; got {family!r}")
    if key == "densenet-bc" and not _densenet_registered():
        raise ValueError("family 'densenet-bc' needs the DenseNet models "
                         "(keras_resnets.models.densenet), which this installation lacks")
    return _FAMILY_TABLE[key]


def _make_spec(family, depth, width, cardinality, options):
    options = dict(options)
    if family == "wrn":
        from keras_resnets.models.wide_resnet import wide_resnet_spec

        return wide_resnet_spec(depth, width, **options)
    if family == "resnet":
        from keras_resnets.models.resnet import resnet_spec

        return resnet_spec(depth, **{"stem": "cifar", "width": width, **options})
    if family == "resnext":
        from keras_resnets.models.resnext import resnext_spec

        return resnext_spec(depth, cardinality, width, **{"stem": "cifar", **options})
    from keras_resnets.registry import get_spec

    return get_spec(f"densenet-bc-{depth}-{width}", **options)


def _config_key(family, depth, width, cardinality) -> str:
    w = _format_width(width)
    if family == "wrn":
        return f"wrn-{depth}-{w}"
    if family == "resnet":
        return f"resnet{depth}-w{w}"
    if family == "resnext":
        return f"resnext{depth}-{cardinality}x{w}d"
    return f"densenet-bc-{depth}-{w}"


@dataclasses.dataclass(frozen=True)
class Config:
    """One feasible configuration: its key, architecture numbers and exact counts.

    ``width`` is the family's width: the WRN width factor k, the ResNet width
    multiplier, the ResNeXt bottleneck width d (with ``cardinality`` C) or the
    DenseNet-BC growth rate k. ``params`` are trainable parameters (what the papers
    report); ``total_params`` add BatchNorm moving statistics; ``macs`` are the
    multiply-adds for one image of the search's input shape.
    """

    family: str
    depth: int
    width: float
    cardinality: int | None
    params: int
    total_params: int
    macs: int
    options: tuple = ()

    @property
    def key(self) -> str:
        return _config_key(self.family, self.depth, self.width, self.cardinality)

    def spec(self) -> engine.NetworkSpec:
        """The spec of this configuration (what the counter read and the model builds)."""
        return _make_spec(self.family, self.depth, self.width, self.cardinality, self.options)

    def as_dict(self) -> dict:
        return {"key": self.key, "family": self.family, "depth": self.depth,
                "width": self.width, "cardinality": self.cardinality, "params": self.params,
                "total_params": self.total_params, "macs": self.macs}


class _Counter:
    """Exact counts of (depth, width, cardinality), memoised for one enumeration."""

    def __init__(self, family, input_shape, classes, options):
        self.family, self.input_shape, self.classes = family, input_shape, classes
        self.options = options
        self.cache = {}

    def spec(self, depth, width, cardinality):
        return _make_spec(self.family, depth, width, cardinality, self.options)

    def tally(self, depth, width, cardinality=None):
        key = (depth, width, cardinality)
        if key not in self.cache:
            self.cache[key] = engine.count(self.spec(depth, width, cardinality),
                                           self.input_shape, classes=self.classes)
        return self.cache[key]

    def params(self, depth, width, cardinality=None):
        return self.tally(depth, width, cardinality).trainable

    def config(self, depth, width, cardinality=None, tally=None):
        tally = tally or self.tally(depth, width, cardinality)
        return Config(self.family, depth, width, cardinality, tally.trainable, tally.total,
                      tally.macs, self.options)


def _check_int_list(argument, values, family, what):
    if isinstance(values, (int, str)) or not hasattr(values, "__iter__"):
        values = [values]
    values = list(values)
    if not values:
        raise ValueError(f"{argument} must list at least one value ({what}) for family "
                         f"{family!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{argument} must be positive integers ({what}) for family "
                             f"{family!r}; got {v!r} in {values!r}")
    return tuple(sorted({int(v) for v in values}))


def _check_tolerance(tolerance):
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) \
            or not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be a fraction in (0, 1) (e.g. 0.1: counts within 10% "
                         f"below the budget); got {tolerance!r}")
    return float(tolerance)


def _check_input(input_shape, classes):
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 1:
        raise ValueError(f"classes must be a positive integer (e.g. 10); got {classes!r}")
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (height, width, channels), e.g. (32, 32, 3); "
                         f"got {input_shape!r}")
    return shape, int(classes)


def _resolve_space(family, *, mode, depths, widths, cardinalities, options):
    """Validated depths, grid widths and cardinalities (family defaults filled in)."""
    fam = _check_family(family)
    if mode not in MODES:
        raise ValueError(f"mode must be 'grid' (integer widths from `widths`) or 'iso' (width "
                         f"solved per depth to meet the budget); got {mode!r}")
    depths = _check_int_list("depths", fam.default_depths if depths is None else depths,
                             fam.name, "network depths")
    if mode == "iso" and widths is not None:
        raise ValueError(f"widths apply to mode='grid'; mode='iso' solves the {fam.width_name} "
                         f"for each depth (got widths={widths!r})")
    if mode == "grid":
        widths = _check_int_list("widths", fam.default_widths if widths is None else widths,
                                 fam.name, f"the {fam.width_name}")
    if fam.default_cardinalities is None:
        if cardinalities is not None:
            raise ValueError(f"cardinalities apply to family 'resnext' only; got "
                             f"cardinalities={cardinalities!r} for family {fam.name!r}")
    else:
        cardinalities = _check_int_list(
            "cardinalities", fam.default_cardinalities if cardinalities is None
            else cardinalities, fam.name, "the cardinality C")
    probe_width = 12 if fam.name == "densenet-bc" else 1
    for depth in depths:
        try:
            _make_spec(fam.name, depth, probe_width, 1, options)
        except ValueError as error:
            raise ValueError(f"depths: {depth} is not a valid depth for family {fam.name!r}: "
                             f"{error}") from None
        except TypeError as error:
            raise ValueError(f"invalid options {dict(options)!r} for family {fam.name!r}: "
                             f"{error}") from None
    return fam, depths, widths, cardinalities


def _first_at_least(count, values, target):
    """Index of the first of the sorted ``values`` whose monotone ``count`` >= target."""
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if count(values[mid]) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _quadratic_guess(points, target):
    """The m where the parabola through three (m, count) points reaches ``target``."""
    (x0, y0), (x1, y1), (x2, y2) = points
    try:
        a, b, c = np.polyfit([x0, x1, x2], [y0, y1, y2], 2)
    except (ValueError, np.linalg.LinAlgError):
        return None
    if abs(a) < 1e-12:
        return (target - c) / b if b else None
    disc = b * b - 4 * a * (c - target)
    if disc < 0:
        return None
    roots = [(-b + sign * math.sqrt(disc)) / (2 * a) for sign in (1, -1)]
    inside = [r for r in roots if x0 <= r <= x2]
    return inside[0] if inside else None


def _last_at_most(count, low, high, budget):
    """Largest integer m in [low, high] with the monotone ``count(m)`` <= budget, or None.

    Parameter counts are (nearly) quadratic in the width: a first guess interpolates on
    the square root of the counts at the ends, a second fits a parabola through the
    three counts (exact for ResNeXt); then it gallops from the guess to bracket the
    answer and bisects the bracket. About five counts per solve.
    """
    p_low = count(low)
    if p_low > budget:
        return None
    p_high = count(high)
    if p_high <= budget:
        return high
    fraction = (math.sqrt(budget) - math.sqrt(p_low)) / (math.sqrt(p_high) - math.sqrt(p_low))
    guess = min(max(low + int(round(fraction * (high - low))), low + 1), high - 1)
    if high - low > 2:
        refined = _quadratic_guess([(low, p_low), (guess, count(guess)), (high, p_high)],
                                   budget)
        if refined is not None:
            guess = min(max(int(math.floor(refined + 1e-9)), low + 1), high - 1)
    step = 1
    if count(guess) <= budget:
        lo = guess
        while lo + step < high and count(lo + step) <= budget:
            lo, step = lo + step, step * 2
        hi = min(lo + step, high)
    else:
        hi = guess
        while hi - step > low and count(hi - step) > budget:
            hi, step = hi - step, step * 2
        lo = max(hi - step, low)
    while hi - lo > 1:  # count(lo) <= budget < count(hi)
        mid = (lo + hi) // 2
        if count(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def _short_width(counter, depth, m, cardinality):
    """The shortest decimal width that gives the same network as ``m / 64``."""
    exact = m / ISO_STEPS
    reference = counter.spec(depth, exact, cardinality)
    target = (reference.stem_filters, reference.stages)
    for decimals in range(0, 7):
        width = round(exact, decimals)
        if width > 0:
            spec = counter.spec(depth, width, cardinality)
            if (spec.stem_filters, spec.stages) == target:
                return int(width) if float(width).is_integer() else width
    return exact


def _grid_configs(counter, fam, depths, widths, cardinalities, low, budget):
    out = []
    for depth in depths:
        for card in cardinalities or (None,):
            def count(w, depth=depth, card=card):
                return counter.params(depth, w, card)

            start = _first_at_least(count, widths, low)
            for width in widths[start:]:
                if count(width) > budget:
                    break
                out.append(counter.config(depth, width, card))
    return out


def _iso_configs(counter, fam, depths, cardinalities, low, budget):
    out = []
    scale = 1 if fam.iso_integer else ISO_STEPS
    for depth in depths:
        for card in cardinalities or (None,):
            def count(m, depth=depth, card=card):
                return counter.params(depth, m if fam.iso_integer else m / ISO_STEPS, card)

            m = _last_at_most(count, 1, fam.iso_max * scale, budget)
            if m is None or count(m) < low:
                continue
            tally = counter.tally(depth, m if fam.iso_integer else m / ISO_STEPS, card)
            width = m if fam.iso_integer else _short_width(counter, depth, m, card)
            out.append(counter.config(depth, width, card, tally))
    return out


def _admissible_budgets(counter, fam, mode, depths, widths, cardinalities, tolerance, budget):
    """The smallest and largest budgets that admit some configuration of the space and,
    in grid mode, the admitting budgets nearest to ``budget`` below and above it (by
    bisection on each depth's monotone counts: a few counts, most already cached)."""
    cards = cardinalities or (None,)
    if mode == "grid":
        ends = (widths[0], widths[-1])
    else:
        ends = (1, fam.iso_max) if fam.iso_integer else (1 / ISO_STEPS, fam.iso_max)

    def top(p):  # the largest budget that still admits a count p
        return int(math.floor(p / (1 - tolerance)))

    smallest = min(counter.params(d, ends[0], c) for d in depths for c in cards)
    largest = max(top(counter.params(d, ends[1], c)) for d in depths for c in cards)
    if mode != "grid":
        return smallest, largest, None, None
    below, above = [], []
    for d in depths:
        for c in cards:
            def params(w, d=d, c=c):
                return counter.params(d, w, c)

            i = _first_at_least(lambda w, params=params: top(params(w)), widths, budget)
            if i > 0:
                below.append((top(params(widths[i - 1])), (d, widths[i - 1], c)))
            j = _first_at_least(params, widths, budget + 1)
            if j < len(widths):
                above.append((params(widths[j]), (d, widths[j], c)))
    return smallest, largest, max(below) if below else None, min(above) if above else None


def feasible_configs(family, budget, *, tolerance=0.1, mode="grid", depths=None, widths=None,
                     cardinalities=None, input_shape=(32, 32, 3), classes=10,
                     spec_options=None) -> list[Config]:
    """Every configuration of ``family`` whose trainable parameter count lies in
    ``[(1 - tolerance) * budget, budget]``, with params and MACs, no model built.

    Args:
        family: ``"wrn"`` (depth 6n+4, width factor k), ``"resnet"`` (CIFAR depth 6n+2,
            width multiplier), ``"resnext"`` (CIFAR depth 9n+2, cardinality C,
            bottleneck width d) or ``"densenet-bc"`` (depth L = 6n+4, growth rate k).
        budget: parameters, an integer or a string such as ``"1.5M"`` or ``"800k"``.
        tolerance: the fraction below the budget still admitted, in (0, 1).
        mode: ``"grid"``: the integer ``widths``; ``"iso"``: for each depth (and
            cardinality) the largest width whose count is within budget, kept when it
            lands within tolerance (WRN/ResNet widths in steps of 1/64, ResNeXt
            bottleneck widths and DenseNet growth rates integers).
        depths, widths, cardinalities: the grid (default: the family's usual values;
            ``cardinalities`` for ResNeXt only, ``widths`` for grid mode only).
        input_shape, classes: the data the networks are for (the classifier's size and
            the MACs depend on them).
        spec_options: extra arguments of the family's spec function, e.g.
            ``{"dropout_rate": 0.3}`` for WRN.

    Returns:
        Configurations sorted by depth, cardinality and width.

    Raises:
        ValueError: on invalid arguments, or when no configuration fits, naming the
            smallest and the largest budget that would admit one.
    """
    budget = parse_budget(budget)
    tolerance = _check_tolerance(tolerance)
    input_shape, classes = _check_input(input_shape, classes)
    options = tuple(sorted((spec_options or {}).items()))
    fam, depths, widths, cardinalities = _resolve_space(
        family, mode=mode, depths=depths, widths=widths, cardinalities=cardinalities,
        options=options)
    counter = _Counter(fam.name, input_shape, classes, options)
    low = int(math.ceil((1 - tolerance) * budget))
    if mode == "grid":
        configs = _grid_configs(counter, fam, depths, widths, cardinalities, low, budget)
    else:
        configs = _iso_configs(counter, fam, depths, cardinalities, low, budget)
    if not configs:
        smallest, largest, below, above = _admissible_budgets(
            counter, fam, mode, depths, widths, cardinalities, tolerance, budget)
        grid = f"depths {list(depths)}"
        if widths is not None:
            grid += f", widths {list(widths)}"
        if cardinalities is not None:
            grid += f", cardinalities {list(cardinalities)}"
        nearest = [f"{item[0]:,} ({_config_key(fam.name, *item[1])})"
                   for item in (below, above) if item is not None]
        nearest = f"; nearest: {' and '.join(nearest)}" if nearest else ""
        raise ValueError(
            f"budget {budget:,} admits no {fam.name} configuration (mode={mode!r}, {grid}): "
            f"none has between {low:,} and {budget:,} parameters (tolerance {tolerance:g}). "
            f"Budgets from {smallest:,} ({_format_count(smallest)}) to {largest:,} "
            f"({_format_count(largest)}) admit some{nearest}; or widen the tolerance, the "
            f"grid, or use mode='iso'")
    configs.sort(key=lambda c: (c.depth, c.cardinality or 0, c.width))
    return configs


# --- data and recipes --------------------------------------------------------------------


def _check_recipe(recipe, family):
    from keras_resnets import training

    return training.get_recipe(DEFAULT_RECIPES[family] if recipe is None else recipe).name


def _steps(dataset):
    with contextlib.suppress(Exception):
        n = int(dataset.cardinality())
        if n > 0:
            return n
    with contextlib.suppress(Exception):
        return len(dataset)
    return 1


def _one_hot_labels(args, kwargs):
    """Whether the training labels are one-hot rows (label smoothing) or class ids."""
    data = args[0] if args else kwargs.get("x")
    with contextlib.suppress(Exception):
        labels = data.element_spec[1]
        return len(labels.shape) == 2 and (labels.shape[-1] or 0) > 1
    y = args[1] if len(args) > 1 else kwargs.get("y")
    return getattr(y, "ndim", 1) == 2 and y.shape[-1] > 1


def compile_for_recipe(model, recipe, *, epochs, steps_per_epoch, one_hot=False,
                       initial_epoch=0, jit_compile="auto", run_eagerly=False):
    """Compile ``model`` as :func:`keras_resnets.training.train` does for ``recipe``:
    the recipe's SGD and learning-rate schedule over ``epochs`` (milestones scaled),
    coupled L2 weight decay on conv/dense kernels, cross-entropy (categorical for
    one-hot labels), and the metrics ``accuracy`` and ``xent`` (cross-entropy without
    the L2 penalty). ``initial_epoch`` starts the schedule there (Hyperband's rounds);
    ``jit_compile`` and ``run_eagerly`` are Keras's (``False`` and ``True`` are faster
    for a few steps of a tiny model on a CPU: no XLA compilation, no graph tracing)."""
    from keras_resnets import training

    recipe = training.get_recipe(recipe)
    training.apply_weight_decay(model, recipe.weight_decay)
    optimizer = recipe.optimizer(recipe.learning_rate_schedule(epochs, steps_per_epoch))
    training.compile_model(model, optimizer, one_hot=one_hot, jit_compile=jit_compile,
                           run_eagerly=run_eagerly)
    if initial_epoch:
        optimizer.iterations.assign(initial_epoch * steps_per_epoch)
    return model


# --- the hypermodel -----------------------------------------------------------------------


class BudgetedHyperModel(keras_tuner.HyperModel):
    """A ``keras_tuner.HyperModel`` whose space is the feasible set of a parameter budget.

    The space is one hyperparameter, ``Choice("config", keys)``, over the keys of
    :func:`feasible_configs` (same arguments), so every oracle samples only networks
    within ``[(1 - tolerance) * budget, budget]`` parameters. ``build`` checks the built
    model's trainable parameters against the analytic count; ``fit`` compiles the model
    with the training ``recipe`` (default: the family's) and fits it with the epochs
    given to ``tuner.search``.

    Attributes:
        configs: the feasible :class:`Config` list; ``by_key`` maps keys to them.
        builds: ``(key, trainable parameters)`` of every model this hypermodel built.
    """

    def __init__(self, family, budget, *, tolerance=0.1, mode="grid", depths=None, widths=None,
                 cardinalities=None, input_shape=(32, 32, 3), classes=10, recipe=None,
                 spec_options=None, jit_compile="auto", run_eagerly=False, name=None):
        if jit_compile not in (True, False, "auto"):
            raise ValueError(f"jit_compile must be True, False or 'auto'; got {jit_compile!r}")
        if run_eagerly not in (True, False):
            raise ValueError(f"run_eagerly must be True or False; got {run_eagerly!r}")
        self.jit_compile, self.run_eagerly = jit_compile, run_eagerly
        self.configs = feasible_configs(
            family, budget, tolerance=tolerance, mode=mode, depths=depths, widths=widths,
            cardinalities=cardinalities, input_shape=input_shape, classes=classes,
            spec_options=spec_options)
        fam, depths, widths, cardinalities = _resolve_space(
            family, mode=mode, depths=depths, widths=widths, cardinalities=cardinalities,
            options=self.configs[0].options)
        self.family = fam.name
        self.budget = parse_budget(budget)
        self.tolerance = float(tolerance)
        self.mode = mode
        self.depths, self.widths, self.cardinalities = depths, widths, cardinalities
        self.input_shape, self.classes = _check_input(input_shape, classes)
        self.spec_options = dict(spec_options or {})
        self.recipe = _check_recipe(recipe, self.family)
        self.by_key = {c.key: c for c in self.configs}
        self.builds = []
        super().__init__(name=name or f"budgeted-{self.family}", tunable=True)

    @property
    def low(self) -> int:
        return int(math.ceil((1 - self.tolerance) * self.budget))

    def definition(self) -> dict:
        """What identifies this search space (stored in the search directory)."""
        return {"family": self.family, "budget": self.budget, "tolerance": self.tolerance,
                "mode": self.mode, "depths": list(self.depths),
                "widths": None if self.widths is None else list(self.widths),
                "cardinalities": None if self.cardinalities is None else list(self.cardinalities),
                "input_shape": list(self.input_shape), "classes": self.classes,
                "spec_options": self.spec_options, "recipe": self.recipe,
                "configs": [c.as_dict() for c in self.configs]}

    def declare_hyperparameters(self, hp):
        hp.Choice(CONFIG_HP, [c.key for c in self.configs], ordered=False)

    def config_for(self, hp) -> Config:
        key = hp.Choice(CONFIG_HP, [c.key for c in self.configs], ordered=False)
        if key not in self.by_key:
            raise keras_tuner.errors.FatalValueError(
                f"configuration {key!r} is not in this search's feasible set; the search "
                f"directory belongs to another search")
        return self.by_key[key]

    def build(self, hp):
        config = self.config_for(hp)
        if not self.low <= config.params <= self.budget:  # cannot happen: the set is feasible
            raise keras_tuner.errors.FatalValueError(
                f"{config.key} has {config.params:,} parameters, outside "
                f"[{self.low:,}, {self.budget:,}]")
        model = engine.build_model(config.spec(), input_shape=self.input_shape,
                                   classes=self.classes)
        built = int(sum(math.prod(w.shape) for w in model.trainable_weights))
        self.builds.append((config.key, built))
        if built != config.params:
            raise keras_tuner.errors.FatalValueError(
                f"{config.key}: the built model has {built:,} trainable parameters but the "
                f"analytic count says {config.params:,}; please report this bug")
        return model

    def fit(self, hp, model, *args, epochs=1, **kwargs):
        data = args[0] if args else kwargs.get("x")
        compile_for_recipe(model, self.recipe, epochs=epochs, steps_per_epoch=_steps(data),
                           one_hot=_one_hot_labels(args, kwargs),
                           initial_epoch=kwargs.get("initial_epoch", 0),
                           jit_compile=self.jit_compile, run_eagerly=self.run_eagerly)
        if hasattr(data, "element_spec"):  # a tf.data pipeline shuffles itself
            kwargs.setdefault("shuffle", False)
        return model.fit(*args, epochs=epochs, **kwargs)


# --- atomic state files and oracles -------------------------------------------------------


def _atomic_write_json(path, obj):
    """Write JSON so that a reader (or a restart after SIGKILL) sees old or new, never half."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


class _BudgetOracleMixin:
    """Atomic state files; uniform sampling of the untried configurations."""

    def save(self):
        _atomic_write_json(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        _atomic_write_json(os.path.join(self._get_trial_dir(trial.trial_id), "trial.json"),
                           trial.get_state())

    def _single_choice(self):
        space = self.hyperparameters.space
        if len(space) == 1 and isinstance(space[0], keras_tuner.engine.hyperparameters.Choice):
            return space[0]
        return None

    def _random_values(self):
        # Upstream draws at random and gives up after 20 collisions, which can end a
        # search while untried configurations remain; draw among the untried instead.
        hp = self._single_choice()
        if hp is None:
            return super()._random_values()
        untried = [v for v in hp.values if not self._duplicate({hp.name: v})]
        if not untried:
            return None
        rng = random.Random(self._seed_state)
        self._seed_state += 1
        return {hp.name: rng.choice(untried)}


class _RandomOracle(_BudgetOracleMixin, keras_tuner.oracles.RandomSearchOracle):
    pass


class _GridOracle(_BudgetOracleMixin, keras_tuner.oracles.GridSearchOracle):
    """The configurations in order, each once. Upstream keeps its place in the grid in
    memory only, so a resumed grid search fails with a KeyError
    (keras-team/keras-tuner#1055); here the place is the set of tried configurations,
    which the oracle's state files keep."""

    def populate_space(self, trial_id):
        hp = self._single_choice()
        if hp is None:
            return super().populate_space(trial_id)
        for value in hp.values:
            if not self._duplicate({hp.name: value}):
                return {"status": TrialStatus.RUNNING, "values": {hp.name: value}}
        status = TrialStatus.IDLE if self.ongoing_trials else TrialStatus.STOPPED
        return {"status": status, "values": None}


class _HyperbandOracle(_BudgetOracleMixin, keras_tuner.oracles.HyperbandOracle):
    pass


class _BayesianOracle(_BudgetOracleMixin, keras_tuner.oracles.BayesianOptimizationOracle):
    """Upper confidence bound over the untried configurations themselves: upstream
    optimises over the continuous embedding and may propose a configuration already
    tried, a wasted trial."""

    def populate_space(self, trial_id):
        hp = self._single_choice()
        if hp is None:
            return super().populate_space(trial_id)
        completed = [t for t in self.trials.values() if t.status == TrialStatus.COMPLETED]
        if len(completed) < (self.num_initial_points or 3):
            return self._random_populate_space()
        untried = [v for v in hp.values if not self._duplicate({hp.name: v})]
        if not untried:
            status = TrialStatus.IDLE if self.ongoing_trials else TrialStatus.STOPPED
            return {"status": status, "values": None}
        x, y = self._vectorize_trials()
        self.gpr.fit(np.nan_to_num(x, posinf=0, neginf=0), np.nan_to_num(y, posinf=0, neginf=0))
        candidates = np.array([[hp.value_to_prob(v)] for v in untried])
        mu, sigma = self.gpr.predict(candidates, return_std=True)
        best = untried[int(np.argmin(np.ravel(mu) - self.beta * np.ravel(sigma)))]
        return {"status": TrialStatus.RUNNING, "values": {hp.name: best}}


# --- the tuner -----------------------------------------------------------------------------


class BudgetedTuner(keras_tuner.Tuner):
    """A ``keras_tuner.Tuner`` for a :class:`BudgetedHyperModel`; made by :func:`make_tuner`.

    Beyond the Keras Tuner defaults it: stores the search definition in the project
    directory and refuses to resume a different search; writes its state files
    atomically (a search killed at any moment restarts where it stopped, the killed
    trial run again, completed ones kept); records each trial's wall time, parameters
    and MACs in its metrics; runs Hyperband's successive rounds; and, as chief of a
    distributed search, serves the oracle until the workers are done.
    """

    def __init__(self, hypermodel, oracle, *, directory, project_name, overwrite=False,
                 definition=None, verbose=1, **kwargs):
        if not isinstance(hypermodel, BudgetedHyperModel):
            raise ValueError(f"hypermodel must be a BudgetedHyperModel; got {hypermodel!r}")
        self._verbose = verbose
        self._trial_metrics = {}
        project_dir = os.path.join(str(directory), project_name)
        worker = dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()
        if overwrite and not worker and os.path.exists(project_dir):
            shutil.rmtree(project_dir)
        self.definition = dict(definition or hypermodel.definition())
        _check_definition(project_dir, self.definition)
        tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
        oracle_file = os.path.join(project_dir, "oracle.json")
        tuner_file = os.path.join(project_dir, f"{tuner_id}.json")
        if not worker and os.path.exists(oracle_file) and not os.path.exists(tuner_file):
            # Killed during the first trial: reload the oracle all the same.
            _atomic_write_json(tuner_file, {})
        super().__init__(oracle=oracle, hypermodel=hypermodel, directory=directory,
                         project_name=project_name, overwrite=False, **kwargs)

    # Declare the single Choice without building a model (upstream builds one to
    # discover conditional hyperparameters; this space has none).
    def _populate_initial_space(self):
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        _atomic_write_json(self._get_tuner_fname(), self.get_state())

    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        if "tuner/epochs" in hp.values:  # Hyperband rounds, as keras_tuner.Hyperband
            kwargs["epochs"] = hp.values["tuner/epochs"]
            kwargs["initial_epoch"] = hp.values["tuner/initial_epoch"]
        config = self.hypermodel.config_for(hp.copy())
        start = time.perf_counter()
        histories = super().run_trial(trial, *args, **kwargs)
        wall = time.perf_counter() - start
        metrics = tuner_utils.convert_to_metrics_dict(histories, self.oracle.objective)
        metrics = {k: float(v) for k, v in metrics.items()}
        metrics.update(wall_time=wall, params=float(config.params), macs=float(config.macs),
                       epochs=float(kwargs.get("epochs") or 0))
        self._trial_metrics[trial.trial_id] = (config, metrics)
        return metrics

    def _build_hypermodel(self, hp):
        model = super()._build_hypermodel(hp)
        if "tuner/trial_id" in hp.values:  # Hyperband: continue the earlier round's weights
            model.load_weights(self._get_checkpoint_fname(hp.values["tuner/trial_id"]))
        return model

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if not self._verbose:
            return
        config, metrics = self._trial_metrics.pop(trial.trial_id, (None, {}))
        if config is None:
            print(f"[tune] trial {trial.trial_id}: {trial.status}", flush=True)
            return
        total = self.oracle.max_trials
        number = int(trial.trial_id) + 1 if trial.trial_id.isdigit() else trial.trial_id
        numbered = f"{number}/{total}" if total else f"{number}"
        shown = "  ".join(f"{label} {metrics[name]:.4f}" for name, label in
                          (("val_accuracy", "val_accuracy"), ("val_xent", "val_loss"))
                          if name in metrics)
        print(f"[tune] trial {numbered} {config.key}: params {config.params:,}  "
              f"MACs {_format_count(config.macs)}  {shown}  "
              f"{metrics.get('wall_time', 0.0):.1f} s  ({trial.status})", flush=True)

    def search(self, *fit_args, **fit_kwargs):
        """Run trials until the oracle stops (as ``keras_tuner.Tuner.search``); the chief
        of a distributed search serves the oracle instead and returns when all
        workers are done."""
        if "verbose" in fit_kwargs and not self._is_worker():
            self.oracle.verbose = fit_kwargs["verbose"]
        if dist_utils.is_chief_oracle():
            self.save()
            _serve_oracle(self.oracle)
            return
        self.on_search_begin()
        while True:
            self.pre_create_trial()
            trial = self.oracle.create_trial(self.tuner_id)
            if trial.status == TrialStatus.STOPPED:
                break
            if trial.status == TrialStatus.IDLE:  # waiting for other workers' trials
                time.sleep(0.5)
                continue
            self.on_trial_begin(trial)
            self._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
            self.on_trial_end(trial)
        self.on_search_end()


def _serve_oracle(oracle, poll=0.5):
    """Serve ``oracle`` to the workers over gRPC until the search is over (upstream
    ``oracle_chief.start_server``, with a clear error on a busy port and a short poll
    in place of its 20-second waits)."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if not port:
        raise ValueError(f"the chief cannot listen on {address} (port in use or address not "
                         f"of this machine); pick another --oracle-port")
    server.start()
    print(f"[tune] chief: oracle serving on {address}", flush=True)
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(poll)
    finally:
        server.stop(grace=2)


def _read_definition(project_dir):
    path = os.path.join(project_dir, DEFINITION_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _describe(value):
    if isinstance(value, list) and len(value) > 6:
        return f"[{len(value)} entries]"
    return repr(value)


def _check_definition(project_dir, definition):
    """Refuse a directory that holds another search; record this one's definition."""
    stored = _read_definition(project_dir)
    if stored is None:
        if os.path.exists(os.path.join(project_dir, "oracle.json")):
            raise ValueError(f"directory {project_dir!r} holds a Keras Tuner project that is "
                             f"not a budgeted search; use another directory")
        _atomic_write_json(os.path.join(project_dir, DEFINITION_FILE), definition)
        return
    differing = [k for k in sorted(set(stored) | set(definition))
                 if stored.get(k) != definition.get(k)]
    if differing:
        details = "; ".join(f"{k}: stored {_describe(stored.get(k))}, asked "
                            f"{_describe(definition.get(k))}" for k in differing)
        raise ValueError(f"directory {project_dir!r} holds another search ({details}). "
                         f"Resume it with the same settings, use another directory, or pass "
                         f"overwrite=True (--overwrite) to discard it")


def _make_oracle(oracle, *, objective, max_trials, seed, epochs, factor, num_initial_points,
                 hyperband_iterations):
    if oracle == "random":
        return _RandomOracle(objective=objective, max_trials=max_trials, seed=seed)
    if oracle == "grid":
        return _GridOracle(objective=objective, max_trials=max_trials, seed=seed)
    if oracle == "bayesian":
        return _BayesianOracle(objective=objective, max_trials=max_trials, seed=seed,
                               num_initial_points=num_initial_points)
    return _HyperbandOracle(objective=objective, max_epochs=epochs, factor=factor, seed=seed,
                            hyperband_iterations=hyperband_iterations)


def _check_positive(argument, value, examples, allow_none=False):
    if allow_none and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{argument} must be a positive integer (e.g. {examples}); "
                         f"got {value!r}")
    return int(value)


def _split_directory(directory):
    path = os.path.abspath(os.fspath(directory))
    return os.path.dirname(path), os.path.basename(path)


def make_tuner(hypermodel, oracle="random", *, directory, max_trials=10, epochs=None,
               objective="val_accuracy", seed=None, overwrite=False, factor=3,
               hyperband_iterations=1, num_initial_points=None, executions_per_trial=1,
               extra_definition=None, verbose=1) -> BudgetedTuner:
    """A :class:`BudgetedTuner` with one of the four Keras Tuner oracles.

    Args:
        hypermodel: a :class:`BudgetedHyperModel`.
        oracle: ``"random"``, ``"grid"``, ``"bayesian"`` or ``"hyperband"``.
        directory: the search directory (trials, state, results); a directory that
            holds another search is refused.
        max_trials: trials at most (Hyperband: ignored, its brackets set the count).
        epochs: Hyperband's ``max_epochs`` (required for it).
        objective: what to maximise or minimise, e.g. ``"val_accuracy"``, ``"val_loss"``.
        factor, hyperband_iterations: Hyperband's reduction factor and iterations.
        num_initial_points: random trials before Bayesian optimisation models the
            results (default 3).
        extra_definition: more settings that identify the search (dataset, epochs...).
    """
    if oracle not in ORACLES:
        raise ValueError(f"oracle must be one of {', '.join(ORACLES)}; got {oracle!r}")
    max_trials = _check_positive("max_trials", max_trials, "3, 20")
    if oracle == "hyperband":
        epochs = _check_positive("epochs", epochs, "9, 27 (Hyperband's max_epochs)")
        factor = _check_positive("factor", factor, "3")
        if factor < 2:
            raise ValueError(f"factor must be an integer >= 2 (e.g. 3); got {factor!r}")
    num_initial_points = _check_positive("num_initial_points", num_initial_points, "1, 3",
                                         allow_none=True)
    if not isinstance(objective, str) or not objective:
        raise ValueError(f"objective must be a metric name such as 'val_accuracy' or "
                         f"'val_loss'; got {objective!r}")
    definition = hypermodel.definition()
    definition.update(oracle=oracle, objective=objective)
    definition.update(extra_definition or {})
    parent, name = _split_directory(directory)
    tuner_oracle = _make_oracle(oracle, objective=objective, max_trials=max_trials, seed=seed,
                                epochs=epochs, factor=factor,
                                num_initial_points=num_initial_points,
                                hyperband_iterations=hyperband_iterations)
    return BudgetedTuner(hypermodel, tuner_oracle, directory=parent, project_name=name,
                         overwrite=overwrite, definition=definition, verbose=verbose,
                         executions_per_trial=executions_per_trial)


# --- results ---------------------------------------------------------------------------------


def _project_dir(source):
    if isinstance(source, keras_tuner.Tuner):
        return source.project_dir
    return os.path.abspath(os.fspath(source))


def _load_trials(source):
    oracle = getattr(source, "oracle", None)
    if isinstance(oracle, keras_tuner.Oracle):
        return list(oracle.trials.values())
    trials = []
    directory = _project_dir(source)
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name, "trial.json")
        if name.startswith("trial_") and os.path.exists(path):
            trials.append(Trial.load(path))
    return trials


RESULT_COLUMNS = ("trial", "status", "config", "depth", "width", "cardinality", "params",
                  "macs", "epochs", "val_accuracy", "val_loss", "wall_time_s")


def trial_results(source) -> list[dict]:
    """One dict per trial of a search (a :class:`BudgetedTuner` or its directory):
    ``RESULT_COLUMNS``, in trial order. Metrics are those of the trial's best epoch."""
    definition = _read_definition(_project_dir(source))
    if definition is None:
        raise ValueError(f"{_project_dir(source)!r} holds no budgeted search "
                         f"({DEFINITION_FILE} missing)")
    configs = {c["key"]: c for c in definition["configs"]}
    rows = []
    for trial in sorted(_load_trials(source), key=lambda t: t.trial_id):
        key = trial.hyperparameters.values.get(CONFIG_HP)
        config = configs.get(key, {})

        def metric(name, trial=trial):
            if trial.metrics.exists(name):
                value = trial.metrics.get_last_value(name)
                return None if value is None else float(value)
            return None

        epochs = metric("epochs") or trial.hyperparameters.values.get("tuner/epochs") \
            or definition.get("epochs")
        rows.append({
            "trial": trial.trial_id, "status": trial.status, "config": key,
            "depth": config.get("depth"), "width": config.get("width"),
            "cardinality": config.get("cardinality"), "params": config.get("params"),
            "macs": config.get("macs"), "epochs": None if epochs is None else int(epochs),
            "val_accuracy": metric("val_accuracy"),
            "val_loss": metric("val_xent") if trial.metrics.exists("val_xent")
            else metric("val_loss"),
            "wall_time_s": metric("wall_time"),
        })
    return rows


def _csv_text(rows, family):
    columns = [c for c in RESULT_COLUMNS if c != "cardinality" or family == "resnext"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = []
        for column in columns:
            value = row[column]
            if isinstance(value, float) and column != "width":
                value = f"{value:.6g}" if column != "wall_time_s" else f"{value:.2f}"
            values.append("" if value is None else value)
        writer.writerow(values)
    return out.getvalue()


def pareto_front(rows) -> list[dict]:
    """The completed trials that no other trial beats on both fewer parameters and higher
    validation accuracy, by increasing parameters."""
    done = [r for r in rows if r["status"] == TrialStatus.COMPLETED
            and r["val_accuracy"] is not None and r["params"] is not None]
    front, best = [], -math.inf
    for row in sorted(done, key=lambda r: (r["params"], -r["val_accuracy"])):
        if row["val_accuracy"] > best:
            front.append(row)
            best = row["val_accuracy"]
    return front


def plot_results(rows, path, *, title=None, width_name="width", band=None):
    """Save the figure: validation accuracy against depth (colour: width) and against
    parameters with the Pareto front (and the budget band ``(low, budget)`` if given)."""
    from matplotlib.figure import Figure

    done = [r for r in rows if r["status"] == TrialStatus.COMPLETED
            and r["val_accuracy"] is not None]
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    left, right = figure.subplots(1, 2)
    if band:
        right.axvspan(band[0], band[1], color="0.92", zorder=0, label="budget band")
    if done:
        widths = [float(r["width"]) for r in done]
        style = dict(c=widths, cmap="viridis", s=60, edgecolors="black", zorder=2)
        points = left.scatter([r["depth"] for r in done], [r["val_accuracy"] for r in done],
                              **style)
        figure.colorbar(points, ax=left, label=width_name)
        right.scatter([r["params"] for r in done], [r["val_accuracy"] for r in done], **style)
        front = pareto_front(done)
        xs, ys = [r["params"] for r in front], [r["val_accuracy"] for r in front]
        right.step(xs, ys, where="post", color="crimson", zorder=1)
        right.scatter(xs, ys, s=160, facecolors="none", edgecolors="crimson", linewidths=1.5,
                      zorder=3, label="Pareto front")
        for r in front:
            right.annotate(r["config"], (r["params"], r["val_accuracy"]), fontsize=7,
                           xytext=(4, 4), textcoords="offset points")
        right.legend(loc="best", fontsize=8)
    else:
        left.text(0.5, 0.5, "no completed trial", ha="center", transform=left.transAxes)
    left.set_xlabel("depth")
    left.set_ylabel("validation accuracy")
    left.set_title("accuracy against depth")
    right.set_xlabel("trainable parameters")
    right.set_ylabel("validation accuracy")
    right.set_title("accuracy against parameters")
    if title:
        figure.suptitle(title)
    figure.savefig(path, dpi=110)
    return path


def results_table(source, path=None, *, figure=True) -> str:
    """The search's results as CSV text (columns ``RESULT_COLUMNS``; ``cardinality``
    for ResNeXt only), written to ``path`` (default ``<search dir>/results.csv``) with
    the figure beside it (same name, ``.png``): accuracy against depth and the Pareto
    front of accuracy against parameters.

    ``source`` is a :class:`BudgetedTuner` or a search directory.
    """
    directory = _project_dir(source)
    definition = _read_definition(directory) or {}
    rows = trial_results(source)
    text = _csv_text(rows, definition.get("family"))
    path = path or os.path.join(directory, RESULTS_FILE)
    with open(path, "w") as f:
        f.write(text)
    if figure:
        family = definition.get("family", "")
        fam = _FAMILY_TABLE.get(family)
        title = f"{family} at {_format_count(definition.get('budget', 0))} parameters " \
                f"({definition.get('mode', '')} mode)"
        budget, tolerance = definition.get("budget"), definition.get("tolerance")
        band = (math.ceil((1 - tolerance) * budget), budget) if budget and tolerance else None
        plot_results(rows, os.path.splitext(path)[0] + ".png", title=title,
                     width_name=fam.width_name if fam else "width", band=band)
    return text


def format_results(rows, family=None) -> str:
    """The results as an aligned text table (what ``keras-resnets tune`` prints)."""
    columns = [c for c in RESULT_COLUMNS if c != "cardinality" or family == "resnext"]

    def cell(column, value):
        if value is None:
            return "-"
        if column in ("params", "macs"):
            return f"{int(value):,}"
        if column in ("val_accuracy", "val_loss"):
            return f"{value:.4f}"
        if column == "wall_time_s":
            return f"{value:.1f}"
        if column == "width":
            return _format_width(value)
        return str(value)

    table = [list(columns)] + [[cell(c, r[c]) for c in columns] for r in rows]
    sizes = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return "\n".join("  ".join(v.rjust(s) if i > 2 else v.ljust(s)
                               for i, (v, s) in enumerate(zip(line, sizes, strict=True))).rstrip()
                     for line in table)


def save_best_model(tuner, path=None):
    """Save the best trial's model (best epoch's weights) as ``.keras``, with
    ``best.json`` beside it; returns the path, or None before any trial completed."""
    best = [t for t in tuner.oracle.get_best_trials(1) if t.status == TrialStatus.COMPLETED]
    if not best:
        return None
    trial = best[0]
    path = path or os.path.join(tuner.project_dir, BEST_MODEL_FILE)
    model = tuner.load_model(trial)
    model.save(path)
    key = trial.hyperparameters.values.get(CONFIG_HP)
    info = {"trial": trial.trial_id, "config": key, "score": trial.score,
            "objective": tuner.oracle.objective.name, "model": os.path.basename(path)}
    config = tuner.hypermodel.by_key.get(key)
    if config is not None:
        info.update(config.as_dict())
    _atomic_write_json(os.path.join(os.path.dirname(path), "best.json"), info)
    return path


# --- one call: the command line's search ---------------------------------------------------


@dataclasses.dataclass
class SearchResult:
    """What :func:`run_search` returns (the chief or a single-machine search fills all)."""

    tuner: BudgetedTuner
    rows: list
    csv: str | None = None
    csv_path: str | None = None
    figure_path: str | None = None
    best_model_path: str | None = None


@contextlib.contextmanager
def _environment(values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _distribution_env(role, tuner_id, oracle_ip, oracle_port):
    if role is None:
        if tuner_id or oracle_ip or oracle_port:
            raise ValueError("tuner_id, oracle_ip and oracle_port need role='chief' or "
                             "'worker' (--chief / --worker)")
        return {}
    if role not in ("chief", "worker"):
        raise ValueError(f"role must be None, 'chief' or 'worker'; got {role!r}")
    ip = oracle_ip or os.environ.get("KERASTUNER_ORACLE_IP")
    port = oracle_port or os.environ.get("KERASTUNER_ORACLE_PORT")
    if not ip or not port:
        raise ValueError(f"a {role} needs the chief's address: oracle_ip and oracle_port "
                         f"(--oracle-ip, --oracle-port, or KERASTUNER_ORACLE_IP/PORT)")
    try:
        port = int(port)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise ValueError(f"oracle_port must be a TCP port in 1-65535; got {oracle_port!r}")
    if role == "chief":
        tuner_id = "chief"
    else:
        tuner_id = tuner_id or os.environ.get("KERASTUNER_TUNER_ID") \
            or f"worker-{socket.gethostname()}-{os.getpid()}"
        if "chief" in tuner_id:
            raise ValueError(f"a worker's tuner_id must not contain 'chief' (Keras Tuner "
                             f"takes it for the chief); got {tuner_id!r}")
    return {"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": ip,
            "KERASTUNER_ORACLE_PORT": port}


def _take(ds, samples, batch_size):
    if samples is None:
        return ds
    return ds.take(max(1, math.ceil(samples / batch_size)))


def run_search(family, budget, *, dataset="digits", oracle="random", max_trials=10, epochs=10,
               directory="runs/tune", tolerance=0.1, mode="grid", depths=None, widths=None,
               cardinalities=None, recipe=None, batch_size=None, objective="val_accuracy",
               seed=None, overwrite=False, train_split=None, val_split=None,
               train_samples=None, val_samples=None, factor=3, num_initial_points=None,
               spec_options=None, jit_compile="auto", run_eagerly=False, role=None, tuner_id=None,
               oracle_ip=None, oracle_port=None, verbose=1, save_best=True) -> SearchResult:
    """Validate everything, search, then write the results table, figure and best model.

    The trials train on ``load_dataset(dataset, train_split)`` and are scored on
    ``val_split`` (default: the dataset's held-out split, e.g. digits' fixed ``test``),
    with the training ``recipe`` for ``epochs`` epochs. ``train_samples`` and
    ``val_samples`` cap the data (quick runs). ``role="chief"``/``"worker"`` with
    ``oracle_ip``/``oracle_port`` (and a worker's ``tuner_id``) run Keras Tuner's
    distributed mode: the chief serves the oracle and writes the results; workers train.
    Every argument is checked before the first trial starts.
    """
    from keras_resnets import data as data_module
    from keras_resnets import training

    budget = parse_budget(budget)
    if oracle not in ORACLES:
        raise ValueError(f"oracle must be one of {', '.join(ORACLES)}; got {oracle!r}")
    epochs = _check_positive("epochs", epochs, "1, 15")
    _check_positive("max_trials", max_trials, "3, 20")
    train_samples = _check_positive("train_samples", train_samples, "256", allow_none=True)
    val_samples = _check_positive("val_samples", val_samples, "128", allow_none=True)
    env = _distribution_env(role, tuner_id, oracle_ip, oracle_port)
    info = data_module.dataset_info(dataset)
    train_split = train_split or info.train_split
    val_split = val_split or info.test_split
    hypermodel = BudgetedHyperModel(
        family, budget, tolerance=tolerance, mode=mode, depths=depths, widths=widths,
        cardinalities=cardinalities, input_shape=info.input_shape, classes=info.num_classes,
        recipe=recipe, spec_options=spec_options, jit_compile=jit_compile,
        run_eagerly=run_eagerly)
    recipe = training.get_recipe(hypermodel.recipe)
    batch_size = _check_positive("batch_size", batch_size or recipe.batch_size, "64, 128")
    extra = {"dataset": info.name, "train_split": train_split, "val_split": val_split,
             "epochs": epochs, "batch_size": batch_size, "train_samples": train_samples,
             "val_samples": val_samples}
    with _environment(env):
        tuner = make_tuner(hypermodel, oracle, directory=directory, max_trials=max_trials,
                           epochs=epochs, objective=objective, seed=seed, overwrite=overwrite,
                           factor=factor, num_initial_points=num_initial_points,
                           extra_definition=extra, verbose=verbose)
        if verbose:
            print(f"[tune] {hypermodel.family} at {budget:,} parameters "
                  f"(tolerance {hypermodel.tolerance:g}, {mode} mode): "
                  f"{len(hypermodel.configs)} feasible configurations; oracle {oracle}; "
                  f"directory {tuner.project_dir}", flush=True)
        if role == "chief":
            tuner.search(verbose=0)
        else:
            if seed is not None:
                import keras

                keras.utils.set_random_seed(seed)
            smoothing = recipe.label_smoothing
            train = data_module.load_dataset(
                info.name, train_split, batch_size, augment=recipe.augment,
                pad_mode=recipe.pad_mode, cutout=recipe.cutout, label_smoothing=smoothing,
                seed=seed)
            val = data_module.load_dataset(info.name, val_split, batch_size, augment=False,
                                           shuffle=False, one_hot=bool(smoothing))
            train = _take(train, train_samples, batch_size)
            val = _take(val, val_samples, batch_size)
            tuner.search(train, validation_data=val, epochs=epochs,
                         verbose=2 if verbose else 0)
        if role == "worker":
            return SearchResult(tuner, [])
        rows = trial_results(tuner)
        text = results_table(tuner)
        csv_path = os.path.join(tuner.project_dir, RESULTS_FILE)
        best = None
        if save_best:
            try:
                best = save_best_model(tuner)
            except (OSError, ValueError) as error:  # e.g. checkpoints on unshared disks
                print(f"[tune] warning: best model not saved: {error}", file=sys.stderr)
        if verbose:
            print(format_results(rows, hypermodel.family), flush=True)
            print(f"[tune] results: {csv_path}; figure: "
                  f"{os.path.splitext(csv_path)[0] + '.png'}"
                  + (f"; best model: {best}" if best else ""), flush=True)
            sys.stdout.flush()
        return SearchResult(tuner, rows, text, csv_path, os.path.splitext(csv_path)[0] + ".png",
                            best)


__all__ = ["FAMILIES", "MODES", "ORACLES", "Config", "BudgetedHyperModel", "BudgetedTuner",
           "SearchResult", "parse_budget", "feasible_configs", "make_tuner", "run_search",
           "trial_results", "results_table", "format_results", "plot_results", "pareto_front",
           "save_best_model", "compile_for_recipe", "RESULT_COLUMNS"]

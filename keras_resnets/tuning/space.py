"""The search space of a parameter and/or multiply-add budget: every configuration of a
family whose exact trainable parameter count lies in ``[(1 - tolerance) * budget,
budget]`` and whose multiply-adds for one image lie in ``[(1 - tolerance) *
macs_budget, macs_budget]`` (each band where its budget is given).

Pure budget maths on the analytic counter: no model is built, and this module imports
neither Keras Tuner nor Keras. A family's axes (depths, widths, cardinalities, the iso
solver's bounds, its recipe) come from :func:`keras_resnets.registry.tuning_families`,
and a configuration's key is its canonical model name, so
``create_model(config.key)`` builds exactly the network that was counted.

Example::

    space = search_space("wrn", "1.5M", mode="iso")
    space.low, space.budget                         # (1350000, 1500000)
    [c.key for c in space.configs()]                # ['wrn-10-4.47', 'wrn-16-2.95', ...]
    feasible_configs("resnext", "1.5M")[0].key      # 'resnext11-4x16d'
    feasible_configs("wrn", None, macs_budget="100M", depths=(10,))  # by multiply-adds
"""

from __future__ import annotations

import dataclasses
import math
import re

from keras_resnets import engine, registry
from keras_resnets._checks import check_positive_int, is_int, is_number
from keras_resnets.tuning.solver import first_at_least, last_at_most

MODES = ("grid", "iso")
FAMILIES = tuple(sorted(registry.tuning_families()))
ISO_STEPS = 64  # iso widths of wrn/resnet are multiples of 1/64: every channel count reachable
_BUDGET_RE = re.compile(r"^([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgb]?)$")
_SUFFIXES = {"": 1, "k": 10 ** 3, "m": 10 ** 6, "g": 10 ** 9, "b": 10 ** 9}


def parse_budget(budget, argument="budget", unit="parameters") -> int:
    """A budget (parameters, multiply-adds) as an integer.

    Example: ``parse_budget("1.5M")`` is 1500000; ``"800k"``, ``"1_500_000"``, ``2e6`` work.
    """
    value = None
    if is_number(budget):
        value = float(budget)
    elif isinstance(budget, str):
        match = _BUDGET_RE.match(budget.strip().lower().replace("_", "").replace(",", ""))
        if match:
            value = float(match.group(1)) * _SUFFIXES[match.group(2)]
    if value is None or not math.isfinite(value):
        raise ValueError(f"{argument} must be a number of {unit} such as 1500000, '1.5M' or "
                         f"'800k'; got {budget!r}")
    if value < 1:
        raise ValueError(f"{argument} must be > 0 {unit} (e.g. '1.5M', '800k'); got "
                         f"{budget!r}")
    return int(round(value))


def budget_band(budget, tolerance) -> tuple[int, int]:
    """The admitted parameter counts ``(low, budget)``. Example: ``budget_band(1000, 0.1)``
    is ``(900, 1000)``."""
    return int(math.ceil((1 - tolerance) * budget)), int(budget)


def format_count(n) -> str:
    """A count with a suffix. Example: ``format_count(1_500_000)`` is ``'1.5M'``."""
    for scale, suffix in ((10 ** 9, "G"), (10 ** 6, "M"), (10 ** 3, "k")):
        if n >= scale:
            return f"{n / scale:.3g}{suffix}"
    return str(int(n))


@dataclasses.dataclass(frozen=True)
class Band:
    """The admitted counts ``[low, high]`` of one measure: ``attribute`` is the
    :class:`Config` field (``"params"`` or ``"macs"``), ``unit`` its words.

    Example: ``Band("macs", "multiply-adds", "macs_budget", 90, 100).admits(95)`` is True.
    """

    attribute: str
    unit: str
    argument: str
    low: int
    high: int

    def admits(self, count) -> bool:
        return self.low <= count <= self.high

    def text(self) -> str:
        return f"between {self.low:,} and {self.high:,} {self.unit}"


@dataclasses.dataclass(frozen=True)
class Config:
    """One feasible configuration: its canonical model name (``key``), architecture
    numbers and exact counts.

    ``width`` is the family's width: the WRN width factor k, the ResNet width
    multiplier, the ResNeXt bottleneck width d (with ``cardinality`` C) or the
    DenseNet-BC growth rate k. ``params`` are trainable parameters (what the papers
    report); ``total_params`` add BatchNorm moving statistics; ``macs`` are the
    multiply-adds for one image of the search's input shape.

    Example: ``create_model(config.key, **dict(config.options))`` builds it.
    """

    key: str
    family: str
    depth: int
    width: float
    cardinality: int | None
    params: int
    total_params: int
    macs: int
    options: tuple = ()

    def spec(self) -> engine.NetworkSpec:
        """The spec of this configuration (what the counter read and the model builds)."""
        return registry.get_spec(self.key, **dict(self.options))

    def as_dict(self) -> dict:
        return {"key": self.key, "family": self.family, "depth": self.depth,
                "width": self.width, "cardinality": self.cardinality, "params": self.params,
                "total_params": self.total_params, "macs": self.macs}


def _family_axes(family) -> registry.TuningAxes:
    families = registry.tuning_families()
    key = family.strip().lower() if isinstance(family, str) else family
    if key not in families:
        raise ValueError(f"family must be one of {', '.join(sorted(families))}; got {family!r}")
    return families[key]


def _int_tuple(argument, values, family, what) -> tuple:
    if isinstance(values, (int, str)) or not hasattr(values, "__iter__"):
        values = [values]
    values = list(values)
    if not values:
        raise ValueError(f"{argument} must list at least one value ({what}) for family "
                         f"{family!r}")
    for v in values:
        if not is_int(v) or v < 1:
            raise ValueError(f"{argument} must be positive integers ({what}) for family "
                             f"{family!r}; got {v!r} in {values!r}")
    return tuple(sorted({int(v) for v in values}))


def _check_tolerance(tolerance) -> float:
    if not is_number(tolerance) or not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be a fraction in (0, 1) (e.g. 0.1: counts within 10% "
                         f"below the budget); got {tolerance!r}")
    return float(tolerance)


def _check_input_shape(input_shape) -> tuple:
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (height, width, channels), e.g. (32, 32, 3); "
                         f"got {input_shape!r}")
    return shape


def _get_spec(name, options):
    try:
        return registry.get_spec(name, **dict(options))
    except TypeError as error:  # an option the family's spec function does not take
        raise ValueError(f"invalid spec_options {dict(options)!r} for {name!r}: {error}") from None


def _check_depths(axes, depths, options):
    """Every depth names a network of the family's kind (CIFAR ResNet 50 does not: the
    name ``resnet50-w1`` is the ImageNet ResNet-50)."""
    probe_width, probe_cardinality = axes.widths[0], (axes.cardinalities or (None,))[0]
    reference = _get_spec(axes.model_name(axes.depths[0], probe_width, probe_cardinality),
                          options).default_input_shape
    for depth in depths:
        name = axes.model_name(depth, probe_width, probe_cardinality)
        try:
            shape = _get_spec(name, options).default_input_shape
        except ValueError as error:
            raise ValueError(f"depths: {depth} is not a valid depth for family {axes.name!r}: "
                             f"{error}") from None
        if shape != reference:
            raise ValueError(
                f"depths: {depth} is not a valid depth for family {axes.name!r}: {name!r} is a "
                f"network for {shape} inputs, unlike the family's depths "
                f"{', '.join(map(str, axes.depths))} for {reference} inputs")


class _Counter:
    """Exact counts of (depth, width, cardinality), memoised for one enumeration."""

    def __init__(self, axes, input_shape, classes, options):
        self.axes, self.input_shape, self.classes = axes, input_shape, classes
        self.options = options
        self.cache = {}

    def tally(self, depth, width, cardinality=None):
        key = (depth, width, cardinality)
        if key not in self.cache:
            spec = _get_spec(self.axes.model_name(depth, width, cardinality), self.options)
            self.cache[key] = engine.count(spec, self.input_shape, classes=self.classes)
        return self.cache[key]

    def params(self, depth, width, cardinality=None):
        return self.tally(depth, width, cardinality).trainable

    def measure(self, attribute, depth, width, cardinality=None):
        """``"params"`` (trainable) or ``"macs"`` of a configuration."""
        tally = self.tally(depth, width, cardinality)
        return tally.trainable if attribute == "params" else tally.macs

    def config(self, depth, width, cardinality=None):
        tally = self.tally(depth, width, cardinality)
        return Config(self.axes.model_name(depth, width, cardinality), self.axes.name, depth,
                      width, cardinality, tally.trainable, tally.total, tally.macs, self.options)


def _short_width(counter, depth, m, cardinality):
    """The shortest decimal width that gives the same network as ``m / 64``: counts grow
    strictly with every channel count, so equal counts mean equal channels."""
    exact = m / ISO_STEPS
    target = counter.params(depth, exact, cardinality)
    for decimals in range(0, 7):
        width = round(exact, decimals)
        width = int(width) if float(width).is_integer() else width
        if width >= counter.axes.iso_min and counter.params(depth, width, cardinality) == target:
            return width
    return exact


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """A validated budgeted search space; made by :func:`search_space`.

    ``low`` and ``budget`` bound the admitted trainable parameter counts, ``macs_low``
    and ``macs_budget`` the multiply-adds (None where that budget was not given).
    """

    axes: registry.TuningAxes
    budget: int | None
    tolerance: float
    low: int | None
    mode: str
    depths: tuple
    widths: tuple | None
    cardinalities: tuple | None
    input_shape: tuple
    classes: int
    options: tuple
    macs_budget: int | None = None
    macs_low: int | None = None

    @property
    def family(self) -> str:
        return self.axes.name

    @property
    def bands(self) -> list[Band]:
        """The bands a feasible configuration lies in (one per budget given)."""
        bands = []
        if self.budget is not None:
            bands.append(Band("params", "parameters", "budget", self.low, self.budget))
        if self.macs_budget is not None:
            bands.append(Band("macs", "multiply-adds", "macs_budget", self.macs_low,
                              self.macs_budget))
        return bands

    def admits(self, config) -> bool:
        """Whether ``config``'s counts lie in every band."""
        return all(band.admits(getattr(config, band.attribute)) for band in self.bands)

    def describe(self) -> str:
        """The budgets in words. Example: ``'1,500,000 parameters'``."""
        return " and ".join(f"{band.high:,} {band.unit}" for band in self.bands)

    def _counter(self):
        return _Counter(self.axes, self.input_shape, self.classes, self.options)

    def _grid(self, counter):
        """Each band is a run of consecutive widths (counts grow with the width): found
        by bisection, the runs intersected."""
        out = []
        for depth in self.depths:
            for card in self.cardinalities or (None,):
                start, stop = 0, len(self.widths)
                for band in self.bands:
                    def count(w, depth=depth, card=card, attribute=band.attribute):
                        return counter.measure(attribute, depth, w, card)

                    start = max(start, first_at_least(count, self.widths, band.low))
                    stop = min(stop, first_at_least(count, self.widths, band.high + 1))
                out += [counter.config(depth, w, card) for w in self.widths[start:stop]]
        return out

    def _iso(self, counter):
        """The largest width within every budget, kept when each count lands in its band."""
        out = []
        integer, scale = self.axes.iso_integer, 1 if self.axes.iso_integer else ISO_STEPS
        narrowest = math.ceil(self.axes.iso_min * scale)
        for depth in self.depths:
            for card in self.cardinalities or (None,):
                largest = []
                for band in self.bands:
                    def count(m, depth=depth, card=card, attribute=band.attribute):
                        return counter.measure(attribute, depth,
                                               m if integer else m / ISO_STEPS, card)

                    largest.append(last_at_most(count, narrowest, self.axes.iso_max * scale,
                                                band.high))
                if None in largest:
                    continue
                m = min(largest)
                width = m if integer else _short_width(counter, depth, m, card)
                config = counter.config(depth, width, card)
                if self.admits(config):
                    out.append(config)
        return out

    def configs(self) -> list[Config]:
        """The feasible configurations, sorted by depth, cardinality and width.

        Raises:
            ValueError: when none fits, naming the smallest and the largest budget that
                would admit one (and, in grid mode, the nearest ones).
        """
        counter = self._counter()
        configs = self._grid(counter) if self.mode == "grid" else self._iso(counter)
        if not configs:
            raise ValueError(self._nothing_feasible(counter))
        return sorted(configs, key=lambda c: (c.depth, c.cardinality or 0, c.width))

    def _nothing_feasible(self, counter) -> str:
        """Which budgets would admit something: the smallest and the largest and, in grid
        mode, the nearest below and above (bisection on each depth's monotone counts)."""
        cards = self.cardinalities or (None,)
        if self.mode == "grid":
            ends = (self.widths[0], self.widths[-1])
        else:
            ends = (self.axes.iso_min, self.axes.iso_max)

        def top(p):  # the largest budget that still admits a count p
            return int(math.floor(p / (1 - self.tolerance)))

        grid = f"depths {list(self.depths)}"
        if self.widths is not None:
            grid += f", widths {list(self.widths)}"
        if self.cardinalities is not None:
            grid += f", cardinalities {list(self.cardinalities)}"
        budgets = " and ".join(f"{band.argument} {band.high:,}" for band in self.bands)
        ranges = []
        for band in self.bands:
            smallest = min(counter.measure(band.attribute, d, ends[0], c)
                           for d in self.depths for c in cards)
            largest = max(top(counter.measure(band.attribute, d, ends[1], c))
                          for d in self.depths for c in cards)
            nearest = self._nearest_budgets(counter, top, band) if self.mode == "grid" else []
            name = "Budgets" if band.attribute == "params" else "MAC budgets"
            ranges.append(f"{name} from {smallest:,} ({format_count(smallest)}) to "
                          f"{largest:,} ({format_count(largest)}) admit some"
                          + (f"; nearest configurations: {' and '.join(nearest)}"
                             if nearest else ""))
        return (f"{budgets} admit{'s' if len(self.bands) == 1 else ''} no {self.family} "
                f"configuration (mode={self.mode!r}, {grid}): none has "
                f"{' and '.join(band.text() for band in self.bands)} (tolerance "
                f"{self.tolerance:g}). " + ". ".join(ranges)
                + "; or widen the tolerance, the grid, or use mode='iso'")

    def _nearest_budgets(self, counter, top, band) -> list[str]:
        """The grid configurations nearest below and above ``band``: their names and
        counts."""
        below, above = [], []
        for d in self.depths:
            for c in self.cardinalities or (None,):
                def count(w, d=d, c=c):
                    return counter.measure(band.attribute, d, w, c)

                i = first_at_least(lambda w, count=count: top(count(w)), self.widths,
                                    band.high)
                if i > 0:
                    below.append((count(self.widths[i - 1]), (d, self.widths[i - 1], c)))
                j = first_at_least(count, self.widths, band.high + 1)
                if j < len(self.widths):
                    above.append((count(self.widths[j]), (d, self.widths[j], c)))
        chosen = ([max(below)] if below else []) + ([min(above)] if above else [])
        return [f"{self.axes.model_name(*point)} ({count:,} {band.unit})"
                for count, point in chosen]


def search_space(family, budget=None, *, macs_budget=None, tolerance=0.1, mode="grid",
                 depths=None, widths=None, cardinalities=None, input_shape=(32, 32, 3),
                 classes=10, spec_options=None) -> SearchSpace:
    """Validate a budgeted search space (arguments as :func:`feasible_configs`).

    Example: ``search_space("wrn", "1.5M").low`` is 1350000.
    """
    axes = _family_axes(family)
    if budget is None and macs_budget is None:
        raise ValueError("a budget is needed: of parameters (budget='1.5M'), of multiply-adds "
                         "(macs_budget='200M') or both")
    budget = None if budget is None else parse_budget(budget)
    macs_budget = None if macs_budget is None else parse_budget(
        macs_budget, "macs_budget", "multiply-adds")
    tolerance = _check_tolerance(tolerance)
    input_shape = _check_input_shape(input_shape)
    classes = check_positive_int("classes", classes, "10, 100")
    if mode not in MODES:
        raise ValueError(f"mode must be 'grid' (integer widths from `widths`) or 'iso' (width "
                         f"solved per depth to meet the budget); got {mode!r}")
    depths = _int_tuple("depths", axes.depths if depths is None else depths, axes.name,
                        "network depths")
    if mode == "iso" and widths is not None:
        raise ValueError(f"widths apply to mode='grid'; mode='iso' solves the "
                         f"{axes.width_name} for each depth (got widths={widths!r})")
    if mode == "grid":
        widths = _int_tuple("widths", axes.widths if widths is None else widths, axes.name,
                            f"the {axes.width_name}")
    if axes.cardinalities is None and cardinalities is not None:
        raise ValueError(f"cardinalities apply to family 'resnext' only; got "
                         f"cardinalities={cardinalities!r} for family {axes.name!r}")
    if axes.cardinalities is not None:
        cardinalities = _int_tuple(
            "cardinalities", axes.cardinalities if cardinalities is None else cardinalities,
            axes.name, "the cardinality C")
    options = tuple(sorted((spec_options or {}).items()))
    _check_depths(axes, depths, options)
    low, budget = budget_band(budget, tolerance) if budget is not None else (None, None)
    macs_low, macs_budget = budget_band(macs_budget, tolerance) if macs_budget is not None \
        else (None, None)
    return SearchSpace(axes, budget, tolerance, low, mode, depths, widths, cardinalities,
                       input_shape, classes, options, macs_budget, macs_low)


def feasible_configs(family, budget=None, *, macs_budget=None, tolerance=0.1, mode="grid",
                     depths=None, widths=None, cardinalities=None, input_shape=(32, 32, 3),
                     classes=10, spec_options=None) -> list[Config]:
    """Every configuration of ``family`` whose trainable parameter count lies in
    ``[(1 - tolerance) * budget, budget]`` and whose multiply-adds lie in
    ``[(1 - tolerance) * macs_budget, macs_budget]`` (each where given), with params and
    MACs, no model built.

    Example: ``[c.key for c in feasible_configs("wrn", "11M", tolerance=0.2,
    depths=(16, 40), widths=(4, 8))]`` is ``['wrn-16-8', 'wrn-40-4']``.

    Args:
        family: ``"wrn"`` (depth 6n+4, width factor k), ``"resnet"`` (CIFAR depth 6n+2,
            width multiplier), ``"resnext"`` (CIFAR depth 9n+2, cardinality C,
            bottleneck width d) or ``"densenet-bc"`` (depth L = 6n+4, growth rate k):
            the families of :func:`keras_resnets.registry.tuning_families`.
        budget: parameters, an integer or a string such as ``"1.5M"`` or ``"800k"``;
            None for no parameter budget.
        macs_budget: multiply-adds for one image of ``input_shape`` (``"200M"``); None
            for none. At least one of the two budgets must be given; with both, a
            configuration must lie in both bands.
        tolerance: the fraction below each budget still admitted, in (0, 1).
        mode: ``"grid"``: the integer ``widths``; ``"iso"``: for each depth (and
            cardinality) the largest width within every budget, kept when it
            lands within tolerance (WRN/ResNet widths in steps of 1/64, ResNeXt
            bottleneck widths and DenseNet growth rates integers).
        depths, widths, cardinalities: the grid (default: the family's usual values;
            ``cardinalities`` for ResNeXt only, ``widths`` for grid mode only).
        input_shape, classes: the data the networks are for (the classifier's size and
            the MACs depend on them).
        spec_options: extra arguments of the family's spec, e.g.
            ``{"dropout_rate": 0.3}`` for WRN.

    Returns:
        Configurations sorted by depth, cardinality and width.

    Raises:
        ValueError: on invalid arguments, or when no configuration fits, naming the
            smallest and the largest budget that would admit one.
    """
    return search_space(family, budget, macs_budget=macs_budget, tolerance=tolerance,
                        mode=mode, depths=depths, widths=widths, cardinalities=cardinalities,
                        input_shape=input_shape, classes=classes,
                        spec_options=spec_options).configs()

"""The timing core of every measurement: interleaved repetitions, medians with a
bootstrap interval, the machine's CPU and load. ``benchmarks/harness.py`` (the published
A/B figures) and the tuner's latency budget (:mod:`keras_resnets.tuning.latency`) both
time with it.

Example::

    times = abba({"ours": ours, "ref": ref}, repeats=8, warmup=2)
    compare(times["ref"], times["ours"])        # {'ratio': 1.01, 'low': 0.97, ...}
    median_interval(times["ours"])              # (median, low, high) in seconds
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import time


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as handle:
            return next(line.split(":", 1)[1].strip() for line in handle
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(value, 2) for value in os.getloadavg()]


def timed(fn, clock=time.perf_counter) -> float:
    start = clock()
    fn()
    return clock() - start


def abba(sides: dict, repeats: int, warmup: int = 1, clock=time.perf_counter) -> dict:
    """Seconds per call of each callable in ``sides``: ``warmup`` untimed calls each (in
    the same alternating order), then ``repeats`` timed rounds, the order reversed every
    round (A B, B A, A B, ...). Returns ``{name: [seconds, ...]}``. ``clock``: wall time
    by default; ``time.process_time`` (the process's CPU seconds, all threads) measures
    the work done, which other jobs on a loaded machine disturb much less."""
    names = list(sides)
    for r in range(warmup):
        for name in names if r % 2 == 0 else reversed(names):
            sides[name]()
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            times[name].append(timed(sides[name], clock))
    return times


def _bootstrap(statistic, samples, resamples, seed) -> list[float]:
    rng = random.Random(seed)
    return sorted(statistic(*(rng.choices(s, k=len(s)) for s in samples))
                  for _ in range(resamples))


def compare(numerator: list[float], denominator: list[float], *, resamples: int = 2000,
            seed: int = 0) -> dict:
    """Ratio of the medians ``median(numerator) / median(denominator)`` with a 95%
    percentile-bootstrap interval (each side resampled with replacement)."""
    ratios = _bootstrap(lambda a, b: statistics.median(a) / statistics.median(b),
                        (numerator, denominator), resamples, seed)
    return {"ratio": statistics.median(numerator) / statistics.median(denominator),
            "low": ratios[int(0.025 * resamples)], "high": ratios[int(0.975 * resamples) - 1],
            "n": [len(numerator), len(denominator)]}


def median_interval(samples: list[float], *, resamples: int = 2000,
                    seed: int = 0) -> tuple[float, float, float]:
    """The median of ``samples`` with its 95% percentile-bootstrap interval.

    Example: ``median_interval([1.0, 1.1, 0.9, 1.0, 1.2])`` is ``(1.0, 0.9, 1.1)``.
    """
    medians = _bootstrap(statistics.median, (samples,), resamples, seed)
    return (statistics.median(samples), medians[int(0.025 * resamples)],
            medians[int(0.975 * resamples) - 1])

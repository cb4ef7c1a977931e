"""Monotone searches on exact parameter counts: the feasible set's solvers.

Counts grow with the width, so the widths of a band are found by bisection, and the
iso mode's width (the largest within budget) by an interpolated guess, galloping and
bisection: a handful of counts per depth.

Example::

    squares = lambda m: m * m
    first_at_least(squares, [1, 2, 3, 4], 5)         # 2 (the index of 3)
    last_at_most(squares, 1, 100, 50)                # 7
"""

from __future__ import annotations

import math

import numpy as np


def first_at_least(count, values, target):
    """Index of the first of the sorted ``values`` whose monotone ``count`` >= target."""
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if count(values[mid]) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def quadratic_guess(points, target):
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


def last_at_most(count, low, high, budget):
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
        refined = quadratic_guess([(low, p_low), (guess, count(guess)), (high, p_high)],
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

"""Argument checks shared by builders, counters, the tuner, training and the CLI.

Each raises a ``ValueError`` that names the argument, the rule, examples and the value.

Example::

    check_positive_int("depth", 28, "16, 28, 40")     # returns 28
    check_rate("dropout_rate", 1.5)                   # ValueError: ... got 1.5
"""

from __future__ import annotations

import numbers


def is_int(value) -> bool:
    """An integer that is not a bool (NumPy integers count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(argument, value, minimum=1, examples="", *, allow_none=False):
    """``value`` as an int >= ``minimum`` (``None`` passes when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not is_int(value) or value < minimum:
        hint = f" (e.g. {examples})" if examples else ""
        raise ValueError(f"{argument} must be an integer >= {minimum}{hint}; got {value!r}")
    return int(value)


def check_positive_int(argument, value, examples=""):
    return check_int(argument, value, 1, examples)


def check_width(argument, value):
    """A finite number > 0 (a width factor or multiplier)."""
    if not is_number(value) or not 0 < value < float("inf"):
        raise ValueError(f"{argument} must be a number > 0 (e.g. 1, 2, 10); got {value!r}")
    return value


def check_choice(argument, value, choices):
    if isinstance(value, bool) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{argument} must be one of {listed}; got {value!r}")
    return value


def check_rate(argument, value):
    """A probability in [0, 1)."""
    if not is_number(value) or not 0 <= value < 1:
        raise ValueError(f"{argument} must be in [0, 1) (e.g. 0.0, 0.3); got {value!r}")
    return float(value)


def check_fraction(argument, value, examples="0.5, 1.0"):
    """A number in (0, 1]."""
    if not is_number(value) or not 0 < value <= 1:
        raise ValueError(f"{argument} must be a number in (0, 1] (e.g. {examples}); "
                         f"got {value!r}")
    return float(value)


def check_bool(argument, value):
    if not isinstance(value, bool):
        raise ValueError(f"{argument} must be True or False; got {value!r}")
    return value


def check_options(model, options, allowed):
    """A ValueError (not a TypeError) for options that ``model`` does not take."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        valid = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"{model} does not take {', '.join(unknown)}; its own options are "
                         f"{valid}, besides the keras.applications arguments")


def scaled(channels, width):
    """``channels * width`` rounded, at least 1."""
    return max(1, int(round(channels * width)))

"""Argument checks shared by the family builders."""

from __future__ import annotations


def check_positive_int(argument, value, examples):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument} must be a positive integer (e.g. {examples}); got {value!r}")


def check_width(argument, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{argument} must be a number > 0 (e.g. 1, 2, 10); got {value!r}")


def check_choice(argument, value, choices):
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{argument} must be one of {listed}; got {value!r}")


def check_rate(argument, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{argument} must be in [0, 1) (e.g. 0.0, 0.3); got {value!r}")


def scaled(channels, width):
    """``channels * width`` rounded, at least 1."""
    return max(1, int(round(channels * width)))

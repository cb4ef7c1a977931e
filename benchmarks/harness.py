"""The one A/B harness every published benchmark figure comes from.

Rules it enforces, so that a shared, loaded machine cannot flatter us:

- **ABBA interleaving**: repetition ``r`` runs the sides in the order A B, the next in
  B A, so a drift in the machine's load hits both sides alike, and neither always runs
  first (:func:`abba`). Builds go through it too, so neither side always pays the
  process's first-build cost.
- **Same warm-up**: every side gets the same number of untimed calls first.
- **Medians with a bootstrap interval of the ratio** (:func:`compare`): the ratio of the
  medians B / A with a 95% percentile-bootstrap interval. An interval that contains 1.0
  is published as parity, not as a speed-up or a slow-down (:func:`verdict`).
- **The record**: every result file carries the machine (CPU model, cores, memory), the
  load average before and after, and the exact timed call (:func:`write_results`).

The timing core (``abba``, ``compare``, ``load``) lives in :mod:`keras_resnets.timing`,
which the package's own measurements (the tuner's latency budget) use too; this module
adds the verdicts and the result files.

Example::

    times = abba({"ours": lambda: ours.predict_on_batch(x),
                  "keras": lambda: ref.predict_on_batch(x)}, repeats=8, warmup=2)
    compare(times["keras"], times["ours"])   # {'ratio': 1.01, 'low': 0.97, 'high': 1.04, ...}
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

from keras_resnets._io import write_text  # temp file, then rename
from keras_resnets.timing import abba, compare, cpu_model, load, timed  # noqa: F401 (re-exported)

RESULTS = Path(__file__).resolve().parent / "results"


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def machine() -> dict:
    """What the numbers were measured on (imports Keras, which must be installed)."""
    from importlib.metadata import PackageNotFoundError, version

    import keras

    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "memory_gib": _memory_gib(),
            "python": platform.python_version(), "keras": keras.__version__,
            "backend": keras.backend.backend(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    for package in ("tensorflow", "jax"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            pass
    return info


def verdict(result: dict) -> str:
    """``"parity"`` when the interval holds 1.0, else ``"faster"`` (ratio > 1) or
    ``"slower"``; the ratio is always reference time / our time."""
    if result["low"] <= 1.0 <= result["high"]:
        return "parity"
    return "faster" if result["ratio"] > 1.0 else "slower"


def ratio_text(result: dict) -> str:
    """``1.02 [0.97, 1.06] parity`` for a table cell."""
    return f"{result['ratio']:.2f} [{result['low']:.2f}, {result['high']:.2f}] {verdict(result)}"


def ms(seconds: list[float]) -> str:
    return f"{1000 * statistics.median(seconds):.1f}"


def busy_note(load_before, load_after) -> str:
    """What the load says: the measuring process's threads can hold every core, so only a
    1-minute load above the core count (plus half a core) means other jobs shared it."""
    if max(load_before[0], load_after[0]) > (os.cpu_count() or 1) + 0.5:
        return " (a shared machine: other jobs ran during the measurement)"
    return " (no other job: the load is the measuring process's own)"


def write_results(name: str, rows: list[dict], columns: list[str], *, timed_call: str,
                  load_before: list[float], notes: str = "") -> Path:
    """Write ``results/<name>.json`` and ``.md`` atomically, headed by the machine, the
    load average before and after the run and the exact timed call; returns the .md path."""
    RESULTS.mkdir(exist_ok=True)
    info = machine()
    after = load()
    payload = {"machine": info, "load_before": load_before, "load_after": after,
               "timed_call": timed_call, "rows": rows, "notes": notes}
    memory = f", {info['memory_gib']} GiB" if info["memory_gib"] else ""
    versions = ", ".join(f"{k} {info[k]}" for k in ("tensorflow", "jax", "keras") if k in info)
    lines = [f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores{memory}), "
             f"{versions}, backend {info['backend']}. Load average (1/5/15 min) "
             f"{'/'.join(map(str, load_before))} before, {'/'.join(map(str, after))} after"
             f"{busy_note(load_before, after)}.",
             "", f"Timed call: `{timed_call}`.", "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    if notes:
        lines += ["", notes]
    write_text(RESULTS / f"{name}.json", json.dumps(payload, indent=2))
    write_text(RESULTS / f"{name}.md", "\n".join(lines) + "\n")
    return RESULTS / f"{name}.md"

"""Helpers shared by the benchmark scripts: machine description, timing, result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    """What the numbers were measured on."""
    import keras
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "backend": keras.backend.backend(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(candidates: dict, rounds: int) -> dict:
    """Time each callable ``rounds`` times in the order A B A B ...; medians in seconds."""
    times = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            times[name].append(timed(fn))
    return {name: statistics.median(values) for name, values in times.items()}


def write_results(name: str, rows: list[dict], columns: list[str], notes: str = "") -> Path:
    """Write ``results/<name>.json`` and ``results/<name>.md`` atomically; returns the .md."""
    RESULTS.mkdir(exist_ok=True)
    info = machine()
    payload = {"machine": info, "rows": rows, "notes": notes}
    lines = [f"Measured on {info['cpu']} ({info['cores']} cores), TensorFlow "
             f"{info['tensorflow']}, Keras {info['keras']} ({info['backend']}), {info['date']}.",
             "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    if notes:
        lines += ["", notes]
    for suffix, text in ((".json", json.dumps(payload, indent=2)), (".md", "\n".join(lines) + "\n")):
        target = RESULTS / f"{name}{suffix}"
        with tempfile.NamedTemporaryFile("w", dir=RESULTS, delete=False, suffix=".tmp") as tmp:
            tmp.write(text)
        os.replace(tmp.name, target)
    return RESULTS / f"{name}.md"

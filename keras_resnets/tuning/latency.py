"""The latency budget: each candidate's batch-1 latency measured in LiteRT on this
machine, cached on disk by configuration and machine.

A candidate is built, converted to a builtin-ops-only TFLite file with the project's
export (:func:`keras_resnets.export.export_tflite`, int8 by default, the input
normalization inside as in the saved best model) and timed in the LiteRT interpreter
with the shared timing core (:mod:`keras_resnets.timing`): warm-up calls, then
``repeats`` timed calls, the median with a 95% bootstrap interval. Each measurement is
one JSON file in the cache directory, named by a hash of the configuration, the input,
the quantization, the threads and the machine (CPU model, cores, TensorFlow and LiteRT
versions), written atomically: a resumed or repeated search measures nothing twice, and
two searches may share the cache.

Example::

    budget = LatencyBudget(max_ms=0.5, threads=1, quantization="int8")
    measurements = measure_configs(feasible_configs("wrn", "200k"), budget,
                                   input_shape=(32, 32, 3), classes=10)
    measurements.latencies["wrn-10-1"].median_ms       # e.g. 0.21
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version

from keras_resnets import _io, timing
from keras_resnets._checks import check_choice, check_int, is_number

QUANTIZATIONS = ("int8", "float16", "dynamic", "none")
CALIBRATION_SAMPLES = 8  # latency does not depend on the calibration; few keep it quick


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/keras_resnets/latency`` (``~/.cache/...`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "keras_resnets", "latency")


@dataclasses.dataclass(frozen=True)
class LatencyBudget:
    """The most milliseconds a candidate may take per image (batch 1) in LiteRT with
    ``threads`` threads, as a ``quantization`` file (``"int8"``, ``"float16"``,
    ``"dynamic"`` or ``"none"``), timed over ``repeats`` calls after ``warmup``.

    Example: ``LatencyBudget(0.5, threads=1, quantization="int8", cache_dir="runs/cache")``.
    """

    max_ms: float
    threads: int = 1
    quantization: str = "int8"
    cache_dir: str | None = None
    repeats: int = 50
    warmup: int = 5

    def __post_init__(self):
        if not is_number(self.max_ms) or not 0 < self.max_ms < float("inf"):
            raise ValueError(f"max_latency_ms must be a number of milliseconds > 0 (e.g. 0.5, "
                             f"2); got {self.max_ms!r}")
        check_int("latency_threads", self.threads, 1, "1, 4")
        check_choice("latency_quantization", self.quantization, QUANTIZATIONS)
        check_int("latency repeats", self.repeats, 3, "5, 50")
        check_int("latency warmup", self.warmup, 0, "0, 5")

    def cache(self) -> str:
        return os.path.abspath(self.cache_dir or default_cache_dir())

    def settings(self) -> dict:
        """What identifies the budget in a search's definition."""
        return {"max_latency_ms": float(self.max_ms), "latency_threads": self.threads,
                "latency_quantization": self.quantization}


@dataclasses.dataclass(frozen=True)
class Latency:
    """One candidate's measured batch-1 latency: the median and its 95% interval, in
    milliseconds, over ``runs`` timed calls."""

    median_ms: float
    low_ms: float
    high_ms: float
    runs: int

    def text(self) -> str:
        return f"{self.median_ms:.3f} ms [{self.low_ms:.3f}, {self.high_ms:.3f}]"


@dataclasses.dataclass
class Measurements:
    """What :func:`measure_configs` returns: every candidate's latency, how many were
    measured now (the rest came from the cache) and the seconds that took."""

    latencies: dict
    measured: int
    cached: int
    seconds: float

    def summary(self, budget) -> str:
        over = sorted(k for k, v in self.latencies.items() if v.median_ms > budget.max_ms)
        return (f"latency ({budget.quantization}, {budget.threads} thread"
                f"{'' if budget.threads == 1 else 's'}, batch 1, LiteRT): measured "
                f"{self.measured} candidate{'' if self.measured == 1 else 's'} in "
                f"{self.seconds:.1f} s, {self.cached} from the cache; {len(over)} over "
                f"{budget.max_ms:g} ms" + (f" ({', '.join(over)})" if over else ""))


def machine_identity() -> dict:
    """What a latency depends on besides the network: CPU model, cores, TensorFlow and
    LiteRT versions."""
    identity = {"cpu": timing.cpu_model(), "cores": os.cpu_count()}
    for package in ("tensorflow", "ai-edge-litert"):
        try:
            identity[package] = version(package)
        except PackageNotFoundError:
            identity[package] = None
    return identity


def _cache_path(budget, config, input_shape, classes, normalization) -> str:
    key = {"config": config.key, "options": [list(o) for o in config.options],
           "input_shape": list(input_shape), "classes": classes,
           "normalization": normalization, "quantization": budget.quantization,
           "threads": budget.threads, "machine": machine_identity()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=list).encode())
    return os.path.join(budget.cache(), f"{config.key}-{digest.hexdigest()[:16]}.json")


def time_tflite(path, *, threads=1, repeats=50, warmup=5) -> Latency:
    """Batch-1 latency of a TFLite file in the LiteRT interpreter (median and interval).

    Example: ``time_tflite("wrn-int8.tflite", threads=1).median_ms``.
    """
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=os.fspath(path), num_threads=threads)
    runner = interpreter.get_signature_runner(next(iter(interpreter.get_signature_list())))
    (name, detail), = runner.get_input_details().items()
    shape = (1, *detail["shape"][1:])
    feed = {name: np.random.default_rng(0).uniform(0, 255, shape).astype(detail["dtype"])}
    seconds = timing.abba({"file": lambda: runner(**feed)}, repeats, warmup)["file"]
    median, low, high = timing.median_interval(seconds)
    return Latency(1000 * median, 1000 * low, 1000 * high, len(seconds))


def measure_config(config, budget, *, input_shape, classes, normalization=None) -> Latency:
    """Build ``config``, convert it (``budget.quantization``, builtin ops only, the input
    normalization inside when given) and time it; nothing cached."""
    import numpy as np

    from keras_resnets import export, registry
    from keras_resnets.normalization import with_input_normalization

    model = registry.create_model(config.key, input_shape=tuple(input_shape), classes=classes,
                                  **dict(config.options))
    if normalization is not None:
        model = with_input_normalization(model, *normalization)
    quantization = None if budget.quantization == "none" else budget.quantization
    pixels = np.random.default_rng(0).uniform(0, 255, (CALIBRATION_SAMPLES, *input_shape))
    with tempfile.TemporaryDirectory(prefix="keras-resnets-latency-") as directory:
        path = os.path.join(directory, f"{config.key}.tflite")
        export.export_tflite(model, path, quantization,
                             representative_data=pixels.astype("float32"), verify=False)
        return time_tflite(path, threads=budget.threads, repeats=budget.repeats,
                           warmup=budget.warmup)


def measure_configs(configs, budget, *, input_shape, classes, normalization=None,
                    verbose=0) -> Measurements:
    """The latency of each of ``configs``: from the cache where it was measured on this
    machine before, else measured (:func:`measure_config`) and cached.

    Example: ``measure_configs(configs, LatencyBudget(0.5), input_shape=(32, 32, 3),
    classes=10).latencies``.
    """
    latencies, measured, start = {}, 0, time.perf_counter()
    for config in configs:
        path = _cache_path(budget, config, input_shape, classes, normalization)
        stored = _io.read_json(path, remedy="delete it: it will be measured again")
        if stored is None:
            latency = measure_config(config, budget, input_shape=input_shape,
                                     classes=classes, normalization=normalization)
            _io.write_json(path, {"config": config.key, **dataclasses.asdict(latency),
                                  "machine": machine_identity(), "threads": budget.threads,
                                  "quantization": budget.quantization})
            measured += 1
            if verbose:
                print(f"[tune] latency {config.key}: {latency.text()}", flush=True)
        else:
            latency = Latency(stored["median_ms"], stored["low_ms"], stored["high_ms"],
                              stored["runs"])
        latencies[config.key] = latency
    return Measurements(latencies, measured, len(configs) - measured,
                        time.perf_counter() - start)


LATENCY_FILE = "latency.json"


def save_measurements(directory, measurements, budget) -> str:
    """Write ``latency.json`` into a search directory: the budget, the machine, every
    candidate's latency and how long measuring took in this run; returns its path."""
    path = os.path.join(directory, LATENCY_FILE)
    _io.write_json(path, {**budget.settings(), "machine": machine_identity(),
                          "measured": measurements.measured, "cached": measurements.cached,
                          "measuring_seconds": round(measurements.seconds, 3),
                          "latencies": {key: dataclasses.asdict(value)
                                        for key, value in measurements.latencies.items()}})
    return path


def read_measurements(directory) -> dict:
    """The ``latency.json`` of a search directory, ``{}`` when the search had no latency
    budget."""
    return _io.read_json(os.path.join(directory, LATENCY_FILE), {},
                         remedy="delete it and rerun the search: the latencies are cached")

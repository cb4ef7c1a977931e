"""Peak memory and step time of one training step with and without ``remat=True``
(gradient checkpointing, :class:`keras_resnets.layers.RematBlock`).

Every measurement runs in a fresh subprocess (peak memory is per process: ``ru_maxrss``,
model build and tracing included, as in ``first_step_resnet1001``), and the plain and
remat processes are ABBA-interleaved by the shared harness. Each process builds the
model, runs one untimed ``train_on_batch`` (the trace) and then ``--steps`` timed ones;
the time ratio is remat / plain over all timed steps, with its bootstrap interval. The
process also reports its RSS just before the first step (peak - before: what the
tracing step added) and, on TensorFlow, the peak of TensorFlow's CPU allocator over the
timed steps (the tensors a step holds, without the tracing's and Python's memory).

    python benchmarks/bench_remat.py --models preact-resnet1001:64 wrn-28-10:128
    python benchmarks/bench_remat.py --models preact-resnet164:8 --repeats 2 --name remat_small
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import abba, compare, load, write_results  # noqa: E402

GIB = 2**20  # ru_maxrss is in KiB


def _rss_gib():
    with open("/proc/self/status") as handle:
        kib = next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))
    return kib / GIB


def worker(model_name, batch, remat, steps, jit):
    """In a subprocess: build, trace with one step, time ``steps`` more; peak RSS."""
    import keras
    import numpy as np

    import keras_resnets

    model = keras_resnets.create_model(model_name, input_shape=(32, 32, 3), classes=10,
                                       remat=remat)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy",
                  jit_compile=jit)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, batch)
    before = _rss_gib()
    start = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter() - start
    allocator = keras.backend.backend() == "tensorflow"
    if allocator:  # TensorFlow's own count of the tensors it holds, tracing left out
        import tensorflow as tf

        tf.config.experimental.reset_memory_stats("CPU:0")
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return {"backend": keras.backend.backend(), "rss_before_gib": before, "first_step_s": first,
            "step_s": times, "step_peak_gib": (
                tf.config.experimental.get_memory_info("CPU:0")["peak"] / 2**30
                if allocator else None),
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / GIB}


def run_worker(model_name, batch, remat, steps, jit, timeout):
    command = [sys.executable, __file__, "--worker", model_name, str(batch),
               "on" if remat else "off", str(steps), "on" if jit else "off"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _gib(value):
    return "" if value is None else f"{value:.3f}"


def _ratio(plain, remat):
    return "" if plain is None else f"{plain / remat:.2f}"


def measure(model_name, batch, *, repeats, steps, jit, timeout):
    """One table row: both sides, ``repeats`` fresh processes each, ABBA-interleaved."""
    runs = {"plain": [], "remat": []}
    abba({side: (lambda side=side: runs[side].append(
        run_worker(model_name, batch, side == "remat", steps, jit, timeout)))
        for side in runs}, repeats=repeats, warmup=0)

    def peak(side):
        return statistics.median(r["peak_rss_gib"] for r in runs[side])

    def added(side):
        return statistics.median(r["peak_rss_gib"] - r["rss_before_gib"] for r in runs[side])

    def allocated(side):
        values = [r["step_peak_gib"] for r in runs[side]]
        return None if None in values else statistics.median(values)

    def steps_of(side):
        return [t for r in runs[side] for t in r["step_s"]]

    time_ratio = compare(steps_of("remat"), steps_of("plain"))
    return {"model": model_name, "batch": batch, "jit_compile": "on" if jit else "off",
            "backend": runs["plain"][0]["backend"],
            "peak RSS GiB plain": f"{peak('plain'):.2f}", "peak RSS GiB remat": f"{peak('remat'):.2f}",
            "memory ratio plain/remat": f"{peak('plain') / peak('remat'):.2f}",
            "step adds GiB plain": f"{added('plain'):.2f}",
            "step adds GiB remat": f"{added('remat'):.2f}",
            "TF step peak GiB plain": _gib(allocated("plain")),
            "TF step peak GiB remat": _gib(allocated("remat")),
            "TF step ratio plain/remat": _ratio(allocated("plain"), allocated("remat")),
            "step ms plain": f"{1000 * statistics.median(steps_of('plain')):.0f}",
            "step ms remat": f"{1000 * statistics.median(steps_of('remat')):.0f}",
            "time ratio remat/plain": "{ratio:.2f} [{low:.2f}, {high:.2f}]".format(**time_ratio),
            "processes": repeats, "raw": runs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["preact-resnet1001:64", "wrn-28-10:128"],
                        help="MODEL:BATCH entries (32x32x3 inputs, 10 classes)")
    parser.add_argument("--repeats", type=int, default=2, help="processes per side")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per process")
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per process")
    parser.add_argument("--name", default="remat_memory", help="results file name")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        name, batch, remat, steps, jit = args.worker
        print(json.dumps(worker(name, int(batch), remat == "on", int(steps), jit == "on")))
        return
    before = load()
    rows = []
    for entry in args.models:
        model_name, _, batch = entry.partition(":")
        rows.append(measure(model_name, int(batch), repeats=args.repeats, steps=args.steps,
                            jit=args.jit_compile, timeout=args.timeout))
        print({k: v for k, v in rows[-1].items() if k != "raw"}, flush=True)
    columns = [c for c in rows[0] if c != "raw"]
    path = write_results(
        args.name, rows, columns, load_before=before,
        timed_call="model.train_on_batch(x, y)  # after one untimed (tracing) call",
        notes=f"32x32x3 inputs, 10 classes, SGD momentum. Per side {args.repeats} fresh "
              f"processes, ABBA-interleaved; peak RSS = ru_maxrss of the process (build and "
              f"tracing included), median over processes; 'step adds' = peak RSS - RSS "
              f"just before the first step; time ratio = median remat step / median plain "
              f"step over {args.steps} timed steps per process, 95% bootstrap interval. 'TF step "
              f"peak' (TensorFlow backend) = peak of TensorFlow's CPU allocator "
              f"(tf.config.experimental.get_memory_info) over the timed steps, counted from "
              f"a reset after the tracing step: the tensors a training step holds.")
    print(path.read_text())


if __name__ == "__main__":
    main()

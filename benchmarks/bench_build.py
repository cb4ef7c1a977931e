"""Build time against keras.applications, the cost of the kernel initializer, and the
first training step (tracing) of a 1000-layer network.

1. ``pairs``: keras / ours build time (>= 1.0: ours builds as fast) of ResNet50,
   DenseNet121, MobileNetV2 and Xception, the builds ABBA-interleaved (harness).
2. ``deep``: WRN-28-10 and ResNet-1202 build times with our default ``he_uniform``
   against the papers' ``he_normal`` (``Style(kernel_initializer=...)``), interleaved.
   ``--clock cpu`` times both parts in the process's CPU time instead of wall time.
3. ``first-step``: the first ``train_on_batch`` of preact-ResNet-1001 (tracing plus one
   step) in a fresh subprocess per setting, its wall time and the process's peak RSS
   and CPU time (``resource.getrusage``), for each ``--first-step-settings`` entry ``batch:jit``.

    python benchmarks/bench_build.py --part pairs --repeats 4
    python benchmarks/bench_build.py --part first-step --first-step-settings 32:off 8:off
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import abba, compare, load, ms, ratio_text, write_results  # noqa: E402

PAIRS = ("ResNet50", "DenseNet121", "MobileNetV2", "Xception")
DEEP = ("wrn-28-10", "resnet1202")


def pair_rows(names, repeats, publish, clock):
    """Rows of keras / ours build times; ``publish(rows)`` after each model, so a long run
    that is stopped keeps what it measured."""
    import keras

    import keras_resnets

    rows = []
    for name in names:
        sides = {"ours": lambda n=name: getattr(keras_resnets, n)(weights=None),
                 "keras": lambda n=name: getattr(keras.applications, n)(weights=None)}
        times = abba({k: (lambda f=f: (f(), keras.backend.clear_session()))
                      for k, f in sides.items()}, repeats, warmup=1, clock=clock)
        rows.append({"model": name, "ours ms": ms(times["ours"]), "keras ms": ms(times["keras"]),
                     "keras / ours [95% CI]": ratio_text(compare(times["keras"], times["ours"]))})
        print(rows[-1], flush=True)
        publish(rows)
    return rows


def deep_rows(names, repeats, publish, clock):
    import keras

    from keras_resnets import blocks, engine, registry

    rows = []
    for name in names:
        spec = registry.get_spec(name)

        def build(initializer, spec=spec):
            style = dataclasses.replace(spec.style, kernel_initializer=initializer)
            engine.build_model(dataclasses.replace(spec, style=style))
            keras.backend.clear_session()

        times = abba({i: (lambda i=i: build(i)) for i in ("he_uniform", "he_normal")},
                     repeats, warmup=1, clock=clock)
        rows.append({"model": name, "he_uniform ms": ms(times["he_uniform"]),
                     "he_normal ms": ms(times["he_normal"]),
                     "he_normal / he_uniform [95% CI]":
                         ratio_text(compare(times["he_normal"], times["he_uniform"])),
                     "default": blocks.Style().kernel_initializer})
        print(rows[-1], flush=True)
        publish(rows)
    return rows


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def first_step(batch, jit):
    """Runs in a subprocess: build preact-ResNet-1001, time its first training step."""
    import keras
    import numpy as np

    import keras_resnets

    start = time.perf_counter()
    model = keras_resnets.create_model("preact-resnet1001", input_shape=(32, 32, 3), classes=10)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9),
                  "sparse_categorical_crossentropy", jit_compile=jit)
    built = time.perf_counter() - start
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, batch)
    first, cpu = time.perf_counter(), _cpu_seconds()
    model.train_on_batch(x, y)
    first, cpu = time.perf_counter() - first, _cpu_seconds() - cpu
    second = time.perf_counter()
    model.train_on_batch(x, y)
    second = time.perf_counter() - second
    return {"batch": batch, "jit_compile": jit, "build_s": built, "first_step_s": first,
            "first_step_cpu_s": cpu,
            "second_step_s": second,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def first_step_rows(settings, timeout):
    rows = []
    for setting in settings:
        batch, jit = setting.split(":")
        command = [sys.executable, __file__, "--first-step-worker", batch, jit]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            rows.append({"batch": batch, "jit_compile": jit,
                         "first step s": f"build + first step > {timeout} s (stopped)"})
            continue
        if done.returncode:
            rows.append({"batch": batch, "jit_compile": jit,
                         "first step s": f"failed: {done.stderr.strip().splitlines()[-1]}"})
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append({"batch": r["batch"], "jit_compile": jit, "build s": f"{r['build_s']:.1f}",
                     "first step s": f"{r['first_step_s']:.1f}",
                     "first step CPU s": f"{r['first_step_cpu_s']:.1f}",
                     "second step s": f"{r['second_step_s']:.2f}",
                     "peak RSS GiB": f"{r['peak_rss_gib']:.2f}"})
        print(rows[-1], flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("pairs", "deep", "first-step"))
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="pairs and deep: wall time, or the process's CPU time")
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--first-step-settings", nargs="*", default=["32:off", "8:off"])
    parser.add_argument("--timeout", type=int, default=600, help="seconds per first step")
    parser.add_argument("--first-step-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.first_step_worker:
        batch, jit = args.first_step_worker
        print(json.dumps(first_step(int(batch), jit == "on")))
        return
    if args.part is None:
        parser.error("--part is required")
    before = load()
    if args.part == "pairs":
        cpu = args.clock == "cpu"

        def publish(rows):
            return write_results(
                "build_vs_keras_cpu" if cpu else "build_vs_keras", rows, list(rows[0]),
                load_before=before,
                timed_call="builder(weights=None); keras.backend.clear_session()",
                notes=f"Default input shapes; median of {args.repeats} ABBA-interleaved builds "
                      "per side after one untimed build each; ratio = keras time / our time "
                      "with its 95% bootstrap interval (parity when it holds 1.0). Times are "
                      + ("the process's CPU time (time.process_time)." if cpu else "wall time."))

        path = publish(pair_rows(args.models or PAIRS, args.repeats, publish,
                                 time.process_time if cpu else time.perf_counter))
    elif args.part == "deep":
        def publish(rows):
            return write_results(
                "build_initializer", rows, list(rows[0]), load_before=before,
                timed_call="engine.build_model(spec with Style(kernel_initializer=...)); "
                           "keras.backend.clear_session()",
                notes=f"Median of {args.repeats} ABBA-interleaved builds per initializer after "
                      "one untimed build each; the registered input shape and classes; times "
                      f"are {'CPU' if args.clock == 'cpu' else 'wall'} time.")

        path = publish(deep_rows(args.models or DEEP, args.repeats, publish,
                                 time.process_time if args.clock == "cpu" else time.perf_counter))
    else:
        rows = first_step_rows(args.first_step_settings, args.timeout)
        path = write_results(
            "first_step_resnet1001", rows,
            ["batch", "jit_compile", "build s", "first step s", "first step CPU s",
             "second step s",
             "peak RSS GiB"], load_before=before,
            timed_call="model.train_on_batch(x, y)  # the first call traces",
            notes="preact-ResNet-1001, 32x32x3, SGD momentum; one fresh process per row "
                  "(peak RSS = ru_maxrss of that process, model build included); one run each.")
    print(path.read_text())


if __name__ == "__main__":
    main()

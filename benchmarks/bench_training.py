"""Training-step time on the CPU, through the harness (:mod:`harness`).

1. ``--part efficiency``: pre-activation ResNet-1001 against WRN-40-4, the Wide ResNet
   paper's claim (Zagoruyko & Komodakis 2016, sec. 3: WRN-40-4 trains several times,
   up to about 8x, faster on a GPU at similar CIFAR error). Both models train in one
   process, their steps ABBA-interleaved; the ratio is ResNet-1001's step time over
   WRN-40-4's with a bootstrap interval. Without XLA (compiling the 1001-layer step with
   XLA ran over 25 minutes and 10 GB without finishing on a 2-core machine).
2. ``--part backends``: the same models' steps on TensorFlow and on JAX. One backend per
   process, so the processes alternate (TF JAX, JAX TF, ...) and each contributes its
   timed steps; the ratio is TensorFlow's step time over JAX's.

Not a test. Random 32x32x3 inputs, SGD with Nesterov momentum, sparse cross-entropy,
``train_on_batch`` after untimed warm-up steps (tracing excluded). The GPU figures come
from ``bench_gpu.py``.

    python benchmarks/bench_training.py --part efficiency --batch-size 32 --repeats 6
    python benchmarks/bench_training.py --part backends --rounds 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import harness

EFFICIENCY_MODELS = ("wrn-40-4", "preact-resnet1001")
BACKEND_MODELS = ("wrn-16-4", "resnet56", "densenet-bc-100-12")
TIMED_CALL = "model.train_on_batch(x, y)  # SGD(0.1, momentum=0.9, nesterov=True)"


def training_step(name, batch_size):
    """A compiled model's one-step callable on fixed random data (built in this process)."""
    import keras
    import numpy as np

    import keras_resnets

    model = keras_resnets.create_model(name, input_shape=(32, 32, 3), classes=10)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                  keras.losses.SparseCategoricalCrossentropy(), jit_compile=False)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch_size, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, batch_size)
    return lambda: model.train_on_batch(x, y)


def labelled(result, above_one, below_one):
    """``4.19 [3.31, 4.52] WRN-40-4 faster``: a step-time ratio with its interval and which
    side the interval says is faster (``above_one`` when it lies above 1.0)."""
    verdict = {"faster": f"{above_one} faster", "slower": f"{below_one} faster"}.get(
        harness.verdict(result), "parity")
    return f"{result['ratio']:.2f} [{result['low']:.2f}, {result['high']:.2f}] {verdict}"


def efficiency(args):
    steps = {name: training_step(name, args.batch_size) for name in EFFICIENCY_MODELS}
    times = harness.abba(steps, repeats=args.repeats, warmup=args.warmup)
    result = harness.compare(times["preact-resnet1001"], times["wrn-40-4"])
    row = {"batch": args.batch_size, "wrn-40-4 ms": harness.ms(times["wrn-40-4"]),
           "preact-resnet1001 ms": harness.ms(times["preact-resnet1001"]),
           "ResNet-1001 / WRN-40-4 step time": labelled(result, "WRN-40-4", "ResNet-1001")}
    return [row], list(row), ("The paper: WRN-40-4 several times (up to ~8x) faster to "
                              "train than ResNet-1001 at similar error, on a GPU.")


def backend_worker(args):
    """Runs in a subprocess with one backend: every model's timed steps, as JSON."""
    steps = {name: training_step(name, args.batch_size) for name in BACKEND_MODELS}
    times = harness.abba(steps, repeats=args.repeats, warmup=args.warmup)
    print("RESULT " + json.dumps(times))


def run_backend(backend, args):
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--batch-size",
               str(args.batch_size), "--repeats", str(args.repeats), "--warmup",
               str(args.warmup)]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"the {backend} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[0][len("RESULT "):])


def backends(args):
    order = ("tensorflow", "jax")
    times = {backend: {name: [] for name in BACKEND_MODELS} for backend in order}
    for r in range(args.rounds):
        for backend in order if r % 2 == 0 else order[::-1]:
            for name, seconds in run_backend(backend, args).items():
                times[backend][name] += seconds
            print(f"round {r + 1}: {backend} done", flush=True)
    rows = []
    for name in BACKEND_MODELS:
        tf_times, jax_times = times["tensorflow"][name], times["jax"][name]
        rows.append({"model": name, "TensorFlow ms": harness.ms(tf_times),
                     "JAX ms": harness.ms(jax_times),
                     "TF / JAX step time": labelled(harness.compare(tf_times, jax_times),
                                                    "JAX", "TensorFlow")})
    return rows, list(rows[0]), (f"Batch {args.batch_size}; {args.rounds} processes per "
                                 f"backend, {args.repeats} timed steps each.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("efficiency", "backends"), default="efficiency")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=6, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per model")
    parser.add_argument("--rounds", type=int, default=4,
                        help="processes per backend (--part backends)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return backend_worker(args)
    load_before = harness.load()
    rows, columns, notes = (efficiency if args.part == "efficiency" else backends)(args)
    name = "training_efficiency" if args.part == "efficiency" else "training_backends"
    path = harness.write_results(name, rows, columns, timed_call=TIMED_CALL,
                                 load_before=load_before, notes=notes)
    print(path.read_text())
    return None


if __name__ == "__main__":
    main()

"""Dense-family benchmarks on the CPU (not tests).

1. Inference throughput of DenseNet121/169/201 against keras.applications, in one run:
   the two models of a pair (same weights) are timed ABBA-interleaved by the harness
   (same process, inputs, warm-up and ``predict_on_batch`` path); the ratio keras / ours
   is reported with its 95% bootstrap interval (parity when it holds 1.0).
2. Training-step time and peak memory of DenseNet-BC-100-12 and CliqueNet T=12 k=36 at
   batch 64 on 32x32 inputs. Each model trains in its own subprocess, so its peak resident
   memory (``ru_maxrss``) is its own; "activations" is the growth of that peak over the
   memory held once the model is built and compiled.

Results go to ``benchmarks/results/dense_inference.{md,json}`` and
``dense_training.{md,json}`` with the machine and the load (``harness.write_results``).

Usage::

    python benchmarks/bench_dense.py                    # both parts
    python benchmarks/bench_dense.py --part inference --batch 8 --rounds 5
    python benchmarks/bench_dense.py --part training --steps 5
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

from harness import abba, compare, load, ms, ratio_text, write_results  # noqa: E402

INFERENCE_MODELS = ("DenseNet121", "DenseNet169", "DenseNet201")
TRAINING_MODELS = ("densenet-bc-100-12", "cliquenet-12-36")


def _rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mib() -> float:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return _rss_mib()


def bench_inference(batch, size, rounds, warmup, models):
    import keras
    import numpy as np

    import keras_resnets as kr

    x = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype("float32")
    rows = []
    for i, name in enumerate(models):
        builders = {"keras": lambda n=name: getattr(keras.applications, n)(
                        weights=None, input_shape=(size, size, 3)),
                    "ours": lambda n=name: getattr(kr, n)(input_shape=(size, size, 3))}
        order = list(builders) if i % 2 == 0 else list(reversed(builders))  # alternate builds
        pair = {key: builders[key]() for key in order}
        pair["ours"].set_weights(pair["keras"].get_weights())
        times = abba({k: (lambda m=m: m.predict_on_batch(x)) for k, m in pair.items()}, rounds,
                     warmup=warmup)
        rows.append({
            "model": name, "ms (ours)": ms(times["ours"]), "ms (keras)": ms(times["keras"]),
            "keras / ours [95% CI]": ratio_text(compare(times["keras"], times["ours"])),
        })
        print(rows[-1], flush=True)
        del pair
        keras.backend.clear_session()
    return rows


def train_one(name, batch, steps, warmup):
    """Runs in a subprocess: time ``steps`` training steps of ``name``; print JSON."""
    import keras
    import numpy as np

    import keras_resnets as kr

    baseline = _current_rss_mib()
    model = kr.create_model(name, input_shape=(32, 32, 3), classes=10)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                  loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=(batch,))
    built = _current_rss_mib()
    model.train_on_batch(x, y)  # traces the train function
    for _ in range(warmup):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    peak = _rss_mib()
    return {
        "model": name, "batch": batch, "params": model.count_params(),
        "step_s_median": statistics.median(times), "step_s_min": min(times),
        "img_per_s": batch / statistics.median(times),
        "peak_rss_mib": peak, "model_rss_mib": built - baseline,
        "activations_mib": peak - built,
        "backend": keras.backend.backend(),
    }


def bench_training(batch, steps, warmup, models):
    rows = []
    for name in models:
        command = [sys.executable, __file__, "--train-one", name, "--batch", str(batch),
                   "--steps", str(steps), "--warmup", str(warmup)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode:
            raise RuntimeError(f"training benchmark of {name} failed:\n{result.stderr[-3000:]}")
        row = json.loads(result.stdout.strip().splitlines()[-1])
        rows.append({
            "model": name, "parameters": f"{row['params']:,}",
            "step ms (median)": f"{row['step_s_median'] * 1e3:.0f}",
            "step ms (min)": f"{row['step_s_min'] * 1e3:.0f}",
            "images/s": f"{row['img_per_s']:.1f}",
            "peak RSS MiB": f"{row['peak_rss_mib']:.0f}",
            "training growth MiB": f"{row['activations_mib']:.0f}",
        })
        print(rows[-1], flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "inference", "training"), default="all")
    parser.add_argument("--batch", type=int, default=None,
                        help="batch size (default: 8 for inference, 64 for training)")
    parser.add_argument("--size", type=int, default=224, help="inference input size")
    parser.add_argument("--rounds", type=int, default=5, help="timed inference rounds")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--train-one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.train_one:
        print(json.dumps(train_one(args.train_one, args.batch or 64, args.steps, args.warmup)))
        return

    before = load()
    if args.part in ("all", "inference"):
        batch = args.batch or 8
        rows = bench_inference(batch, args.size, args.rounds, args.warmup,
                               args.models or INFERENCE_MODELS)
        path = write_results(
            "dense_inference", rows, list(rows[0]), timed_call="model.predict_on_batch(x)",
            load_before=before,
            notes=f"DenseNet against keras.applications: batch {batch}, {args.size}x{args.size}, "
            f"same weights, median of {args.rounds} ABBA rounds after {args.warmup} warm-up "
            "calls each; ratio = keras time / our time with its 95% bootstrap interval. The "
            "models are the same graph, so anything but parity is timing noise.")
        print(path.read_text())
    if args.part in ("all", "training"):
        batch = args.batch or 64
        rows = bench_training(batch, args.steps, args.warmup, args.models or TRAINING_MODELS)
        path = write_results(
            "dense_training", rows, list(rows[0]), timed_call="model.train_on_batch(x, y)",
            load_before=before,
            notes=f"`train_on_batch`, batch {batch}, 32x32x3, 10 classes, SGD Nesterov 0.9; median "
            f"of {args.steps} steps after the traced step and {args.warmup} warm-up steps; each "
            "model in its own process. Peak RSS is the process's peak resident memory "
            "(ru_maxrss); training growth is that peak minus the memory held once the model "
            "was built and compiled (activations, gradients, optimizer slots).")
        print(path.read_text())


if __name__ == "__main__":
    main()

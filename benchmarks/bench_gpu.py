"""GPU training throughput on the JAX backend with synthetic data.

1. WRN-28-10 training throughput (images/s) in float32 and in ``mixed_bfloat16``, and
   its model FLOPs utilization: achieved FLOP/s / the GPU's peak at that precision.
   Training FLOPs per image = 3 x 2 x the analytic forward multiply-adds (a multiply-add
   is 2 FLOPs; the backward pass costs about twice the forward).
2. The Wide ResNet paper's efficiency claim: preact-ResNet-1001 / WRN-40-4 training-step
   time at the same batch (Zagoruyko & Komodakis 2016, sec. 3: "several times", up to 8x,
   on a GPU), ABBA-interleaved by the harness with a 95% bootstrap interval.

Peak FLOP/s default to the NVIDIA H200 SXM datasheet (nvidia.com/en-us/data-center/h200,
"H200 SXM" column): BF16 Tensor Core 1,979 TFLOPS *with sparsity*, i.e. 989 TFLOPS dense,
and FP32 67 TFLOPS. Pass ``--peak-bf16-tflops`` / ``--peak-f32-tflops`` for another GPU.

``--smoke`` runs the same code on tiny models (``SMOKE``: WRN-10-1, and WRN-16-1 / WRN-10-1
as the ratio), batch 2 and 2 steps, on the CPU in seconds; CI runs it
(tests/test_benchmarks.py). Prints one JSON object; ``--out`` also writes it.

    KERAS_BACKEND=jax python benchmarks/bench_gpu.py --batch 128 --steps 20
    KERAS_BACKEND=jax python benchmarks/bench_gpu.py --smoke
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import abba, compare, load, machine  # noqa: E402

FULL = {"throughput": "wrn-28-10", "ratio": ("wrn-40-4", "preact-resnet1001")}
SMOKE = {"throughput": "wrn-10-1", "ratio": ("wrn-10-1", "wrn-16-1")}
PRECISIONS = ("float32", "mixed_bfloat16")


def train_step(name, batch, precision):
    """A compiled training step of ``name`` on synthetic 32x32x3 data (a closure)."""
    import keras
    import numpy as np

    import keras_resnets

    keras.config.set_dtype_policy(precision)
    try:
        model = keras_resnets.create_model(name, input_shape=(32, 32, 3), classes=10)
    finally:
        keras.config.set_dtype_policy("float32")
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(), jit_compile=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, batch)
    return lambda: model.train_on_batch(x, y)  # returns numpy logs: waits for the device


def throughput(name, batch, steps, precision, peak_tflops):
    import keras_resnets

    step = train_step(name, batch, precision)
    seconds = abba({"step": step}, steps, warmup=2)["step"]
    median = statistics.median(seconds)
    flops = 3 * 2 * keras_resnets.count_macs(name, (32, 32, 3))
    achieved = batch / median * flops
    return {"model": name, "precision": precision, "batch": batch, "steps": steps,
            "step_s": median, "images_per_s": batch / median,
            "training_flops_per_image": flops, "achieved_tflops": achieved / 1e12,
            "peak_tflops": peak_tflops, "mfu": achieved / (peak_tflops * 1e12)}


def step_ratio(models, batch, steps):
    wide, deep = models
    times = abba({name: train_step(name, batch, "float32") for name in models}, steps, warmup=2)
    result = compare(times[deep], times[wide])
    return {"models": list(models), "batch": batch,
            "step_s": {name: statistics.median(t) for name, t in times.items()},
            "ratio": result["ratio"], "ci95": [result["low"], result["high"]]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny models, CPU, seconds")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--ratio-batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--peak-bf16-tflops", type=float, default=989.0)
    parser.add_argument("--peak-f32-tflops", type=float, default=67.0)
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.batch, args.ratio_batch, args.steps = 2, 2, 2
    models = SMOKE if args.smoke else FULL

    import jax
    import keras

    if keras.backend.backend() != "jax":
        parser.error(f"needs KERAS_BACKEND=jax; got {keras.backend.backend()!r}")
    before = load()
    peaks = {"float32": args.peak_f32_tflops, "mixed_bfloat16": args.peak_bf16_tflops}
    report = {"machine": machine(), "device": str(jax.devices()[0].device_kind),
              "smoke": args.smoke, "load_before": before,
              "timed_call": "model.train_on_batch(x, y)  # jit_compile=True",
              "throughput": [throughput(models["throughput"], args.batch, args.steps, p,
                                        peaks[p]) for p in PRECISIONS],
              "step_ratio": step_ratio(models["ratio"], args.ratio_batch, args.steps),
              "load_after": load()}
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

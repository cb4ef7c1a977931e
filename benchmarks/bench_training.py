"""Training throughput: TensorFlow against JAX on the CPU, the Wide ResNet paper's
efficiency claim, and WRN-28-10 bf16 model FLOP utilization on a GPU.

Not a test. Each measurement runs in a fresh subprocess (one backend per process),
the backends alternating round by round. Results go to ``benchmarks/results/`` as JSON
and a markdown table with the machine description.

    python benchmarks/bench_training.py                         # CPU part
    python benchmarks/bench_training.py --part efficiency --steps 3 --rounds 1
    python benchmarks/bench_training.py --gpu --peak-tflops 989  # H100 SXM dense bf16

Throughput is images per second of ``train_on_batch`` on random 32x32x3 inputs after
warm-up steps (compilation excluded), SGD with momentum, sparse cross-entropy.
The efficiency ratio is the training-step time of pre-activation ResNet-1001 over
that of WRN-40-4 at the same batch (TensorFlow, without XLA by default): the paper reports WRN-40-4 several times
(up to 8x) faster to train at similar CIFAR error (Zagoruyko & Komodakis 2016,
sec. 3, on a GPU).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
THROUGHPUT_MODELS = ("wrn-16-4", "resnet56", "densenet-bc-100-12")
RATIO_MODELS = ("wrn-40-4", "preact-resnet1001")


def measure(name, batch_size, steps, warmup, precision="float32", jit_compile="auto"):
    """Seconds per training step of ``name`` (runs in the worker process)."""
    import keras
    import numpy as np

    import keras_resnets

    keras.config.set_dtype_policy(precision)
    try:
        model = keras_resnets.create_model(name, input_shape=(32, 32, 3), classes=10)
    except ValueError as error:
        return {"model": name, "skipped": str(error)}
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                  keras.losses.SparseCategoricalCrossentropy(), jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch_size, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, batch_size)
    start = time.perf_counter()
    for _ in range(warmup):
        model.train_on_batch(x, y)
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        loss = model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    step = float(np.median(times))
    return {"model": name, "batch_size": batch_size, "steps": steps, "step_s": step,
            "images_per_s": batch_size / step, "warmup_s": round(compile_s, 2),
            "loss_finite": bool(np.isfinite(float(np.asarray(loss).ravel()[0]))),
            "trainable_params": int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))}


def worker(args):
    import keras

    results = [measure(name, args.batch_size, args.steps, args.warmup, args.precision,
                       args.jit_compile) for name in args.models]
    print("RESULT " + json.dumps({"backend": keras.backend.backend(), "results": results}))


def run_worker(backend, models, args, extra_env=None):
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--models", *models,
               "--batch-size", str(args.batch_size), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--precision", args.precision,
               "--jit-compile", str(args.jit_compile)]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2",
           **(extra_env or {})}
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"{backend} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[0][len("RESULT "):])


def machine():
    import keras
    import tensorflow as tf

    cpu = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "date": datetime.datetime.now().isoformat(timespec="seconds")}
    try:
        import jax

        info["jax"] = jax.__version__
    except ImportError:
        pass
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = [round(v, 2) for v in os.getloadavg()]
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        info["gpu"] = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
                       for g in gpus]
    return info


def throughput_part(args):
    """Images/s of THROUGHPUT_MODELS, TensorFlow and JAX alternating round by round."""
    import numpy as np

    backends = ("tensorflow", "jax")
    runs = {b: {} for b in backends}
    for round_index in range(args.rounds):
        for backend in backends if round_index % 2 == 0 else backends[::-1]:
            out = run_worker(backend, THROUGHPUT_MODELS, args)
            for row in out["results"]:
                runs[backend].setdefault(row["model"], []).append(row)
            print(f"round {round_index + 1} {backend}: " + ", ".join(
                f"{r['model']} {r['images_per_s']:.1f} img/s" if "images_per_s" in r else
                f"{r['model']} skipped" for r in out["results"]), flush=True)
    rows = []
    for model in THROUGHPUT_MODELS:
        row = {"model": model}
        for backend in backends:
            measured = runs[backend].get(model, [])
            if measured and "images_per_s" in measured[0]:
                row[backend] = round(float(np.median([r["images_per_s"] for r in measured])), 2)
                row[f"{backend}_rounds"] = [round(r["images_per_s"], 2) for r in measured]
            elif measured:
                row[backend] = "skipped: " + measured[0]["skipped"]
        if isinstance(row.get("tensorflow"), float) and isinstance(row.get("jax"), float):
            row["jax_over_tf"] = round(row["jax"] / row["tensorflow"], 3)
        rows.append(row)
    lines = ["| model | TensorFlow img/s | JAX img/s | JAX / TF |", "|---|---|---|---|"]
    lines += [f"| {r['model']} | {r.get('tensorflow', '-')} | {r.get('jax', '-')} | "
              f"{r.get('jax_over_tf', '-')} |" for r in rows]
    return {"throughput": rows}, "\n".join(lines)


def efficiency_part(args):
    """Training-step time of pre-activation ResNet-1001 over WRN-40-4 (TensorFlow; no XLA
    by default: compiling the 1001-layer graph with XLA ran over 25 minutes and 10 GB of
    memory on a 2-core machine without finishing)."""
    import numpy as np

    ratio_args = argparse.Namespace(**{**vars(args), "jit_compile": args.ratio_jit_compile})
    runs = []
    for round_index in range(args.rounds):
        out = run_worker("tensorflow", RATIO_MODELS, ratio_args)
        runs.append(out["results"])
        print(f"efficiency round {round_index + 1}: " + ", ".join(
            f"{r['model']} {r.get('step_s', float('nan')):.3f} s/step" for r in out["results"]),
            flush=True)
    if not all("step_s" in r for run in runs for r in run):
        return {"efficiency": None, "runs": runs}, "Efficiency: a model was skipped."
    wrn = float(np.median([run[0]["step_s"] for run in runs]))
    thin = float(np.median([run[1]["step_s"] for run in runs]))
    result = {"batch_size": args.batch_size, "backend": "tensorflow",
              "jit_compile": args.ratio_jit_compile, "wrn-40-4_step_s": round(wrn, 4),
              "preact-resnet1001_step_s": round(thin, 4),
              "resnet1001_over_wrn40_4": round(thin / wrn, 2),
              "params": {r["model"]: r["trainable_params"] for r in runs[0]},
              "paper": "WRN-40-4 several times (up to ~8x) faster to train than ResNet-1001 "
                       "at similar error (GPU)"}
    text = (f"Training step at batch {args.batch_size} (TensorFlow, jit_compile="
            f"{args.ratio_jit_compile}): WRN-40-4 {result['wrn-40-4_step_s']} s, "
            f"pre-activation ResNet-1001 {result['preact-resnet1001_step_s']} s: "
            f"ResNet-1001 / WRN-40-4 = **{result['resnet1001_over_wrn40_4']}x** "
            f"(paper: {result['paper']}).")
    return {"efficiency": result}, text


def report(title, part, text, args, info):
    summary = {"machine": info, "settings": vars(args), **part}
    header = (f"# {title}\n\nMachine: {info['cpu']}, {info['cores']} cores, "
              f"{info['platform']}; TensorFlow {info['tensorflow']}, Keras {info['keras']}, "
              f"JAX {info.get('jax', '-')}; load average at start "
              f"{info.get('load_average_at_start')}; {info['date']}.\n\n"
              f"Batch {args.batch_size}, {args.warmup} warm-up steps, median of {args.steps} "
              f"timed steps per run, {args.rounds} rounds, {args.precision}.\n\n")
    return summary, header + text + "\n"


def gpu_part(args):
    import keras_resnets

    macs = keras_resnets.count_macs("wrn-28-10")
    flops_per_image = macs * 2 * 3  # multiply-add = 2 FLOPs; backward ~ 2x forward
    out = run_worker(os.environ.get("KERAS_BACKEND", "tensorflow"), ["wrn-28-10"], args)
    row = out["results"][0]
    achieved = row["images_per_s"] * flops_per_image
    return {"machine": machine(), "settings": vars(args), "backend": out["backend"],
            "model": "wrn-28-10", "batch_size": args.batch_size,
            "precision": args.precision, "images_per_s": round(row["images_per_s"], 1),
            "step_s": row["step_s"], "training_flops_per_image": flops_per_image,
            "achieved_tflops": round(achieved / 1e12, 2), "peak_tflops": args.peak_tflops,
            "mfu": round(achieved / (args.peak_tflops * 1e12), 4)}


def write(name, summary, markdown):
    os.makedirs(RESULTS, exist_ok=True)
    for suffix, text in (("json", json.dumps(summary, indent=2) + "\n"), ("md", markdown)):
        path = os.path.join(RESULTS, f"{name}.{suffix}")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        print("wrote", path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpu", action="store_true", help="WRN-28-10 bf16 MFU on a GPU")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="peak dense TFLOP/s of the GPU at the precision (H100 SXM bf16: "
                        "989)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--precision")
    parser.add_argument("--jit-compile", default="auto")
    parser.add_argument("--part", choices=("all", "throughput", "efficiency"), default="all",
                        help="CPU part to run (default: all)")
    parser.add_argument("--ratio-jit-compile", default="false",
                        help="XLA for the efficiency ratio (default false)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--models", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    flags = {"true": True, "false": False}
    args.jit_compile = flags.get(str(args.jit_compile).lower(), "auto")
    args.ratio_jit_compile = flags.get(str(args.ratio_jit_compile).lower(), "auto")
    if args.worker:
        return worker(args)
    if args.gpu:
        args.batch_size = args.batch_size or 128
        args.steps = args.steps or 20
        args.warmup = max(args.warmup, 3)
        args.precision = args.precision or "mixed_bfloat16"
        summary = gpu_part(args)
        text = (f"# WRN-28-10 training on {summary['machine'].get('gpu')}\n\n"
                f"{summary['backend']}, {summary['precision']}, batch {summary['batch_size']}: "
                f"{summary['images_per_s']} img/s, {summary['achieved_tflops']} TFLOP/s "
                f"achieved, MFU {100 * summary['mfu']:.1f}% of {summary['peak_tflops']} "
                f"TFLOP/s ({summary['training_flops_per_image'] / 1e9:.1f} GFLOP per image "
                f"= 3 x 2 x MACs).\n")
        write("training_gpu", summary, text)
        print(text)
        return None
    args.batch_size = args.batch_size or 32
    args.steps = args.steps or 5
    args.precision = args.precision or "float32"
    parts = {"throughput": (throughput_part, "Training throughput on the CPU"),
             "efficiency": (efficiency_part, "Wide ResNet efficiency: WRN-40-4 against "
                                             "ResNet-1001")}
    for name in parts if args.part == "all" else [args.part]:
        function, title = parts[name]
        info = machine()
        summary, text = report(title, *function(args), args, info)
        write(f"training_cpu_{name}", summary, text)
        print(text)
    return None


if __name__ == "__main__":
    main()

"""GPU training throughput on the JAX backend with synthetic data.

1. WRN-28-10 training throughput (images/s) in float32 and in ``mixed_bfloat16``, and
   its model FLOPs utilization: achieved FLOP/s / the GPU's peak at that precision.
   Training FLOPs per image = 3 x 2 x the analytic forward multiply-adds (a multiply-add
   is 2 FLOPs; the backward pass costs about twice the forward).
2. The Wide ResNet paper's efficiency claim: preact-ResNet-1001 / WRN-40-4 training-step
   time at the same batch (Zagoruyko & Komodakis 2016, sec. 3: "several times", up to 8x,
   on a GPU), ABBA-interleaved by the harness with a 95% bootstrap interval.

3. Today's loop against loops that keep the device busy (``--part loops``): one
   ``train_on_batch`` per step (it waits for the step's logs), against the model's state
   kept on the device (``model.stateless_call``, the batches already there) with one
   jitted step dispatched per batch without waiting (``jit_loop``: what Keras's
   ``steps_per_execution`` does on JAX) or all ``STEPS_PER_DISPATCH`` steps in one jitted
   ``lax.scan`` (``scan``: one dispatch), ABBA-interleaved over the same steps, for
   ``LOOPS``: WRN-28-10 at batch 128 and 512 in float32 and mixed_bfloat16, ResNet-50 at
   224x224 (batch 128, mixed_bfloat16); MFU of each side against the peak. Below float32
   a fourth side, ``scan_bf16_bn``: the same scan on a copy of the model whose batch norms
   normalize in bfloat16 with float32 statistics taken in one pass (:func:`bf16_batch_norm`,
   a candidate of issue 29 kept out of the library until a GPU measures a gain), with its
   step time against ``train_on_batch`` and ``scan`` and how far its losses land from
   ``scan``'s over the same steps from the same state.
4. ``--part bn-accuracy`` (not part of ``all``): does that batch norm keep accuracy? WRN-10-2
   trained on the offline digits in mixed_bfloat16 with each batch norm, same seed and
   initial weights (:func:`bn_accuracy`); validation and test accuracy.

Each model's build time, its first step (tracing plus XLA compilation) and the device's
peak memory are recorded too. Peak FLOP/s default to the NVIDIA H200 SXM datasheet
(nvidia.com/en-us/data-center/h200, "H200 SXM" column, whose tensor-core figures are
*with sparsity*; the dense rate is half): BF16 989 TFLOPS dense, TF32 495 dense, FP32
67. XLA on a GPU runs float32 convolutions on TF32 tensor cores unless
``jax_default_matmul_precision`` says "highest", so float32 MFU is given against both
the TF32 and the FP32 peak. Pass the ``--peak-*`` options for another GPU.

``--smoke`` runs the same code on tiny models (``SMOKE``: WRN-10-1, and WRN-16-1 / WRN-10-1
as the ratio), batch 2 and 2 steps, on the CPU in seconds; CI runs it
(tests/test_benchmarks.py). Prints one JSON object; ``--out`` also writes it, rewritten
(atomically) after each part, so a run stopped part-way keeps what it measured.
``--tabulate NAME REPORT.json ...`` merges such reports (taken on the GPU machine, which
has no TensorFlow) into ``results/NAME.json`` and the table ``results/NAME.md``.

    KERAS_BACKEND=jax python benchmarks/bench_gpu.py --batch 128 --steps 20 --out gpu.json
    KERAS_BACKEND=jax python benchmarks/bench_gpu.py --smoke
    KERAS_BACKEND=jax python benchmarks/bench_gpu.py --part bn-accuracy --bn-seeds 0 1
    python benchmarks/bench_gpu.py --tabulate gpu_h200 gpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bf16_batch_norm import bf16_batch_norm, with_bf16_batch_norm  # noqa: E402
from harness import RESULTS, abba, compare, load, machine  # noqa: E402

from keras_resnets._io import write_text  # noqa: E402  temp file, then rename

FULL = {"throughput": "wrn-28-10", "ratio": ("wrn-40-4", "preact-resnet1001")}
SMOKE = {"throughput": "wrn-10-1", "ratio": ("wrn-10-1", "wrn-16-1")}
# (model, image size, classes, batch, precision) of the loop comparison, most wanted first
LOOPS = [("wrn-28-10", 32, 10, batch, precision)
         for precision in ("mixed_bfloat16", "float32") for batch in (128, 512)]
LOOPS.insert(2, ("resnet50", 224, 1000, 128, "mixed_bfloat16"))
SMOKE_LOOPS = [("wrn-10-1", 32, 10, 2, "mixed_bfloat16")]
STEPS_PER_DISPATCH = 8
BF16_BN = "scan_bf16_bn"   # the loops' side whose batch norms normalize in bfloat16
PRECISIONS = ("float32", "mixed_bfloat16")


def say(text):
    print(f"[bench_gpu {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def peak_memory_gib():
    """The device's peak bytes in use so far (None where the backend does not say)."""
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else round(peak / 2**30, 2)


def compiled_model(name, precision, size=32, classes=10):
    """``name`` built under ``precision`` for ``size``x``size``x3 images, compiled with
    SGD and momentum (XLA)."""
    import keras

    import keras_resnets

    keras.config.set_dtype_policy(precision)
    try:
        model = keras_resnets.create_model(name, input_shape=(size, size, 3), classes=classes)
    finally:
        keras.config.set_dtype_policy("float32")
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(), jit_compile=True)
    return model


def train_step(name, batch, precision):
    """A compiled training step of ``name`` on synthetic 32x32x3 data (a closure), with
    the seconds its build and its first (compiling) step took."""
    import keras
    import numpy as np

    start = time.perf_counter()
    model = compiled_model(name, precision)
    built = time.perf_counter()
    rng = np.random.default_rng(0)
    x = keras.ops.convert_to_tensor(rng.normal(size=(batch, 32, 32, 3)).astype("float32"))
    y = keras.ops.convert_to_tensor(rng.integers(0, 10, batch))
    step = lambda: model.train_on_batch(x, y)  # noqa: E731  numpy logs: waits for the device
    step()
    first = time.perf_counter()
    say(f"{name} {precision} batch {batch}: build {built - start:.1f} s, "
        f"first step {first - built:.1f} s")
    return step, {"build_s": built - start, "first_step_s": first - built}


def throughput(name, batch, steps, precision, peaks):
    import keras_resnets

    step, setup = train_step(name, batch, precision)
    seconds = abba({"step": step}, steps, warmup=2)["step"]
    median = statistics.median(seconds)
    flops = 3 * 2 * keras_resnets.count_macs(name, (32, 32, 3))
    achieved = batch / median * flops
    row = {"model": name, "precision": precision, "batch": batch, "steps": steps,
           "step_s": median, "step_s_range": [min(seconds), max(seconds)],
           "images_per_s": batch / median, "training_flops_per_image": flops,
           "achieved_tflops": achieved / 1e12, **setup,
           "peak_memory_gib": peak_memory_gib()}
    for label, peak in peaks[precision].items():
        row[f"mfu_vs_{label}"] = achieved / (peak * 1e12)
    label, row["peak_tflops"] = next(iter(peaks[precision].items()))  # the headline peak
    row["mfu"] = row[f"mfu_vs_{label}"]
    say(f"{name} {precision}: {row['images_per_s']:.0f} images/s, MFU {row['mfu']:.3f}")
    return row


def max_abs(arrays, others):
    return max(float(abs(a.astype("float32") - b.astype("float32")).max())
               for a, b in zip(arrays, others, strict=True))


def device_loops(model):
    """Two ways to run training steps of compiled, built ``model`` with its state kept
    on the device, written back into its variables at the end: ``"jit_loop"``
    dispatches one jitted step per batch without waiting for the device (what Keras's
    ``steps_per_execution`` does on JAX), ``"scan"`` runs them all in one jitted
    ``lax.scan`` (one dispatch). Each is ``run(xs, ys)`` over the batches ``xs[i]``
    (stacked for the scan) and returns the steps' losses."""
    import jax
    import jax.numpy as jnp

    loss_fn, optimizer = model.loss, model.optimizer
    groups = (model.trainable_variables, model.non_trainable_variables, optimizer.variables)

    def one_step(state, batch):
        trainable, non_trainable, optimizer_vars = state
        x, y = batch

        def loss_of(trainable, non_trainable):
            predictions, non_trainable = model.stateless_call(
                trainable, non_trainable, x, training=True)
            return loss_fn(y, predictions), non_trainable

        (loss, non_trainable), grads = jax.value_and_grad(loss_of, has_aux=True)(
            trainable, non_trainable)
        trainable, optimizer_vars = optimizer.stateless_apply(optimizer_vars, grads, trainable)
        return (trainable, non_trainable, optimizer_vars), loss

    step = jax.jit(one_step)
    scan = jax.jit(lambda state, xs, ys: jax.lax.scan(one_step, state, (xs, ys)))

    def jit_loop(state, xs, ys):
        losses = []
        for x, y in zip(xs, ys, strict=True):
            state, loss = step(state, (x, y))
            losses.append(loss)
        return state, jnp.stack(losses)

    def runner(steps):
        def run(xs, ys):
            state, losses = steps(tuple([v.value for v in group] for group in groups), xs, ys)
            for group, values in zip(groups, state, strict=True):
                for variable, value in zip(group, values, strict=True):
                    variable.assign(value)
            return jax.block_until_ready(losses)
        return run

    return {"jit_loop": runner(jit_loop), "scan": runner(scan)}


def loop_comparison(name, size, classes, batch, precision, repeats, peaks):
    """Today's loop (``train_on_batch`` per step) against :func:`device_loops` (the
    batches on the device), each side ``STEPS_PER_DISPATCH`` steps, interleaved. Below
    float32 also ``BF16_BN``: the ``scan`` of a copy whose batch norms are
    :func:`bf16_batch_norm`'s, from the same state and batches (its losses are compared
    with ``scan``'s over those steps)."""
    import jax
    import keras
    import numpy as np

    import keras_resnets

    model = compiled_model(name, precision, size, classes)
    rng = np.random.default_rng(0)
    shape = (STEPS_PER_DISPATCH, batch, size, size, 3)
    x = jax.device_put(rng.normal(size=shape).astype("float32"))
    y = jax.device_put(rng.integers(0, classes, shape[:2]))
    xs, ys = list(x), list(y)
    start = time.perf_counter()
    model.train_on_batch(xs[0], ys[0])   # builds the optimizer; compiles today's step
    say(f"{name} {size}px {precision} batch {batch}: first step "
        f"{time.perf_counter() - start:.1f} s")
    loops = device_loops(model)
    sides = {"train_on_batch": lambda: [model.train_on_batch(a, b) for a, b in zip(xs, ys)],
             "jit_loop": lambda: loops["jit_loop"](xs, ys),
             "scan": lambda: loops["scan"](x, y)}   # train_on_batch's numpy logs: it waits
    variables = model.variables + model.optimizer.variables
    trained = dict.fromkeys(sides, model)
    if precision != "float32":   # on float32 inputs the variant is Keras's layer
        variant = with_bf16_batch_norm(model)
        variant.compile(keras.optimizers.SGD(0.1, momentum=0.9),
                        keras.losses.SparseCategoricalCrossentropy(), jit_compile=True)
        variant.optimizer.build(variant.trainable_variables)
        variant_loops = device_loops(variant)
        sides[BF16_BN] = lambda: variant_loops["scan"](x, y)
        trained[BF16_BN] = variant
    initial = [np.array(v.value) for v in variables]   # copies: train_on_batch donates
    start_weights = [np.array(v.value) for v in model.trainable_variables]
    weights, losses = {}, {}
    for side, run in sides.items():   # the same steps from the same state (compiles)
        state = trained[side].variables + trained[side].optimizer.variables
        for variable, value in zip(state, initial, strict=True):
            if tuple(variable.shape) != value.shape:
                raise ValueError(f"{side}: {variable.path} {variable.shape} != {value.shape}")
            variable.assign(value)
        start = time.perf_counter()
        losses[side] = run()
        weights[side] = [np.array(v.value, "float32") for v in trained[side].trainable_variables]
        say(f"  first {side} of {STEPS_PER_DISPATCH} steps {time.perf_counter() - start:.1f} s")
    agreement = {"max_abs_update": max_abs(weights["train_on_batch"], start_weights)}
    for side in ("jit_loop", "scan"):
        agreement[f"{side}_max_abs_diff"] = max_abs(weights[side], weights["train_on_batch"])
    if BF16_BN in sides:   # against the plain scan: the same steps from the same state
        agreement[f"{BF16_BN}_max_abs_diff"] = max_abs(weights[BF16_BN], weights["scan"])
        agreement[f"{BF16_BN}_loss_max_abs_diff"] = max_abs([np.asarray(losses[BF16_BN])],
                                                            [np.asarray(losses["scan"])])
        agreement["losses"] = {side: np.asarray(losses[side], "float32").round(5).tolist()
                               for side in ("scan", BF16_BN)}
    say(f"  weights after {STEPS_PER_DISPATCH} steps from one state: {agreement}")
    times = abba(sides, repeats, warmup=0)
    flops = 3 * 2 * keras_resnets.count_macs(name, (size, size, 3), classes=classes)
    label, peak = next(iter(peaks[precision].items()))
    row = {"model": name, "image_size": size, "precision": precision, "batch": batch,
           "steps_per_dispatch": STEPS_PER_DISPATCH, "repeats": repeats,
           "training_flops_per_image": flops, "peak": label, "peak_tflops": peak,
           "peak_memory_gib": peak_memory_gib(), **agreement}
    for side, seconds in times.items():
        step_s = statistics.median(seconds) / STEPS_PER_DISPATCH
        row[side] = {"step_s": step_s, "images_per_s": batch / step_s,
                     "mfu": batch / step_s * flops / (peak * 1e12)}
        if side != "train_on_batch":
            result = compare(times["train_on_batch"], seconds)
            row[side].update(speedup=result["ratio"], ci95=[result["low"], result["high"]])
        if side == BF16_BN:   # scan's step time / the variant's
            result = compare(times["scan"], seconds)
            row[side].update(speedup_vs_scan=result["ratio"],
                             ci95_vs_scan=[result["low"], result["high"]])
    say("  " + ", ".join(f"{side} {row[side]['mfu']:.1%} of {label.upper()}" +
                         (f" x{row[side]['speedup']:.2f}" if "speedup" in row[side] else "") +
                         (f" (x{row[side]['speedup_vs_scan']:.2f} vs scan)"
                          if "speedup_vs_scan" in row[side] else "")
                         for side in times))
    keras.backend.clear_session()
    return row


def bn_accuracy(model_name, epochs, batch, seeds, digits_file="digits.npz"):
    """Does normalizing in bfloat16 keep accuracy? ``model_name`` trained on the digits
    with :func:`keras_resnets.accelerator.train_on_arrays` (mixed_bfloat16, SGD with
    Nesterov momentum, cosine decay, ``epochs`` at ``batch``) with Keras's batch norm and
    with :func:`bf16_batch_norm`'s, from the same initial weights and seed; one row each
    per seed: the last and best validation accuracy and the test accuracy (360 images)."""
    import keras_resnets
    from keras_resnets import accelerator

    splits = accelerator.digits_splits(digits_file)
    x_test, y_test = splits["test"]
    create = keras_resnets.create_model
    variant = bf16_batch_norm()
    rows = []
    for seed in seeds:
        for norm in ("keras", "bf16"):
            if norm == "bf16":   # train_on_arrays builds through keras_resnets.create_model
                keras_resnets.create_model = lambda *a, **k: with_bf16_batch_norm(create(*a, **k))
            try:
                run = accelerator.train_on_arrays(model_name, splits, epochs=epochs,
                                                  batch_size=batch, precision="mixed_bfloat16",
                                                  seed=seed, verbose=0)
            finally:
                keras_resnets.create_model = create
            _, test_accuracy = run.model.evaluate(x_test.astype("float32"), y_test,
                                                  batch_size=batch, verbose=0)
            net = run.model.layers[-1]
            rows.append({"model": model_name, "batch_norm": norm, "seed": seed,
                         "epochs": epochs, "batch": batch,
                         "variant_layers": sum(isinstance(layer, variant)
                                               for layer in net.layers),
                         "xent": run.history[-1]["xent"],
                         "val_xent": run.history[-1]["val_xent"],
                         "val_accuracy": run.history[-1]["val_accuracy"],
                         "best_val_accuracy": run.metrics["best_val_accuracy"],
                         "test_accuracy": test_accuracy, "test_images": len(y_test),
                         "train_s": run.metrics["train_s"]})
            say(f"{model_name} {norm} batch norm, seed {seed}: validation "
                f"{rows[-1]['val_accuracy']:.4f} (best {rows[-1]['best_val_accuracy']:.4f}, "
                f"cross-entropy {rows[-1]['val_xent']:.4f}), "
                f"test {test_accuracy:.4f}, {rows[-1]['train_s']:.0f} s")
    return rows


def step_ratio(models, batch, steps):
    wide, deep = models
    built = {name: train_step(name, batch, "float32") for name in models}
    times = abba({name: step for name, (step, _) in built.items()}, steps, warmup=2)
    result = compare(times[deep], times[wide])
    say(f"{deep} / {wide}: {result['ratio']:.2f} [{result['low']:.2f}, {result['high']:.2f}]")
    return {"models": list(models), "batch": batch, "steps": steps,
            "step_s": {name: statistics.median(t) for name, t in times.items()},
            "setup": {name: setup for name, (_, setup) in built.items()},
            "ratio": result["ratio"], "ci95": [result["low"], result["high"]],
            "peak_memory_gib": peak_memory_gib()}


def tabulate(reports) -> str:
    """The Markdown tables of a list of reports: one row per throughput or ratio run."""
    first = reports[0]
    info = first["machine"]
    ratios = [report["step_ratio"] for report in reports if "step_ratio" in report]
    lines = [f"Measured {info['date']} on an {first['device']} (host: {info['cpu']}, "
             f"{info['cores']} cores), jax {info.get('jax')}, keras {info['keras']}, backend "
             f"{info['backend']}, `jax_default_matmul_precision` {first['matmul_precision']} "
             "(XLA's default: float32 convolutions may run on TF32 tensor cores).", "",
             f"Timed call: `{first['timed_call']}`; synthetic 32x32x3 data, SGD with momentum.",
             "Peak GiB: the device's peak memory so far in that process. Host load average "
             "(1/5/15 min) before / after each run: " + "; ".join(
                 f"{'/'.join(map(str, r['load_before']))} / "
                 f"{'/'.join(map(str, r.get('load_after', ['?'])))}" for r in reports) + ".", "",
             "| model | precision | batch | step ms | images/s | TFLOP/s | MFU | "
             "first step s | peak GiB |", "|" + "---|" * 9]
    for report in reports:
        for row in report.get("throughput", []):
            mfu = ", ".join(f"{row[k]:.1%} of {k[len('mfu_vs_'):].upper()}" for k in row
                            if k.startswith("mfu_vs_"))
            lines.append(f"| {row['model']} | {row['precision']} | {row['batch']} | "
                         f"{1000 * row['step_s']:.1f} | {row['images_per_s']:.0f} | "
                         f"{row['achieved_tflops']:.0f} | {mfu} | {row['first_step_s']:.1f} | "
                         f"{row['peak_memory_gib']} |")
    loops = [row for report in reports for row in report.get("loops", [])]
    if loops:
        lines += ["", f"Loops, {loops[0]['steps_per_dispatch']} steps per timed call: "
                  "`train_on_batch` per step; `jit_loop`, one jitted step per batch "
                  "dispatched without waiting (Keras's `steps_per_execution` on JAX); "
                  "`scan`, all steps in one jitted `lax.scan`. Batches on the device; ms "
                  "per step, MFU against the peak named; speed-up = `train_on_batch`'s "
                  "step time / the side's, median with its 95% bootstrap interval. "
                  f"`{BF16_BN}`: the scan with batch norms that normalize in bfloat16 "
                  "(statistics in float32, one pass; below float32 only); vs scan = "
                  "`scan`'s step time / its; loss diff = the largest difference of its "
                  "losses from `scan`'s over the same steps from the same state.", "",
                  "| model | image | precision | batch | train_on_batch ms | MFU | "
                  "jit_loop ms | MFU | speed-up | scan ms | MFU | speed-up | "
                  f"{BF16_BN} ms | MFU | speed-up | vs scan | loss diff | peak GiB |",
                  "|" + "---|" * 18]
    for row in loops:
        cells = [row["model"], row["image_size"], row["precision"], row["batch"]]
        for side in ("train_on_batch", "jit_loop", "scan"):
            cells += [f"{1000 * row[side]['step_s']:.1f}", f"{row[side]['mfu']:.1%}"]
            if side == "train_on_batch":
                cells[-1] += f" of {row['peak'].upper()}"
            else:
                low, high = row[side]["ci95"]
                cells.append(f"{row[side]['speedup']:.2f} [{low:.2f}, {high:.2f}]")
        if BF16_BN in row:
            bf16 = row[BF16_BN]
            cells += [f"{1000 * bf16['step_s']:.1f}", f"{bf16['mfu']:.1%}",
                      "{:.2f} [{:.2f}, {:.2f}]".format(bf16["speedup"], *bf16["ci95"]),
                      "{:.2f} [{:.2f}, {:.2f}]".format(bf16["speedup_vs_scan"],
                                                       *bf16["ci95_vs_scan"]),
                      f"{row[f'{BF16_BN}_loss_max_abs_diff']:.2g}"]
        else:
            cells += ["-"] * 5
        lines.append("| " + " | ".join(map(str, cells + [row["peak_memory_gib"]])) + " |")
    if ratios:
        wide, deep = ratios[0]["models"]
        lines += ["", f"| batch | {wide} ms | {deep} ms | {deep} / {wide} step time "
                  "| first step s | peak GiB |", "|" + "---|" * 6]
    for ratio in ratios:
        lines.append(f"| {ratio['batch']} | {1000 * ratio['step_s'][wide]:.1f} | "
                     f"{1000 * ratio['step_s'][deep]:.1f} | {ratio['ratio']:.2f} "
                     f"[{ratio['ci95'][0]:.2f}, {ratio['ci95'][1]:.2f}] | "
                     f"{ratio['setup'][wide]['first_step_s']:.0f} / "
                     f"{ratio['setup'][deep]['first_step_s']:.0f} | "
                     f"{ratio['peak_memory_gib']} |")
    return "\n".join(lines) + "\n"


def write_tables(name, paths, results_dir=RESULTS):
    reports = [json.loads(Path(path).read_text()) for path in paths]
    Path(results_dir).mkdir(parents=True, exist_ok=True)
    write_text(Path(results_dir) / f"{name}.json", json.dumps(reports, indent=2) + "\n")
    write_text(Path(results_dir) / f"{name}.md", tabulate(reports))
    return Path(results_dir) / f"{name}.md"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny models, CPU, seconds")
    parser.add_argument("--part", default="all",
                        choices=("all", "throughput", "ratio", "loops", "bn-accuracy"),
                        help="all: throughput, ratio and loops; bn-accuracy runs alone")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--ratio-batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--loop-repeats", type=int, default=6,
                        help="ABBA repeats of each side of a loop comparison")
    parser.add_argument("--bn-model", default="wrn-10-2", help="bn-accuracy's model")
    parser.add_argument("--bn-epochs", type=int, default=15)
    parser.add_argument("--bn-batch", type=int, default=64)
    parser.add_argument("--bn-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--digits-file", default="digits.npz",
                        help="the digits splits where TensorFlow is not installed")
    parser.add_argument("--peak-bf16-tflops", type=float, default=989.0)
    parser.add_argument("--peak-tf32-tflops", type=float, default=495.0)
    parser.add_argument("--peak-f32-tflops", type=float, default=67.0)
    parser.add_argument("--out", default=None, help="also write the JSON here")
    parser.add_argument("--tabulate", nargs="+", metavar=("NAME", "REPORT"),
                        help="write results/NAME.json and .md from these reports; runs nothing")
    parser.add_argument("--results-dir", default=str(RESULTS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tabulate:
        if len(args.tabulate) < 2:
            parser.error("--tabulate needs a NAME and at least one REPORT.json")
        print(write_tables(args.tabulate[0], args.tabulate[1:], args.results_dir))
        return
    if args.smoke:
        args.batch, args.ratio_batch, args.steps, args.loop_repeats = 2, 2, 2, 2
        args.bn_model, args.bn_epochs = "wrn-10-1", 1
    models = SMOKE if args.smoke else FULL

    import jax
    import keras

    if keras.backend.backend() != "jax":
        parser.error(f"needs KERAS_BACKEND=jax; got {keras.backend.backend()!r}")
    peaks = {"float32": {"tf32": args.peak_tf32_tflops, "fp32": args.peak_f32_tflops},
             "mixed_bfloat16": {"bf16": args.peak_bf16_tflops}}
    report = {"machine": machine(), "device": str(jax.devices()[0].device_kind),
              "smoke": args.smoke, "load_before": load(),
              "matmul_precision": str(jax.config.jax_default_matmul_precision),
              "timed_call": "model.train_on_batch(x, y)  # jit_compile=True, x on device"}

    def save():
        text = json.dumps(report, indent=2)
        if args.out:
            write_text(args.out, text + "\n")
        return text

    if args.part in ("all", "throughput"):
        report["throughput"] = []
        for precision in PRECISIONS:
            report["throughput"].append(
                throughput(models["throughput"], args.batch, args.steps, precision, peaks))
            save()
    if args.part in ("all", "ratio"):
        report["step_ratio"] = step_ratio(models["ratio"], args.ratio_batch, args.steps)
        save()
    if args.part == "bn-accuracy":
        report["bn_accuracy"] = bn_accuracy(args.bn_model, args.bn_epochs, args.bn_batch,
                                            args.bn_seeds, args.digits_file)
        save()
    if args.part in ("all", "loops"):
        report["loops"] = []
        for case in SMOKE_LOOPS if args.smoke else LOOPS:
            report["loops"].append(loop_comparison(*case, args.loop_repeats, peaks))
            save()
    report["load_after"] = load()
    print(save())


if __name__ == "__main__":
    main()

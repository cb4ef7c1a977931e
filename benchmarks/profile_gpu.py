"""Where a training step's time goes: a JAX profiler trace of a few steps, summarized.

Issue 29 asks that WRN-28-10 training (mixed_bfloat16, batch 128, JAX backend) reach 40%
of the GPU's BF16 peak, or the measured reason why not. This builds the model as
``bench_gpu.py`` does, runs its device-resident jitted step (``bench_gpu.device_loops``:
state and batches on the device, one jitted step per batch dispatched without waiting, or
``--loop scan``), compiles and warms it, times ``--repeats`` untraced runs of ``--steps``
steps, then traces one more run inside ``jax.profiler.trace(dir, create_perfetto_trace=True)``
and reads the Chrome trace-event JSON that JAX writes (``DIR/plugins/profile/*/
*.trace.json.gz``; ``perfetto_trace.json.gz`` beside it opens in ui.perfetto.dev) with the
standard library alone.

Device time: on a GPU, the complete events on the ``Stream #...`` threads of the
``/device:GPU:N`` processes (kernels, memcpy, memset, as CUPTI saw them run); where the
trace has no device process (the CPU), the host events that carry an ``hlo_op`` argument
(XLA:CPU's ops on its thread pool). ``busy`` is the union of those intervals (overlaps
counted once); op shares are of their summed durations. Idle = the traced run's wall
time less the busy time: the device waiting on the host (dispatch, Python, transfers).
MFU = model FLOPs per step (batch x 3 x 2 x forward multiply-adds, as in bench_gpu.py) /
time / ``--peak-tflops`` (default 989: H100/H200 SXM dense BF16), against the untraced
wall time (what training gets) and against the busy time alone (if the device never idled).

Categories, by the op's (kernel's) name, the first rule that matches, case ignored:
``copy/transpose`` (copy, transpose, memcpy, memset, cuDNN's NCHW<->NHWC layout kernels),
``convolution/matmul`` (conv but not convert, cudnn, xmma, sm90_..., gemm, cutlass, dot,
triton: the tensor-core work), ``reduction (batch norm)`` (reduce: batch statistics and
their gradients, the loss), ``elementwise fusion`` (XLA's other fusions: fusion, loop_,
wrapped_), ``other`` (on XLA:CPU also its ``ynn_fusion`` library calls, which hold
convolutions, dots or reductions: the name does not say which).

    KERAS_BACKEND=jax python benchmarks/profile_gpu.py --out profile.json   # on the GPU
    KERAS_BACKEND=jax JAX_PLATFORMS=cpu python benchmarks/profile_gpu.py --smoke  # seconds

``--smoke``: WRN-10-1, batch 2, float32, on the CPU in seconds (tests/test_benchmarks.py).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))   # bench_gpu, imported in use

from keras_resnets._io import write_text  # noqa: E402  temp file, then rename

CATEGORIES = [   # (category, pattern): the first that an op's name matches
    ("copy/transpose", r"copy|transpose|memcpy|memset|nchwtonhwc|nhwctonchw"),
    ("convolution/matmul", r"conv(?!ert)|cudnn|xmma|sm\d\d_|gemm|cutlass|(^|_)dot|triton"),
    ("reduction (batch norm)", r"reduce"),
    # not XLA:CPU's YNNPACK calls (ynn_fusion): convolutions, dots or reductions alike
    ("elementwise fusion", r"^(?!ynn_).*(fusion|loop_|wrapped_)"),
    ("other", r""),
]


def category(name: str) -> str:
    return next(label for label, rule in CATEGORIES if re.search(rule, name, re.IGNORECASE))


def device_events(trace: dict) -> tuple[str, list[dict]]:
    """The events that count as device time (see the module docstring) and where from."""
    meta = [e for e in trace["traceEvents"] if e.get("ph") == "M"]
    processes = {e["pid"]: e["args"]["name"] for e in meta if e["name"] == "process_name"}
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in meta
               if e["name"] == "thread_name"}
    complete = [e for e in trace["traceEvents"] if e.get("ph") == "X" and "dur" in e]
    on_devices = [e for e in complete if "/device:" in processes.get(e["pid"], "")]
    streams = [e for e in on_devices
               if threads.get((e["pid"], e.get("tid")), "").startswith("Stream")]
    if streams:
        return "device streams", streams
    if on_devices:
        return "device threads", on_devices
    return "host XLA ops", [e for e in complete if "hlo_op" in e.get("args", {})]


def busy_us(events) -> float:
    """Microseconds covered by at least one event (the union of their intervals)."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted((e["ts"], e["ts"] + e["dur"]) for e in events):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def summarize(trace: dict, steps: int, top: int = 15) -> dict:
    """Device time of ``trace`` (a run of ``steps`` steps): totals, categories, top ops."""
    source, events = device_events(trace)
    op_us = sum(e["dur"] for e in events)
    share = (lambda us: us / op_us) if op_us else (lambda us: 0.0)
    ops, categories = {}, {label: 0.0 for label, _ in CATEGORIES}
    for event in events:
        op = ops.setdefault(event["name"], {"us": 0.0, "count": 0,
                                            "hlo_op": event.get("args", {}).get("hlo_op")})
        op["us"] += event["dur"]
        op["count"] += 1
        categories[category(event["name"])] += event["dur"]
    busy = busy_us(events)
    span = max(e["ts"] + e["dur"] for e in events) - min(e["ts"] for e in events) if events else 0
    return {
        "source": source, "events": len(events), "steps": steps,
        "busy_ms_per_step": busy / 1e3 / steps, "op_ms_per_step": op_us / 1e3 / steps,
        "span_ms_per_step": span / 1e3 / steps,
        "categories": {label: {"ms_per_step": us / 1e3 / steps, "share": share(us)}
                       for label, us in categories.items()},
        "top_ops": [{"name": name[:200], "category": category(name),
                     "ms_per_step": op["us"] / 1e3 / steps, "share": share(op["us"]),
                     "count": op["count"], "hlo_op": op["hlo_op"]}
                    for name, op in sorted(ops.items(), key=lambda kv: -kv[1]["us"])[:top]],
    }


def load_trace(trace_dir) -> dict:
    """The newest ``*trace.json.gz`` under ``trace_dir``: ``HOST.trace.json.gz`` as
    ``jax.profiler.trace`` wrote it or ``perfetto_trace.json.gz``, its copy."""
    path = max(Path(trace_dir).glob("**/*trace.json.gz"), key=os.path.getmtime)
    with gzip.open(path, "rt") as file:
        return json.load(file)


def timed_steps(args):
    """Compile and time runs of ``args.steps`` device-resident steps: the run (a closure
    that returns its seconds) and the timings."""
    import jax
    import numpy as np
    from bench_gpu import compiled_model, device_loops

    model = compiled_model(args.model, args.precision, args.size, args.classes)
    model.optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    shape = (args.steps, args.batch, args.size, args.size, 3)
    x = jax.device_put(rng.normal(size=shape).astype("float32"))
    y = jax.device_put(rng.integers(0, args.classes, shape[:2]))
    xs, ys = (x, y) if args.loop == "scan" else (list(x), list(y))
    loop = device_loops(model)[args.loop]

    def run():
        start = time.perf_counter()
        loop(xs, ys)   # waits for the steps' losses
        return time.perf_counter() - start

    first = run()   # traces and compiles
    run()           # warm
    untraced = [run() for _ in range(args.repeats)]
    device = jax.devices()[0]
    return run, {"device": str(device.device_kind), "platform": device.platform,
                 "first_run_s": first,
                 "step_ms": 1e3 * statistics.median(untraced) / args.steps}


def table(report) -> str:
    profile, summary = report["profile"], report["summary"]
    lines = [f"{report['model']} batch {report['batch']} {report['precision']} on "
             f"{profile['device']}: {summary['steps']} steps ({report['loop']}), device time "
             f"from {summary['source']} ({summary['events']} events)",
             f"step {profile['step_ms']:.2f} ms untraced, {profile['traced_step_ms']:.2f} ms "
             f"traced; device busy {summary['busy_ms_per_step']:.2f} ms "
             f"(idle {report['idle_share']:.1%} of the traced step)",
             f"model {report['tflop_per_step']:.3g} TFLOP/step: MFU {report['mfu']:.1%} of "
             f"{report['peak_tflops']:g} TFLOP/s (untraced wall), "
             f"{report['mfu_busy'] or 0:.1%} if never idle", "",
             f"{'category':<24}{'ms/step':>9}{'share':>8}"]
    if profile["platform"] != "cpu" and summary["source"] == "host XLA ops":
        lines.insert(1, "NO DEVICE EVENTS in the trace (CUPTI missing?): host-side times")
    lines += [f"{label:<24}{row['ms_per_step']:>9.3f}{row['share']:>8.1%}"
              for label, row in summary["categories"].items()]
    lines += ["", f"{'ms/step':>9}{'share':>8}{'count':>7}  {'category':<24}op"]
    lines += [f"{op['ms_per_step']:>9.3f}{op['share']:>8.1%}{op['count']:>7}  "
              f"{op['category']:<24}{op['name'][:90]}" for op in summary["top_ops"]]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="WRN-10-1, batch 2, float32, CPU")
    parser.add_argument("--model", default="wrn-28-10")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--precision", default="mixed_bfloat16",
                        choices=("float32", "mixed_bfloat16"))
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10, help="steps per run (traced: one run)")
    parser.add_argument("--repeats", type=int, default=3, help="untraced runs timed")
    parser.add_argument("--loop", choices=("jit_loop", "scan"), default="jit_loop")
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--top", type=int, default=15, help="ops listed")
    parser.add_argument("--trace-dir", default=None, help="default: a new temporary folder")
    parser.add_argument("--out", default=None, help="also write the JSON report here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.model, args.batch, args.precision, args.steps, args.repeats = (
            "wrn-10-1", 2, "float32", 3, 1)

    import jax
    import keras

    import keras_resnets

    if keras.backend.backend() != "jax":
        parser.error(f"needs KERAS_BACKEND=jax; got {keras.backend.backend()!r}")
    trace_dir = args.trace_dir or tempfile.mkdtemp(prefix="profile_gpu_")
    flops = args.batch * 3 * 2 * keras_resnets.count_macs(
        args.model, (args.size, args.size, 3), classes=args.classes)
    report = {key: getattr(args, key) for key in ("model", "batch", "precision", "size",
                                                  "classes", "steps", "loop", "peak_tflops")}
    report.update(smoke=args.smoke, trace_dir=str(trace_dir), tflop_per_step=flops / 1e12)

    def save():
        if args.out:
            write_text(args.out, json.dumps(report, indent=2) + "\n")

    run, report["profile"] = timed_steps(args)
    peak = args.peak_tflops * 1e12
    report["mfu"] = flops / (report["profile"]["step_ms"] / 1e3) / peak
    save()   # the timings, should the trace fail
    options = jax.profiler.ProfileOptions()
    options.python_tracer_level = 0   # Python's own calls: slower dispatch, a bigger trace
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True, profiler_options=options):
        report["profile"]["traced_step_ms"] = 1e3 * run() / args.steps
    report["summary"] = summary = summarize(load_trace(trace_dir), args.steps, args.top)
    busy_s = summary["busy_ms_per_step"] / 1e3
    report.update(mfu_busy=flops / busy_s / peak if busy_s else None,
                  idle_share=1 - summary["busy_ms_per_step"] / report["profile"]["traced_step_ms"])
    save()
    print(table(report))


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "jax")   # before Keras is imported
    main()

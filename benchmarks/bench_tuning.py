"""Budgeted search benchmarks.

1. Time to enumerate the feasible set of each family's default grid, grid and iso
   modes, at a few budgets (goal: under 100 ms, no model built). Each repetition
   starts from an empty count cache; the median is reported.
2. Over-budget models built during a search (goal: 0): a small search on the offline
   digits data with every ``keras_resnets.engine.build_model`` call recorded.

Writes ``benchmarks/results/tuning_enumeration.{md,json}`` and
``benchmarks/results/tuning_search.{md,json}``. Usage::

    python benchmarks/bench_tuning.py                 # both
    python benchmarks/bench_tuning.py --skip-search   # enumeration only (seconds)
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import load, write_results  # noqa: E402

from keras_resnets import engine, tuning  # noqa: E402

BUDGETS = {"wrn": ("800k", "1.5M", "10M", "36.5M"), "resnet": ("270k", "850k", "1.7M"),
           "resnext": ("800k", "1.5M", "34.5M"), "densenet-bc": ("800k", "1.5M", "15.3M")}
GOAL_MS = 100.0


class BuildRecorder:
    """Wraps ``engine.build_model``: trainable parameters of every model built."""

    def __init__(self):
        self.sizes = []
        self.original = engine.build_model

    def __enter__(self):
        def recording(spec, **kwargs):
            model = self.original(spec, **kwargs)
            self.sizes.append(int(sum(math.prod(w.shape) for w in model.trainable_weights)))
            return model

        engine.build_model = recording
        return self

    def __exit__(self, *exc):
        engine.build_model = self.original
        return False


def bench_enumeration(repeats):
    rows = []
    tuning.feasible_configs("wrn", "1.5M", mode="iso")  # imports, first-call costs
    with BuildRecorder() as builds:
        for family in tuning.FAMILIES:
            for mode in tuning.MODES:
                for budget in BUDGETS[family]:
                    times, cpu, count, error = [], [], 0, None
                    for _ in range(repeats):
                        start, start_cpu = time.perf_counter(), time.process_time()
                        try:
                            count = len(tuning.feasible_configs(family, budget, mode=mode))
                        except ValueError as exc:  # nothing feasible: the error path is timed
                            count, error = 0, str(exc)[:60]
                        times.append((time.perf_counter() - start) * 1000)
                        cpu.append((time.process_time() - start_cpu) * 1000)
                    rows.append({"family": family, "mode": mode, "budget": budget,
                                 "configs": count, "median_ms": statistics.median(times),
                                 "max_ms": max(times), "cpu_ms": statistics.median(cpu),
                                 "note": error or ""})
    return rows, len(builds.sizes)


def bench_search(oracle, max_trials, epochs):
    budget = 300_000  # wrn-10-1 (77,850), wrn-16-1 (175,066), wrn-22-1 (272,282)
    with tempfile.TemporaryDirectory() as directory, BuildRecorder() as builds:
        start = time.perf_counter()
        result = tuning.run_search(
            "wrn", budget, tolerance=0.9, depths=(10, 16, 22), widths=(1,), dataset="digits",
            oracle=oracle, max_trials=max_trials, epochs=epochs, directory=directory,
            recipe="fast", batch_size=32, train_samples=256, val_samples=128,
            jit_compile=False, verbose=0, seed=0, factor=2)
        seconds = time.perf_counter() - start
    low = math.ceil(0.1 * budget)
    return {"oracle": oracle, "trials": len(result.rows), "models_built": len(builds.sizes),
            "over_budget": sum(size > budget for size in builds.sizes),
            "under_band": sum(size < low for size in builds.sizes),
            "failed_trials": sum(r["status"] != "COMPLETED" for r in result.rows),
            "seconds": round(seconds, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--oracles", default="random,grid,bayesian,hyperband")
    parser.add_argument("--max-trials", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args(argv)

    before = load()
    rows, built = bench_enumeration(args.repeats)
    print(f"{'family':<12} {'mode':<5} {'budget':>7} {'configs':>7} {'median ms':>10} "
          f"{'max ms':>8} {'CPU ms':>7}")
    for r in rows:
        print(f"{r['family']:<12} {r['mode']:<5} {r['budget']:>7} {r['configs']:>7} "
              f"{r['median_ms']:>10.1f} {r['max_ms']:>8.1f} {r['cpu_ms']:>7.1f}"
              + ("  (nothing feasible: error path)" if r["note"] else ""))
    worst = max(r["median_ms"] for r in rows)
    load_now = load()[0]
    print(f"slowest median: {worst:.1f} ms wall, {max(r['cpu_ms'] for r in rows):.1f} ms CPU "
          f"(goal < {GOAL_MS:.0f} ms; load average {load_now:.1f} on {os.cpu_count()} CPUs); "
          f"models built while enumerating: {built} (goal 0)")
    for r in rows:
        r["median_ms"], r["max_ms"], r["cpu_ms"] = (round(r[k], 1) for k in
                                                    ("median_ms", "max_ms", "cpu_ms"))
    print(write_results(
        "tuning_enumeration", rows,
        ["family", "mode", "budget", "configs", "median_ms", "max_ms", "cpu_ms"],
        timed_call="tuning.feasible_configs(family, budget, mode=mode)", load_before=before,
        notes=f"Default grids (`feasible_configs(family, budget, mode=mode)`), median of "
        f"{args.repeats} runs from an empty count cache; `configs` = 0 times the error path "
        f"(nothing feasible). Goal: under {GOAL_MS:.0f} ms. Models built: {built}. Load "
        f"average during the run: {load_now:.1f}."))
    report = {"searches": []}

    if not args.skip_search:
        searches = [bench_search(o, args.max_trials, 2 if o == "hyperband" else args.epochs)
                    for o in args.oracles.split(",")]
        print(f"\n{'oracle':<10} {'trials':>6} {'built':>6} {'over budget':>11} "
              f"{'failed':>6} {'seconds':>8}")
        for s in searches:
            print(f"{s['oracle']:<10} {s['trials']:>6} {s['models_built']:>6} "
                  f"{s['over_budget']:>11} {s['failed_trials']:>6} {s['seconds']:>8}")
        print(f"over-budget models built: {sum(s['over_budget'] for s in searches)} (goal 0)")
        report["searches"] = searches
        print(write_results(
            "tuning_search", searches,
            ["oracle", "trials", "models_built", "over_budget", "under_band", "failed_trials",
             "seconds"],
            timed_call="tuning.run_search(...) (one budgeted search per oracle)",
            load_before=before,
            notes=f"WRN at a 300k budget, tolerance 0.9 (wrn-10-1, wrn-16-1, wrn-22-1), digits "
            f"(256 training, 128 validation images), max_trials {args.max_trials}, "
            f"{args.epochs} epoch(s) (Hyperband: max_epochs 2, factor 2). Every "
            f"`engine.build_model` call is recorded, including the best model's rebuild. "
            f"Goal: 0 over budget."))
    ok = worst < GOAL_MS and built == 0 and all(
        s["over_budget"] == 0 for s in report.get("searches", []))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

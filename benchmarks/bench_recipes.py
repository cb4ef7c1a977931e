"""The modern recipe (MixUp/CutMix, RandAugment, RandomErasing, EMA: Keras's layers and
optimizer) against the paper-style ``fast`` recipe, same model, epochs and batch, on the
offline digits set: held-out (test split) accuracy of ``best.keras`` and validation
accuracy, for several seeds. The recipes alternate (fast, modern, modern, fast, ...) so
that a change in the machine's load falls on both.

Not a test: an accuracy measurement (a few minutes on two cores).

    python benchmarks/bench_recipes.py --model wrn-10-1 --epochs 15 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import harness

RECIPES = ("fast", "modern")


def one_run(model, recipe, epochs, batch_size, seed, run_dir):
    from keras_resnets.training import train

    metrics = train(model, dataset="digits", recipe=recipe, epochs=epochs,
                    batch_size=batch_size, seed=seed, run_dir=run_dir, verbose=0).metrics
    return {"recipe": recipe, "seed": seed, "test_accuracy": round(metrics["test_accuracy"], 4),
            "best_val_accuracy": round(metrics["best_val_accuracy"], 4),
            "train_time_s": metrics["train_time_s"]}


def summary(rows, recipe):
    values = [r["test_accuracy"] for r in rows if r["recipe"] == recipe]
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"recipe": recipe, "seed": "mean of " + str(len(values)),
            "test_accuracy": f"{statistics.mean(values):.4f} ± {spread:.4f}",
            "best_val_accuracy": round(statistics.mean(
                r["best_val_accuracy"] for r in rows if r["recipe"] == recipe), 4),
            "train_time_s": round(statistics.mean(
                r["train_time_s"] for r in rows if r["recipe"] == recipe), 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="wrn-10-1")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    before = harness.load()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for i, seed in enumerate(args.seeds):
            for recipe in RECIPES if i % 2 == 0 else RECIPES[::-1]:
                rows.append(one_run(args.model, recipe, args.epochs, args.batch_size, seed,
                                    f"{scratch}/{recipe}-{seed}"))
                print(rows[-1], flush=True)
    rows += [summary(rows, recipe) for recipe in RECIPES]
    path = harness.write_results(
        "recipes_digits", rows,
        ["recipe", "seed", "test_accuracy", "best_val_accuracy", "train_time_s"],
        timed_call=f"train({args.model!r}, dataset='digits', recipe=RECIPE, "
                   f"epochs={args.epochs}, batch_size={args.batch_size}, seed=SEED)",
        load_before=before,
        notes="test_accuracy: best.keras (the epoch best on validation) on the 360 held-out "
              "test images, evaluated once per run; ± is the sample standard deviation over "
              "seeds. train_time_s: the epochs' wall time on this shared machine, not a "
              "speed measurement.")
    print(path.read_text())


if __name__ == "__main__":
    main()

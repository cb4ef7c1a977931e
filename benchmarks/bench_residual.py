"""Build time and CPU inference throughput of our ResNets against keras.applications.

Each pair is built and run alternately (ours, Keras, ours, Keras, ...) in one process,
and the table reports ratios Keras/ours of the median times (>= 1.0: ours is as fast).

    python benchmarks/bench_residual.py --rounds 3 --batch 8 --size 224
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved, write_results  # noqa: E402

PAIRS = ["ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--models", nargs="*", default=PAIRS)
    args = parser.parse_args(argv)

    import keras

    import keras_resnets

    shape = (args.size, args.size, 3)
    x = np.random.default_rng(0).uniform(-1, 1, (args.batch, *shape)).astype("float32")
    rows = []
    for name in args.models:
        builders = {"ours": getattr(keras_resnets, name),
                    "keras": getattr(keras.applications, name)}
        build = interleaved({k: (lambda b=b: b(weights=None, input_shape=shape))
                             for k, b in builders.items()}, args.rounds)
        models = {k: b(weights=None, input_shape=shape) for k, b in builders.items()}
        predictors = {}
        for key, model in models.items():
            model.predict(x, verbose=0)  # trace once
            predictors[key] = lambda m=model: m.predict(x, verbose=0)
        infer = interleaved(predictors, args.rounds)
        rows.append({
            "model": name,
            "build s (ours)": f"{build['ours']:.2f}",
            "build s (keras)": f"{build['keras']:.2f}",
            "build ratio": f"{build['keras'] / build['ours']:.2f}",
            "images/s (ours)": f"{args.batch / infer['ours']:.1f}",
            "images/s (keras)": f"{args.batch / infer['keras']:.1f}",
            "throughput ratio": f"{infer['keras'] / infer['ours']:.2f}",
        })
        print(rows[-1], flush=True)
        keras.backend.clear_session()
    columns = list(rows[0])
    path = write_results("residual_vs_keras", rows, columns,
                         f"batch {args.batch}, {args.size}x{args.size}, median of "
                         f"{args.rounds} interleaved rounds; ratio = keras time / our time.")
    print(path.read_text())


if __name__ == "__main__":
    main()

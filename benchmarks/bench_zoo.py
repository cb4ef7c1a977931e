"""CPU inference speed of the block-zoo networks against keras.applications, and DeepLabV3.

1. Throughput of MobileNetV2, Xception and InceptionV3 against the keras.applications
   models, in one run, as ratios Keras/ours of the median times (goal: >= 1.0). Both
   models of a pair get the same weights (their outputs are compared) and are timed
   alternately, so changes in the machine's load affect both alike.
2. Latency of DeepLabV3-ResNet50 (batch 1) at 512x512 for output strides 16 and 8.

Timings are medians of ``--rounds`` calls of the compiled predict step
(``predict_on_batch``) after one warm-up call; the pairs alternate which model goes
first (ABBA), and the ratio of the best times is reported too, being less sensitive to
other processes on a shared machine. Results go to ``results/zoo.{md,json}``.

    python benchmarks/bench_zoo.py                        # everything, default sizes
    python benchmarks/bench_zoo.py --models MobileNetV2 --batch 4 --rounds 5
    python benchmarks/bench_zoo.py --skip-classifiers --deeplab-size 256
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved, write_results  # noqa: E402

PAIRS = {"MobileNetV2": 224, "Xception": 299, "InceptionV3": 299}  # default input sizes


def abba(candidates: dict, rounds: int) -> dict:
    """Seconds per call of each callable, alternating the order every round:
    ``{name: (median, best)}``."""
    times = {name: [] for name in candidates}
    items = list(candidates.items())
    for r in range(rounds):
        for name, fn in items if r % 2 == 0 else reversed(items):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(v), min(v)) for name, v in times.items()}


def classifier_rows(names, batch, size, rounds):
    import keras

    import keras_resnets

    rows = []
    for name in names:
        side = size or PAIRS[name]
        shape = (side, side, 3)
        models = {"ours": getattr(keras_resnets, name)(weights=None, input_shape=shape),
                  "keras": getattr(keras.applications, name)(weights=None, input_shape=shape)}
        models["ours"].set_weights(models["keras"].get_weights())
        x = np.random.default_rng(0).uniform(-1, 1, (batch, *shape)).astype("float32")
        outputs = {k: m.predict_on_batch(x) for k, m in models.items()}  # compiles once
        infer = abba({k: (lambda m=m, x=x: m.predict_on_batch(x)) for k, m in models.items()},
                     rounds)
        (ours, ours_best), (ref, ref_best) = infer["ours"], infer["keras"]
        rows.append({
            "model": name, "input": side, "batch": batch,
            "images/s (ours)": f"{batch / ours:.1f}",
            "images/s (keras)": f"{batch / ref:.1f}",
            "throughput ratio": f"{ref / ours:.2f}",
            "best-time ratio": f"{ref_best / ours_best:.2f}",
            "max abs diff": f"{np.abs(outputs['ours'] - outputs['keras']).max():.1e}",
        })
        print(rows[-1], flush=True)
        keras.backend.clear_session()
    return rows


def deeplab_rows(output_strides, size, rounds):
    import keras

    import keras_resnets

    rows = []
    shape = (size, size, 3)
    x = np.random.default_rng(0).uniform(-1, 1, (1, *shape)).astype("float32")
    for output_stride in output_strides:
        model = keras_resnets.DeepLabV3("resnet50", output_stride=output_stride,
                                        input_shape=shape)
        model.predict_on_batch(x)
        latency = interleaved({"deeplab": lambda m=model: m.predict_on_batch(x)}, rounds)
        macs = keras_resnets.count_macs("deeplabv3-resnet50", shape, output_stride=output_stride)
        rows.append({"model": "DeepLabV3-ResNet50", "input": size,
                     "output stride": output_stride,
                     "latency ms": f"{1000 * latency['deeplab']:.0f}",
                     "GMACs": f"{macs / 1e9:.1f}"})
        print(rows[-1], flush=True)
        keras.backend.clear_session()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=None,
                        help="classifier input size (default: 224 MobileNetV2, 299 the others)")
    parser.add_argument("--deeplab-size", type=int, default=512)
    parser.add_argument("--output-strides", type=int, nargs="*", default=[16, 8])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-classifiers", action="store_true")
    parser.add_argument("--skip-deeplab", action="store_true")
    parser.add_argument("--name", default="zoo", help="results file name (results/<name>.md)")
    args = parser.parse_args(argv)

    rows = [] if args.skip_classifiers else classifier_rows(args.models, args.batch, args.size,
                                                            args.rounds)
    deeplab = [] if args.skip_deeplab else deeplab_rows(args.output_strides, args.deeplab_size,
                                                        args.rounds)
    columns = ["model", "input", "batch", "images/s (ours)", "images/s (keras)",
               "throughput ratio", "best-time ratio", "max abs diff", "output stride",
               "latency ms", "GMACs"]
    notes = ("Throughput ratio = Keras median time / ours (>= 1.0: ours is as fast); best-time "
             "ratio = the same with the fastest call of each. Both models share weights and "
             "have identical layer configurations, so ratios away from 1.0 measure the load of "
             "the machine. DeepLabV3 latency: batch 1, median of the rounds.")
    print(write_results(args.name, rows + deeplab, columns, notes).read_text())


if __name__ == "__main__":
    main()

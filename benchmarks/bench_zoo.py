"""CPU inference speed of the block-zoo networks against keras.applications, and DeepLabV3.

1. Throughput of MobileNetV2, Xception and InceptionV3 against the keras.applications
   models, in one run, as ratios Keras/ours of the median times (goal: >= 1.0). Both
   models of a pair get the same weights (their outputs are compared) and are timed
   alternately, so changes in the machine's load affect both alike.
2. Latency of DeepLabV3-ResNet50 (batch 1) at 512x512 for output strides 16 and 8.

Timings come from the harness: medians of ``--rounds`` ABBA-interleaved calls of
``predict_on_batch`` after two warm-up calls each, builds in alternating order, the
ratio keras / ours with its 95% bootstrap interval (parity when it holds 1.0). Results
go to ``results/zoo.{md,json}``.

    python benchmarks/bench_zoo.py                        # everything, default sizes
    python benchmarks/bench_zoo.py --models MobileNetV2 --batch 4 --rounds 5
    python benchmarks/bench_zoo.py --skip-classifiers --deeplab-size 256
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import abba, compare, load, ms, ratio_text, write_results  # noqa: E402

PAIRS = {"MobileNetV2": 224, "Xception": 299, "InceptionV3": 299}  # default input sizes


def classifier_rows(names, batch, size, rounds):
    import keras

    import keras_resnets

    rows = []
    for i, name in enumerate(names):
        side = size or PAIRS[name]
        shape = (side, side, 3)
        builders = {"ours": getattr(keras_resnets, name), "keras": getattr(keras.applications, name)}
        order = list(builders) if i % 2 == 0 else list(reversed(builders))  # alternate builds
        models = {k: builders[k](weights=None, input_shape=shape) for k in order}
        models["ours"].set_weights(models["keras"].get_weights())
        x = np.random.default_rng(0).uniform(-1, 1, (batch, *shape)).astype("float32")
        outputs = {k: m.predict_on_batch(x) for k, m in models.items()}
        infer = abba({k: (lambda m=m, x=x: m.predict_on_batch(x)) for k, m in models.items()},
                     rounds, warmup=2)
        rows.append({
            "model": name, "input": side, "batch": batch,
            "ms (ours)": ms(infer["ours"]), "ms (keras)": ms(infer["keras"]),
            "keras / ours [95% CI]": ratio_text(compare(infer["keras"], infer["ours"])),
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
        latency = abba({"deeplab": lambda m=model: m.predict_on_batch(x)}, rounds, warmup=2)
        macs = keras_resnets.count_macs("deeplabv3-resnet50", shape, output_stride=output_stride)
        rows.append({"model": "DeepLabV3-ResNet50", "input": size,
                     "output stride": output_stride,
                     "latency ms": ms(latency["deeplab"]),
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

    before = load()
    rows = [] if args.skip_classifiers else classifier_rows(args.models, args.batch, args.size,
                                                            args.rounds)
    deeplab = [] if args.skip_deeplab else deeplab_rows(args.output_strides, args.deeplab_size,
                                                        args.rounds)
    columns = ["model", "input", "batch", "ms (ours)", "ms (keras)", "keras / ours [95% CI]",
               "max abs diff", "output stride", "latency ms", "GMACs"]
    notes = (f"Median of {args.rounds} ABBA rounds after 2 warm-up calls each. Ratio = keras "
             "time / our time with its 95% bootstrap interval; both models share weights and "
             "have identical layer configurations, so anything but parity is timing noise. "
             "DeepLabV3 latency: batch 1.")
    print(write_results(args.name, rows + deeplab, columns, timed_call="model.predict_on_batch(x)",
                        load_before=before, notes=notes).read_text())


if __name__ == "__main__":
    main()

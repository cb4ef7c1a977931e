"""Build time and CPU inference time of our ResNets against keras.applications.

Both sides go through the harness: builds ABBA-interleaved (neither always builds
first), the two models given the same weights, the same warm-up, then
``predict_on_batch`` ABBA-interleaved. Ratios are keras time / our time with a 95%
bootstrap interval; an interval holding 1.0 is parity.

    python benchmarks/bench_residual.py --repeats 6 --batch 8 --size 224
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import abba, compare, load, ms, ratio_text, write_results  # noqa: E402

PAIRS = ["ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--build-repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--models", nargs="*", default=PAIRS)
    args = parser.parse_args(argv)

    import keras

    import keras_resnets

    before = load()
    shape = (args.size, args.size, 3)
    x = np.random.default_rng(0).uniform(-1, 1, (args.batch, *shape)).astype("float32")
    rows = []
    for name in args.models:
        builders = {"ours": getattr(keras_resnets, name),
                    "keras": getattr(keras.applications, name)}
        models = {}
        builds = abba({k: (lambda k=k, b=b, m=models: m.update({k: b(weights=None, input_shape=shape)}))
                       for k, b in builders.items()}, args.build_repeats, warmup=0)
        models["ours"].set_weights(models["keras"].get_weights())
        infer = abba({k: (lambda m=m: m.predict_on_batch(x)) for k, m in models.items()},
                     args.repeats, warmup=2)
        rows.append({
            "model": name,
            "build ms (ours)": ms(builds["ours"]),
            "build ms (keras)": ms(builds["keras"]),
            "build keras / ours": ratio_text(compare(builds["keras"], builds["ours"])),
            "ms (ours)": ms(infer["ours"]), "ms (keras)": ms(infer["keras"]),
            "inference keras / ours [95% CI]": ratio_text(compare(infer["keras"],
                                                                  infer["ours"])),
        })
        print(rows[-1], flush=True)
        models.clear()
        keras.backend.clear_session()
    path = write_results(
        "residual_vs_keras", rows, list(rows[0]), load_before=before,
        timed_call="model.predict_on_batch(x)",
        notes=f"Batch {args.batch}, {args.size}x{args.size}, same weights on both sides. "
              f"Builds: median of {args.build_repeats} ABBA-interleaved builds per side "
              "inference: 2 untimed calls each, then the median of "
              f"{args.repeats} ABBA-interleaved calls. Ratio = keras time / our time with its "
              "95% bootstrap interval; parity when the interval holds 1.0.")
    print(path.read_text())


if __name__ == "__main__":
    main()

"""Cost of ``SubsampledConv2D`` (docs/onednn-crash.md) on the CPU (not a test).

Each model is timed with all its strided 1x1 convolutions as ``SubsampledConv2D``
("ours") against its copy with plain ``keras.layers.Conv2D`` there (same config, same
weights), whatever the channels (the models use SubsampledConv2D only below 16),
ABBA-interleaved by the harness: a training step (``train_on_batch``) at an even batch,
where the plain layer does not crash, and inference (``predict_on_batch``). The ratio is plain / ours (above 1: ours is
faster). Times are the process's CPU seconds, which other jobs on a shared machine
disturb less than wall time. Results: ``benchmarks/results/subsampled_conv.{md,json}``.

Usage::

    python benchmarks/bench_subsampled_conv.py --rounds 8
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import abba, compare, load, ms, ratio_text, write_results  # noqa: E402

CASES = (("wrn-16-0.9", (32, 32, 3), 64), ("wrn-16-2", (32, 32, 3), 64),
         ("resnet50", (224, 224, 3), 4))


def _with_strided_pointwise(model, conv_class):
    """A copy of ``model`` (same weights) whose strided 1x1 convolutions are
    ``conv_class`` (``keras.layers.Conv2D`` or ``SubsampledConv2D``) of the same config."""
    import keras

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.Conv2D) and tuple(layer.kernel_size) == (1, 1) \
                and tuple(layer.strides) != (1, 1):
            return conv_class.from_config(config)
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def _sides(ours, plain, images, labels=None):
    """The two timed calls: a training step with ``labels``, else inference."""
    if labels is None:
        return {"ours": lambda: ours.predict_on_batch(images),
                "plain": lambda: plain.predict_on_batch(images)}
    return {"ours": lambda: ours.train_on_batch(images, labels),
            "plain": lambda: plain.train_on_batch(images, labels)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    import keras
    import numpy as np

    from keras_resnets import create_model
    from keras_resnets.layers import SubsampledConv2D

    before, rows = load(), []
    for name, shape, batch in CASES:
        built = create_model(name, input_shape=shape)
        ours = _with_strided_pointwise(built, SubsampledConv2D)
        plain = _with_strided_pointwise(built, keras.layers.Conv2D)
        rng = np.random.default_rng(0)
        images = rng.normal(size=(batch, *shape)).astype("float32")
        labels = rng.integers(0, 10 if shape[0] == 32 else 1000, batch)
        for model in (ours, plain):
            model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
        err = np.abs(ours.predict_on_batch(images) - plain.predict_on_batch(images)).max()
        for part, sides in (("training step", _sides(ours, plain, images, labels)),
                            ("inference", _sides(ours, plain, images))):
            times = abba(sides, repeats=args.rounds, warmup=2, clock=time.process_time)
            rows.append({"model": name, "batch": batch, "part": part,
                         "plain ms": ms(times["plain"]), "ours ms": ms(times["ours"]),
                         "plain / ours": ratio_text(compare(times["plain"], times["ours"])),
                         "max abs output diff": f"{err:.1e}"})
            print(rows[-1], flush=True)
    path = write_results(
        "subsampled_conv", rows,
        ["model", "batch", "part", "plain ms", "ours ms", "plain / ours", "max abs output diff"],
        timed_call="model.train_on_batch(x, y) / model.predict_on_batch(x), process CPU "
                   "seconds (all threads), ABBA, "
                   f"{args.rounds} rounds after 2 warm-up calls each", load_before=before,
        notes="ours: strided 1x1 convolutions as SubsampledConv2D (subsample, then a "
              "stride-1 1x1 convolution); plain: the same model with keras.layers.Conv2D "
              "there. The ratio is plain / ours with a 95% bootstrap interval.")
    print(path)


if __name__ == "__main__":
    main()

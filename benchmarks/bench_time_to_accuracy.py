"""Time to accuracy on the offline digits set: wall seconds from the start of training
until the validation accuracy first reaches ``--target`` (98.5% by default), with
``keras_resnets.accelerator.train_on_arrays`` (``model.fit`` on the arrays, a whole
epoch per host dispatch), on whatever device the Keras backend uses. The seconds include
compilation (what a user waits for); the images per second leave the first epoch out.
One run, not an A/B pair: set the GPU's figure beside the same command on this CPU.

Without TensorFlow (the GPU machine) the digits come from ``--digits-file``, written
beforehand where TensorFlow is by ``save_digits_splits``. Prints one JSON object.

    KERAS_BACKEND=jax python benchmarks/bench_time_to_accuracy.py --out tta.json
    KERAS_BACKEND=jax python benchmarks/bench_time_to_accuracy.py --smoke
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import load, machine  # noqa: E402

from keras_resnets._io import write_text  # noqa: E402  temp file, then rename


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="wrn-16-4")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=40, help="at most; stops at --target")
    parser.add_argument("--target", type=float, default=0.985)
    parser.add_argument("--precision", default="auto",
                        help="auto: mixed_bfloat16 on a GPU, float32 otherwise")
    parser.add_argument("--digits-file", default="digits.npz")
    parser.add_argument("--smoke", action="store_true", help="WRN-10-1, 2 epochs, seconds")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.model, args.epochs, args.batch = "wrn-10-1", 2, 64

    import numpy as np

    from keras_resnets.accelerator import digits_splits, environment, train_on_arrays

    env = environment(args.smoke)
    precision = args.precision
    if precision == "auto":
        precision = "mixed_bfloat16" if env["gpus"] else "float32"
    before = load()
    splits = digits_splits(args.digits_file)
    run = train_on_arrays(args.model, splits, epochs=args.epochs, batch_size=args.batch,
                          precision=precision, jit_compile=True,
                          target_accuracy=args.target, verbose=0)
    x_test, y_test = splits["test"]
    predicted = np.argmax(run.model.predict(x_test.astype("float32"), verbose=0), -1)
    report = {"machine": machine(), "device": env["device"], "smoke": args.smoke,
              "model": args.model, "batch": args.batch, "precision": precision,
              "target_val_accuracy": args.target, **run.metrics,
              "test_accuracy": float(np.mean(predicted == y_test)),
              "load_before": before, "load_after": load(),
              "command": "python benchmarks/bench_time_to_accuracy.py " + " ".join(
                  sys.argv[1:] if argv is None else argv)}
    text = json.dumps(report, indent=2, default=float)
    if args.out:
        write_text(args.out, text + "\n")
    print(text)


if __name__ == "__main__":
    main()

"""``keras-resnets demo``: train, export and verify a small Wide ResNet on the CPU.

The model trains on the offline ``digits`` set with the ``fast`` recipe; the demo
reports its accuracy on the 360 held-out images and exports a TFLite file that takes
raw uint8 pixels, checked in LiteRT on those images.

Example::

    keras-resnets demo                          # WRN-10-2, 12 epochs, a few minutes
    keras-resnets demo --epochs 2 --no-export
"""

from __future__ import annotations

import dataclasses
import os
import time

from keras_resnets import data as data_lib
from keras_resnets._io import write_json
from keras_resnets.export import Preprocessing, export_tflite
from keras_resnets.training import train

DEMO_MODEL = "wrn-10-2"
DEMO_EPOCHS = 12
DEMO_BATCH_SIZE = 64
DEMO_RUN_DIR = os.path.join("runs", "demo")


def register(subparsers):
    parser = subparsers.add_parser("demo", help="train a small Wide ResNet on the offline "
                                   "digits set on the CPU, report accuracy, export TFLite")
    parser.add_argument("--model", default=DEMO_MODEL, help=f"default: {DEMO_MODEL}")
    parser.add_argument("--epochs", type=int, default=DEMO_EPOCHS)
    parser.add_argument("--batch-size", type=int, default=DEMO_BATCH_SIZE)
    parser.add_argument("--run-dir", default=DEMO_RUN_DIR)
    parser.add_argument("--no-export", dest="export", action="store_false",
                        help="skip the TFLite export")
    parser.set_defaults(func=demo_command)


def demo_command(args):
    demo(model=args.model, epochs=args.epochs, batch_size=args.batch_size,
         run_dir=args.run_dir, export=args.export)
    return 0


def demo(*, model=DEMO_MODEL, epochs=DEMO_EPOCHS, batch_size=DEMO_BATCH_SIZE,
         run_dir=DEMO_RUN_DIR, export=True, verbose="auto") -> dict:
    """Train ``model`` on ``digits`` (CPU, a few minutes), report its accuracy on the 360
    held-out images and, with ``export``, export a TFLite file that takes raw pixels and
    check it in LiteRT. Returns the summary also written to ``run_dir/demo.json``.

    Example: ``demo(epochs=2, export=False)``.
    """
    start = time.perf_counter()
    result = train(model, dataset=data_lib.DIGITS, recipe="fast", epochs=epochs,
                   batch_size=batch_size, run_dir=run_dir, overwrite=True, verbose=verbose)
    summary = {"model": model, "epochs": epochs, "batch_size": batch_size,
               "held_out_images": data_lib.DIGITS_TEST_SIZE,
               "held_out_accuracy": result.metrics["test_accuracy"],
               "train_time_s": result.metrics["train_time_s"],
               "tflite": _export_and_verify(result.model, run_dir) if export else None}
    summary["wall_time_s"] = round(time.perf_counter() - start, 1)
    write_json(os.path.join(run_dir, "demo.json"), summary)
    errors = round((1 - summary["held_out_accuracy"]) * data_lib.DIGITS_TEST_SIZE)
    print(f"\ndemo: {model}, {epochs} epochs on digits: held-out accuracy "
          f"{100 * summary['held_out_accuracy']:.2f}% ({errors} of "
          f"{data_lib.DIGITS_TEST_SIZE} wrong), {summary['wall_time_s']:.0f} s in all; "
          f"curves in {os.path.join(run_dir, 'curves.png')}")
    return summary


def _export_and_verify(model, run_dir):
    """``run_dir/model.tflite`` with the digits normalization folded in, checked in
    LiteRT on the held-out images; returns its report as a dict."""
    info = data_lib.dataset_info(data_lib.DIGITS)
    images, _ = data_lib.load_digits_arrays("test")
    report = export_tflite(model, os.path.join(run_dir, "model.tflite"),
                           include_preprocessing=Preprocessing(mean=info.mean, std=info.std),
                           verify_samples=images)
    print(f"\nTFLite (raw uint8 pixels in, checked in LiteRT on the {len(images)} held-out "
          f"images):\n{report}")
    return dataclasses.asdict(report)

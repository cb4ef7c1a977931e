"""TFLite export benchmark: latency and size of Keras vs LiteRT float32 / float16 / int8
at batch 1 on the CPU, and int8 accuracy on the held-out digits after a short training.

Latency: every repetition times each variant once, in turn (interleaved, so load changes on
a shared machine hit all variants alike); the table gives medians. Keras runs the model in a
``tf.function`` (graph mode, its fastest path without XLA); LiteRT runs with XNNPACK and
the same number of threads as TensorFlow may use. Writes ``results/export_latency.{json,md}``
and ``results/export_accuracy.{json,md}`` (each only when that part ran).

Example::

    python benchmarks/bench_export.py                          # every family, ~45 min
    python benchmarks/bench_export.py --models resnet20@32 --accuracy-models resnet20 \\
        --epochs 2 --repeats 10                                 # a quick look
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import keras_resnets
from keras_resnets import data, export, training

# One model per registered family, at a size a 2-core CPU measures in minutes (the
# pre-activation family's registered 164 and 1001 layers take the converter many minutes).
MODELS = ("resnet20@32", "preact-resnet29@32", "wrn-16-4@32", "resnext29-8x64d@32",
          "densenet-bc-100-12@32", "cliquenet-12-36@32", "mobilenetv2-1.0@224",
          "xception@160", "inceptionv3@160", "deeplabv3-resnet50@128")
# MobileNetV2-0.35 at 32x32 stayed at chance (10%) after 6 epochs of the fast recipe on
# digits, so it is not here: its int8 numbers would say nothing.
ACCURACY_MODELS = ("resnet20", "wrn-10-2", "densenet-bc-40-12")
VARIANTS = ("keras", "float32", "float16", "int8")


def machine(threads):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as file:
            cpu = next(line.split(":", 1)[1].strip() for line in file if "model name" in line)
    except (OSError, StopIteration):
        pass
    from importlib.metadata import version

    return {"cpu": cpu, "logical_cores": os.cpu_count(), "threads": threads,
            "load_average_start": os.getloadavg(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "ai_edge_litert": version("ai-edge-litert"), "platform": platform.platform()}


def build(entry):
    name, _, size = entry.partition("@")
    side = int(size) if size else None
    kwargs = {"input_shape": (side, side, 3)} if side else {}
    return name, keras_resnets.create_model(name, **kwargs)


def tflite_runner(path, threads):
    interpreter = Interpreter(model_path=path, num_threads=threads)
    runner = interpreter.get_signature_runner()
    (name,) = runner.get_input_details()
    return lambda x: runner(**{name: x})


def latency_and_size(entry, repeats, threads, workdir):
    name, model = build(entry)
    shape = tuple(model.inputs[0].shape[1:])
    rng = np.random.default_rng(0)
    calibration = rng.uniform(0, 1, (16, *shape)).astype("float32")
    keras_path = os.path.join(workdir, "model.keras")
    model.save(keras_path)
    row = {"model": name, "input": "x".join(map(str, shape)), "params": model.count_params(),
           "size_bytes": {"keras": os.path.getsize(keras_path)}, "max_abs_error": {}}
    calls = {}
    graph = tf.function(lambda x: model(x, training=False))
    calls["keras"] = lambda x: graph(x)
    for variant in VARIANTS[1:]:
        quantization = None if variant == "float32" else variant
        started = time.perf_counter()
        report = export.export_tflite(
            model, os.path.join(workdir, f"{variant}.tflite"), quantization,
            representative_data=calibration if variant == "int8" else None,
            verify_samples=calibration[:4], max_error=1.0)  # record the error, do not refuse
        print(f"  {variant}: converted and verified in {time.perf_counter() - started:.0f} s")
        row["size_bytes"][variant] = report.file_size_bytes
        row["max_abs_error"][variant] = report.max_abs_error
        calls[variant] = tflite_runner(report.path, threads)
    x = calibration[:1]
    for call in calls.values():  # warm-up
        for _ in range(3):
            call(x)
    timings = {variant: [] for variant in calls}
    for _ in range(repeats):
        for variant, call in calls.items():
            started = time.perf_counter()
            result = call(x)
            if variant == "keras":
                result.numpy()
            timings[variant].append(1000 * (time.perf_counter() - started))
    row["latency_ms"] = {v: statistics.median(t) for v, t in timings.items()}
    return row


def digits_accuracy(name, epochs, workdir):
    """Train ``name`` briefly on digits; accuracy of Keras, TFLite float32 and int8 (files
    take raw uint8 pixels, normalization folded in) on the 360 held-out images."""
    result = training.train(name, dataset="digits", recipe="fast", epochs=epochs,
                            run_dir=os.path.join(workdir, f"run-{name}"), overwrite=True,
                            verbose=0)
    model = result.model
    info = data.dataset_info("digits")
    pre = export.Preprocessing(mean=info.mean, std=info.std)
    x_train, _ = data.load_digits_arrays("train")
    x_test, y_test = data.load_digits_arrays("test")
    row = {"model": name, "epochs": epochs, "test_images": len(y_test),
           "train_time_s": result.metrics.get("train_time_s")}
    keras_pred = np.argmax(model.predict(pre(x_test), verbose=0, batch_size=120), -1)
    row["accuracy"] = {"keras": float(np.mean(keras_pred == y_test))}
    for variant in ("float32", "int8"):
        report = export.export_tflite(
            model, os.path.join(workdir, f"{name}-{variant}.tflite"),
            None if variant == "float32" else "int8", include_preprocessing=pre,
            representative_data=x_train[:200] if variant == "int8" else None,
            verify_samples=x_test)
        run = tflite_runner(report.path, None)
        pred = np.array([np.argmax(run(image[None])["output_0"]) for image in x_test])
        row["accuracy"][variant] = float(np.mean(pred == y_test))
        row[f"{variant}_top1_agreement"] = report.top1_agreement
    return row


def write(path, text):
    """Write ``text`` to a temporary file beside ``path``, then rename it onto ``path``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd, staging = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.replace(staging, path)


def header(results, what):
    env = results["machine"]
    return (f"Measured {results['date']} on {env['cpu']} ({env['logical_cores']} logical cores, "
            f"{env['threads']} threads for TensorFlow and LiteRT; load average "
            f"{env['load_average_start'][0]:.1f} at start, {env['load_average_end'][0]:.1f} at "
            f"end, a machine shared with other jobs), TensorFlow {env['tensorflow']}, Keras "
            f"{env['keras']}, ai-edge-litert {env['ai_edge_litert']}. {what}")


def latency_markdown(results):
    lines = [header(results, f"Batch 1, median of {results['repeats']} interleaved repetitions; "
                             "random weights."), "",
             "| model | input | params | Keras ms | f32 ms | f16 ms | int8 ms | "
             "int8 speed-up vs Keras | Keras MB | f32 MB | f16 MB | int8 MB | f32/int8 size | "
             "f32 max abs error |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in results["latency"]:
        lat, size = row["latency_ms"], row["size_bytes"]
        lines.append(
            f"| {row['model']} | {row['input']} | {row['params'] / 1e6:.2f} M | "
            + " | ".join(f"{lat[v]:.2f}" for v in VARIANTS)
            + f" | {lat['keras'] / lat['int8']:.1f}x | "
            + " | ".join(f"{size[v] / 1e6:.2f}" for v in ("keras", "float32", "float16", "int8"))
            + f" | {size['float32'] / size['int8']:.2f}x | {row['max_abs_error']['float32']:.1e} |")
    return "\n".join(lines) + "\n"


def accuracy_markdown(results):
    rows = results["accuracy"]
    lines = [header(results, f"Held-out digits ({rows[0]['test_images']} images) after "
                             "training with the `fast` recipe; the TFLite files take raw uint8 "
                             "pixels (normalization folded in), int8 calibrated on 200 training "
                             "images."), "",
             "| model | epochs | Keras | TFLite f32 | TFLite int8 | int8 - f32 (points) | "
             "int8 top-1 agreement |", "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        acc = row["accuracy"]
        lines.append(f"| {row['model']} | {row['epochs']} | {100 * acc['keras']:.2f}% | "
                     f"{100 * acc['float32']:.2f}% | {100 * acc['int8']:.2f}% | "
                     f"{100 * (acc['int8'] - acc['float32']):+.2f} | "
                     f"{100 * row['int8_top1_agreement']:.1f}% |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS),
                        help="name@side entries, e.g. resnet20@32,mobilenetv2-1.0@224")
    parser.add_argument("--accuracy-models", default=",".join(ACCURACY_MODELS))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args(argv)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    results = {"date": datetime.date.today().isoformat(), "machine": machine(args.threads),
               "repeats": args.repeats, "latency": [], "accuracy": []}

    def save(part, render):  # after every model: a long run that breaks keeps what it measured
        results["machine"]["load_average_end"] = os.getloadavg()
        written = {k: v for k, v in results.items() if k not in ("latency", "accuracy")}
        written[part] = results[part]
        write(os.path.join(args.out, f"export_{part}.json"), json.dumps(written, indent=2))
        write(os.path.join(args.out, f"export_{part}.md"), render(results))
        return render(results)

    with tempfile.TemporaryDirectory() as workdir:
        for entry in filter(None, args.models.split(",")):
            print(f"{entry}: latency and size", flush=True)
            results["latency"].append(latency_and_size(entry, args.repeats, args.threads, workdir))
            table = save("latency", latency_markdown)
        if results["latency"]:
            print(table)
        for name in filter(None, args.accuracy_models.split(",")):
            print(f"{name}: training on digits for {args.epochs} epochs", flush=True)
            results["accuracy"].append(digits_accuracy(name, args.epochs, workdir))
            table = save("accuracy", accuracy_markdown)
        if results["accuracy"]:
            print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

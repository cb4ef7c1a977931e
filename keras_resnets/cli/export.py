"""``keras-resnets export``: a SavedModel or a verified TFLite file.

SOURCE is a run directory (``best.keras``, else ``last.keras``), a search directory
(``best_model.keras``), a ``.keras`` file, or a registry name (random weights: for
sizes and latency). A trained model carries its input normalization, so the file
takes raw pixels (uint8 with ``--raw-pixels``); for a model without it, ``--mean`` and
``--std`` supply it. When the dataset is known (the run's or search's, or
``--calibration``) the report adds Keras's and the file's accuracy on held-out images.

Example::

    keras-resnets export runs/demo --raw-pixels --out demo.tflite
    keras-resnets export runs/tune --quantize int8 --out wrn-int8.tflite
    keras-resnets export resnet18 --input-shape 64,64,3 --quantize float16
    keras-resnets export model.keras --format saved_model --out model_saved
"""

from __future__ import annotations

import dataclasses
import os

from keras_resnets.cli import command_parser, native_noise_filtered

FORMATS = ("saved_model", "tflite")
QUANTIZE = ("none", "float16", "dynamic", "int8")
CALIBRATION = ("digits", "cifar10", "random")
HELD_OUT_SAMPLES = 1000
MODEL_FILES = ("best.keras", "last.keras", "best_model.keras")


def add_parser(subparsers, name, summary):
    parser = command_parser(
        subparsers, name, summary,
        "Export a run, a .keras file or a registry model; TFLite files are verified in "
        "LiteRT and their size, error and latency printed. Every option is checked before "
        "the model is loaded or built.",
        ["keras-resnets export runs/resnet20 --quantize int8 --calibration digits "
         "--out r20.tflite",
         "keras-resnets export resnet18 --input-shape 64,64,3 --quantize float16",
         "keras-resnets export model.keras --format saved_model --out model_saved"])
    parser.add_argument("source", help="run directory, search directory (keras-resnets "
                        "tune --dir), .keras file, or registry name (resnet20)")
    parser.add_argument("--format", choices=FORMATS, default="tflite",
                        help="a TFLite file or a SavedModel directory")
    parser.add_argument("--quantize", choices=QUANTIZE, default="none",
                        help="TFLite quantization; int8 calibrates on the source's dataset "
                             "or --calibration")
    parser.add_argument("--calibration", choices=CALIBRATION, default=None,
                        help="representative data for int8 and held-out images for the "
                             "accuracy check (default: the run's or search's dataset)")
    parser.add_argument("--calibration-samples", type=int, default=100, metavar="N",
                        help="images drawn from --calibration")
    parser.add_argument("--out", default=None,
                        help="output path: a .tflite file, or a directory for --format "
                             "saved_model (default: named after SOURCE)")
    parser.add_argument("--input-shape", default=None, metavar="H,W,C",
                        help="fixed input shape of the file, e.g. 32,32,3 (default: the "
                             "model's)")
    parser.add_argument("--batch-size", type=int, default=1, help="batch size of the file")
    parser.add_argument("--int8-io", choices=("none", "int8", "uint8"), default="none",
                        help="integer input/output tensors (with --quantize int8)")
    parser.add_argument("--raw-pixels", action="store_true",
                        help="the file takes uint8 pixels (default: float32 pixels, 0-255)")
    parser.add_argument("--scale", type=float, default=1 / 255,
                        help="pixel scale of --mean and --std (default: 1/255)")
    parser.add_argument("--mean", default=None, metavar="M[,M,M]",
                        help="normalization mean, for a model that does not carry its own "
                             "(default: none)")
    parser.add_argument("--std", default=None, metavar="S[,S,S]",
                        help="normalization std, for a model that does not carry its own "
                             "(default: none)")
    parser.add_argument("--no-verify", action="store_true", help="skip the LiteRT check")
    parser.set_defaults(func=export_command)


def check_arguments(args):
    """Every error of the options alone, before any model is loaded or built; returns
    ``(input_shape, mean, std)`` parsed (``None`` where not given)."""
    input_shape = _floats(args.input_shape, "--input-shape", int) if args.input_shape else None
    mean = _floats(args.mean, "--mean") if args.mean else None
    std = _floats(args.std, "--std") if args.std else None
    if args.format == "saved_model":
        if args.quantize != "none" or args.raw_pixels or args.int8_io != "none":
            raise ValueError("--quantize, --int8-io and --raw-pixels apply to --format tflite "
                             "only; drop them, or use --format tflite")
        if args.out and args.out.endswith((".tflite", ".keras", ".onnx")):
            raise ValueError(f"--out is a directory for --format saved_model; got {args.out!r} "
                             "(e.g. --out model_saved)")
    else:
        if args.out and not args.out.endswith(".tflite"):
            raise ValueError(f"--out must end with .tflite for --format tflite; got "
                             f"{args.out!r} (e.g. --out model.tflite; --format saved_model "
                             "writes a SavedModel directory)")
        if (args.quantize == "int8" and args.calibration is None
                and source_dataset(args.source) is None):
            raise ValueError(f"--quantize int8 needs --calibration digits, cifar10 or "
                             f"random: {args.source!r} names no dataset to calibrate on")
        if args.int8_io != "none" and args.quantize != "int8":
            raise ValueError(f"--int8-io {args.int8_io} needs --quantize int8; got --quantize "
                             f"{args.quantize}")
    for flag, value in (("--calibration-samples", args.calibration_samples),
                        ("--batch-size", args.batch_size)):
        if value < 1:
            raise ValueError(f"{flag} must be a positive integer (e.g. 1, 100); got {value}")
    if (mean is None) != (std is None):
        raise ValueError("--mean and --std go together (e.g. --mean 0.49,0.48,0.45 --std "
                         "0.25,0.24,0.26); pass both or neither")
    if args.scale <= 0 or any(v <= 0 for v in std or ()):
        raise ValueError(f"--scale and --std must be > 0 (e.g. --scale 0.00392 --std "
                         f"0.247,0.243,0.261); got {args.scale} and {args.std}")
    return input_shape, mean, std


def export_command(args):
    from keras_resnets import export
    from keras_resnets.normalization import input_normalization

    input_shape, mean, std = check_arguments(args)
    model = load_source(args.source, input_shape)
    weights = "" if os.path.exists(args.source) else \
        f"weights         random ({args.source!r} is a registry name)\n"
    model, normalization = _with_normalization(model, args, mean, std)
    if args.format == "saved_model":
        out = args.out or f"{_stem(args.source)}_saved_model"
        export.export_saved_model(model, out, input_shape=input_shape)
        size = sum(os.path.getsize(os.path.join(root, name))
                   for root, _, names in os.walk(out) for name in names)
        print(f"{weights}{normalization}\nSavedModel      {out} (signature 'serve')\n"
              f"size            {size / 1024:,.1f} KiB")
        return 0
    quantization = None if args.quantize == "none" else args.quantize
    shape = tuple(input_shape or model.inputs[0].shape[1:])
    if None in shape:
        raise ValueError(f"the model's input shape {shape} has unknown dimensions; pass "
                         "--input-shape H,W,C (e.g. 32,32,3)")
    dataset = args.calibration or source_dataset(args.source)
    takes_pixels = input_normalization(model) is not None
    calibration = held_out = None
    if dataset:
        calibration = _as_model_inputs(calibration_pixels(
            dataset, args.calibration_samples, shape), takes_pixels)
        held_out = _held_out(dataset, shape, takes_pixels)
    suffix = "" if quantization is None else f"-{quantization}"
    out = args.out or f"{_stem(args.source)}{suffix}.tflite"
    with native_noise_filtered(not args.verbose):
        report = export.export_tflite(
            model, out, quantization, representative_data=calibration, input_shape=shape,
            batch_size=args.batch_size, include_preprocessing=args.raw_pixels,
            int8_io=False if args.int8_io == "none" else args.int8_io,
            verify=not args.no_verify, verify_samples=None if held_out is None else held_out[0],
            verify_labels=None if held_out is None else held_out[1])
    print(f"{weights}{normalization}")
    print(report)
    searched = _searched_latency(args.source)
    if searched:
        print(_latency_comparison(searched, out, args))
    return 0


def _searched_latency(source):
    """The best trial's latency as a latency-budgeted search measured it (its best.json),
    else None."""
    from keras_resnets._io import read_json

    if not os.path.isdir(source):
        return None
    best = read_json(os.path.join(source, "best.json"), None,
                     remedy="rerun the search to write it again") or {}
    return best.get("latency")


def _latency_comparison(searched, path, args):
    """This file's batch-1 latency, timed as the search timed its candidates, next to the
    search's figure."""
    from keras_resnets.tuning.latency import Latency, time_tflite

    threads = searched["latency_threads"]
    setting = f"{searched['latency_quantization']}, {threads} thread{'s' * (threads > 1)}"
    search = Latency(searched["median_ms"], searched["low_ms"], searched["high_ms"],
                     searched["runs"])
    line = f"latency (search) {search.text()} per image ({setting}, LiteRT, batch 1)"
    if args.batch_size != 1:
        return line + f"; this file has batch {args.batch_size}, not timed alike"
    this = time_tflite(path, threads=threads, repeats=searched["runs"])
    note = "" if args.quantize == searched["latency_quantization"] else \
        f"; this file is --quantize {args.quantize}, the search measured " \
        f"{searched['latency_quantization']}"
    return (f"{line}\nlatency (file)   {this.text()} per image, timed alike{note}")


def _with_normalization(model, args, mean, std):
    """The model to export, taking raw pixels wherever its normalization is known, and a
    line that says what the file's input is."""
    from keras_resnets.normalization import input_normalization, with_input_normalization

    carried = input_normalization(model)
    if carried is not None and mean is not None:
        raise ValueError(f"{args.source!r} carries its input normalization (mean "
                         f"{carried[0]}, std {carried[1]}); drop --mean and --std")
    if carried is None and mean is not None:
        unit = 255.0 * args.scale  # --mean/--std apply to x * scale; the layer to x / 255
        model = with_input_normalization(model, [m / unit for m in mean],
                                         [s / unit for s in std])
        carried = input_normalization(model)
    if carried is None:
        if args.raw_pixels:
            raise ValueError(
                f"{args.source!r} carries no input normalization, so the file cannot take raw "
                f"pixels: pass --mean and --std (the values it was trained with, e.g. --mean "
                f"0.4914,0.4822,0.4465 --std 0.247,0.2435,0.2616), or drop --raw-pixels for a "
                f"file that takes the model's normalized float inputs")
        return model, "input           normalized floats, as the model takes them"
    kind = "uint8" if args.raw_pixels else "float32"
    mean_text, std_text = (", ".join(f"{v:.4g}" for v in values) for values in carried)
    return model, (f"input           raw {kind} pixels; normalization in the model "
                   f"(x / 255 - ({mean_text})) / ({std_text})")


def _as_model_inputs(pixels, takes_pixels):
    """Calibration pixels as the file takes them (normalized for a model without its own
    normalization, with the dataset's statistics)."""
    images, (mean, std) = pixels
    if takes_pixels:
        return images
    from keras_resnets.export import Preprocessing

    return Preprocessing(mean=mean, std=std)(images)


def _held_out(dataset, shape, takes_pixels):
    """Up to 1,000 test images of ``dataset`` with their labels, as the file takes them;
    None for random calibration data, other image sizes or models without normalization."""
    from keras_resnets import data

    if dataset == "random" or not takes_pixels:
        return None
    info = data.dataset_info(dataset)
    if tuple(info.input_shape) != tuple(shape):
        return None
    return data.load_arrays(dataset, info.test_split, limit=HELD_OUT_SAMPLES)


def source_dataset(source):
    """The dataset a run directory or a search directory trained on, else None."""
    from keras_resnets._io import read_json

    if not os.path.isdir(source):
        return None
    remedy = "pass --calibration to name the dataset"
    run = read_json(os.path.join(source, "config.json"), None, remedy=remedy) or {}
    search = read_json(os.path.join(source, "search.json"), None, remedy=remedy) or {}
    name = (run.get("run") or {}).get("dataset", {}).get("name") or search.get("dataset")
    return name if name in CALIBRATION else None


def load_source(source, input_shape=None):
    """A Keras model from a run or search directory, a ``.keras`` file or a registry name."""
    import keras

    import keras_resnets

    if os.path.isdir(source):
        files = [os.path.join(source, n) for n in MODEL_FILES]
        found = [f for f in files if os.path.isfile(f)]
        if not found:
            raise ValueError(f"directory {source!r} has no best.keras or last.keras (a run) "
                             f"or best_model.keras (a search); pass a run or search "
                             f"directory, a .keras file or a registry name such as resnet20")
        source = found[0]
    if os.path.isfile(source):
        try:
            model = keras_resnets.load_model(source)  # room for 1000-layer graphs
        except Exception as error:
            raise ValueError(f"{source!r} is not a loadable Keras model file (.keras): {error}; "
                             "pass a run directory, a .keras file or a registry name") from error
        if not isinstance(model, keras.Model):
            raise ValueError(f"{source!r} holds a {type(model).__name__}, not a keras.Model")
        return model
    if source.endswith((".keras", ".h5")) or os.sep in source:
        raise ValueError(f"{source!r} does not exist; pass a run directory, a .keras file or a "
                         "registry name such as resnet20")
    kwargs = {} if input_shape is None else {"input_shape": tuple(input_shape)}
    return keras_resnets.create_model(source, **kwargs)


def calibration_pixels(kind, count, input_shape):
    """``count`` raw pixel images (float32, 0..255) resized to ``input_shape``, and the
    set's ``(mean, std)`` of ``pixels / 255`` as its training pipeline normalizes them."""
    import numpy as np
    import tensorflow as tf

    from keras_resnets import data

    if kind not in CALIBRATION:
        raise ValueError(f"calibration must be one of {', '.join(CALIBRATION)}; got {kind!r}")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"calibration samples must be a positive integer (e.g. 100); "
                         f"got {count!r}")
    height, width, channels = input_shape
    if kind == "random":
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (count, *input_shape)).astype("float32"), ((0.0,), (1.0,))
    info = data.dataset_info(kind)
    images = data.load_arrays(kind, info.train_split, limit=count)[0]
    images = tf.image.resize(images.astype("float32"), (height, width)).numpy()
    if channels != images.shape[-1]:
        images = np.repeat(images.mean(-1, keepdims=True), channels, axis=-1)
        info = dataclasses.replace(info, mean=(np.mean(info.mean),), std=(np.mean(info.std),))
    return np.clip(np.round(images), 0, 255), (info.mean, info.std)


def _floats(text, option, kind=float):
    try:
        return tuple(kind(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{option} must be comma-separated numbers (e.g. 32,32,3 or "
                         f"0.49,0.48,0.45); got {text!r}") from None


def _stem(source):
    base = os.path.basename(os.path.normpath(source))
    return os.path.splitext(base)[0] if base.endswith(".keras") else base

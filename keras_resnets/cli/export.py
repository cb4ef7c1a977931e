"""``keras-resnets export``: a SavedModel or a verified TFLite file.

SOURCE is a run directory (``best.keras``, else ``last.keras``), a ``.keras`` file,
or a registry name (random weights: for sizes and latency).

Example::

    keras-resnets export runs/resnet20 --quantize int8 --calibration digits --out r20.tflite
    keras-resnets export resnet18 --input-shape 64,64,3 --quantize float16
    keras-resnets export model.keras --format saved_model --out model_saved
"""

from __future__ import annotations

import dataclasses
import os

FORMATS = ("saved_model", "tflite")
QUANTIZE = ("none", "float16", "dynamic", "int8")
CALIBRATION = ("digits", "cifar10", "random")


def register(subparsers):
    parser = subparsers.add_parser(
        "export", help="write a SavedModel or a verified TFLite file",
        description="Export a run, a .keras file or a registry model; TFLite files are "
                    "verified in LiteRT and their size, error and latency printed.")
    parser.add_argument("source", help="run directory, .keras file, or registry name (resnet20)")
    parser.add_argument("--format", choices=FORMATS, default="tflite")
    parser.add_argument("--quantize", choices=QUANTIZE, default="none")
    parser.add_argument("--calibration", choices=CALIBRATION, default=None,
                        help="representative data for int8 (and verification samples)")
    parser.add_argument("--calibration-samples", type=int, default=100, metavar="N")
    parser.add_argument("--out", default=None, help="output path (default from SOURCE)")
    parser.add_argument("--input-shape", default=None, metavar="H,W,C",
                        help="fixed input shape of the file, e.g. 32,32,3")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--int8-io", choices=("none", "int8", "uint8"), default="none",
                        help="integer input/output tensors (with --quantize int8)")
    parser.add_argument("--raw-pixels", action="store_true",
                        help="fold x*scale, -mean, /std into the file: it takes uint8 pixels")
    parser.add_argument("--scale", type=float, default=1 / 255)
    parser.add_argument("--mean", default=None, metavar="M[,M,M]",
                        help="normalization mean (default: the calibration set's, else 0)")
    parser.add_argument("--std", default=None, metavar="S[,S,S]",
                        help="normalization std (default: the calibration set's, else 1)")
    parser.add_argument("--no-verify", action="store_true", help="skip the LiteRT check")
    parser.set_defaults(func=export_command)


def export_command(args):
    from keras_resnets import export

    input_shape = _floats(args.input_shape, "--input-shape", int) if args.input_shape else None
    model = load_source(args.source, input_shape)
    if not os.path.exists(args.source):
        print(f"weights         random ({args.source!r} is a registry name)")
    if args.format == "saved_model":
        if args.quantize != "none" or args.raw_pixels:
            raise ValueError("--quantize and --raw-pixels apply to --format tflite only")
        out = args.out or f"{_stem(args.source)}_saved_model"
        export.export_saved_model(model, out, input_shape=input_shape)
        size = sum(os.path.getsize(os.path.join(root, name))
                   for root, _, names in os.walk(out) for name in names)
        print(f"SavedModel      {out} (signature 'serve')\nsize            {size / 1024:,.1f} KiB")
        return 0
    quantization = None if args.quantize == "none" else args.quantize
    if quantization == "int8" and args.calibration is None:
        raise ValueError("--quantize int8 needs --calibration digits, cifar10 or random")
    shape = tuple(input_shape or model.inputs[0].shape[1:])
    if None in shape:
        raise ValueError(f"the model's input shape {shape} has unknown dimensions; pass "
                         "--input-shape H,W,C (e.g. 32,32,3)")
    pixels, stats = None, ((0.0,), (1.0,))
    if args.calibration:
        pixels, stats = calibration_pixels(args.calibration, args.calibration_samples, shape)
    preprocessing = export.Preprocessing(
        args.scale, _floats(args.mean, "--mean") if args.mean else stats[0],
        _floats(args.std, "--std") if args.std else stats[1])
    mean, std = (", ".join(f"{v:.4g}" for v in values)
                 for values in (preprocessing.mean, preprocessing.std))
    print(f"normalization   (x * {preprocessing.scale:.4g} - ({mean})) / ({std})"
          f"{' (in the file)' if args.raw_pixels else ''}")
    data = None
    if pixels is not None:
        data = pixels if args.raw_pixels else preprocessing(pixels)
    suffix = "" if quantization is None else f"-{quantization}"
    out = args.out or f"{_stem(args.source)}{suffix}.tflite"
    report = export.export_tflite(
        model, out, quantization, representative_data=data, input_shape=shape,
        batch_size=args.batch_size, include_preprocessing=args.raw_pixels and preprocessing,
        int8_io=False if args.int8_io == "none" else args.int8_io, verify=not args.no_verify,
        verify_samples=None if data is None else data[:32])
    print(report)
    return 0


def load_source(source, input_shape=None):
    """A Keras model from a run directory, a ``.keras`` file or a registry name."""
    import keras

    import keras_resnets

    if os.path.isdir(source):
        files = [os.path.join(source, n) for n in ("best.keras", "last.keras")]
        found = [f for f in files if os.path.isfile(f)]
        if not found:
            raise ValueError(f"run directory {source!r} has no best.keras or last.keras; "
                             "pass a .keras file or a registry name such as resnet20")
        source = found[0]
    if os.path.isfile(source):
        try:
            model = keras.saving.load_model(source)
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
    if kind == "digits":
        images = data.load_digits_arrays("train")[0][:count]
    else:
        images = _cifar10_pixels(count)
    info = data.dataset_info(kind)
    images = tf.image.resize(images.astype("float32"), (height, width)).numpy()
    if channels != images.shape[-1]:
        images = np.repeat(images.mean(-1, keepdims=True), channels, axis=-1)
        info = dataclasses.replace(info, mean=(np.mean(info.mean),), std=(np.mean(info.std),))
    return np.clip(np.round(images), 0, 255), (info.mean, info.std)


def _cifar10_pixels(count):
    import numpy as np

    try:
        import tensorflow_datasets as tfds

        dataset = tfds.load("cifar10", split=f"train[:{count}]", as_supervised=True)
    except Exception as error:
        raise ValueError(f"--calibration cifar10 needs the CIFAR-10 files (tensorflow-datasets "
                         f"downloads them once): {error}; offline, use digits or random") from error
    return np.stack([image for image, _ in tfds.as_numpy(dataset)])


def _floats(text, option, kind=float):
    try:
        return tuple(kind(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{option} must be comma-separated numbers (e.g. 32,32,3 or "
                         f"0.49,0.48,0.45); got {text!r}") from None


def _stem(source):
    base = os.path.basename(os.path.normpath(source))
    return os.path.splitext(base)[0] if base.endswith(".keras") else base

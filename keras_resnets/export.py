"""SavedModel and TFLite (LiteRT) export, verified in the LiteRT interpreter.

TFLite files use builtin ops only: a model that would need Select TF ops (Flex)
fails at export with :class:`UnsupportedOpsError`, never later on the device.
Mixed-precision models are rebuilt in float32 with the same weights before
conversion. Files are written to a temporary name next to the target, verified,
then renamed onto it, so a failed export never leaves a partial file behind.

Example::

    model = keras_resnets.create_model("resnet20")
    export_saved_model(model, "resnet20_saved_model")
    report = export_tflite(model, "resnet20-int8.tflite", quantization="int8",
                           representative_data=x_train[:200],
                           include_preprocessing=Preprocessing(mean=MEAN, std=STD))
    print(report)       # size, max abs error, top-1 agreement, latency
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_resnets._io import TEMP_MARK, TEMP_PREFIX, atomic_write, remove_stale_temporaries
from keras_resnets.normalization import input_normalization

QUANTIZATIONS = (None, "float16", "dynamic", "int8")
FLOAT32_TOLERANCE = 1e-4
_SERVE = "serve"


class UnsupportedOpsError(ValueError):
    """The model needs TensorFlow ops that have no TFLite builtin kernel."""


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """``(x * scale - mean) / std`` per channel, folded into a TFLite file fed raw uint8 pixels.

    Example: ``Preprocessing(mean=(0.4914, 0.4822, 0.4465), std=(0.247, 0.243, 0.261))``.
    """

    scale: float = 1.0 / 255.0
    mean: tuple = (0.0,)
    std: tuple = (1.0,)

    def __post_init__(self):
        object.__setattr__(self, "mean", tuple(float(m) for m in np.atleast_1d(self.mean)))
        object.__setattr__(self, "std", tuple(float(s) for s in np.atleast_1d(self.std)))
        if not self.scale > 0 or min(self.std) <= 0:
            raise ValueError(f"Preprocessing scale and std must be > 0 (e.g. scale=1/255, "
                             f"std=(0.247, 0.243, 0.261)); got scale={self.scale!r}, "
                             f"std={self.std!r}")

    def __call__(self, pixels):
        """Apply to raw pixels (NumPy or TensorFlow); returns float32."""
        x = tf.cast(pixels, tf.float32) if tf.is_tensor(pixels) else np.asarray(pixels, np.float32)
        mean = np.asarray(self.mean, "float32")
        std = np.asarray(self.std, "float32")
        return (x * np.float32(self.scale) - mean) / std


@dataclasses.dataclass
class TFLiteReport:
    """What :func:`verify_tflite` measured (error fields are None when not verified)."""

    path: str
    file_size_bytes: int
    input_dtype: str
    output_dtype: str
    samples: int = 0
    max_abs_error: float | None = None
    top1_agreement: float | None = None
    latency_ms: float | None = None
    labelled_samples: int = 0
    keras_accuracy: float | None = None
    tflite_accuracy: float | None = None

    def __str__(self):
        lines = [f"file            {self.path}",
                 f"size            {self.file_size_bytes / 1024:,.1f} KiB",
                 f"input / output  {self.input_dtype} / {self.output_dtype}"]
        if self.samples:
            lines += [f"max abs error   {self.max_abs_error:.3g} (vs Keras, "
                      f"{self.samples} samples)",
                      f"top-1 agreement {100 * self.top1_agreement:.1f}%",
                      f"latency         {self.latency_ms:.3f} ms per batch (LiteRT, median)"]
        if self.labelled_samples:
            lines.append(f"accuracy        Keras {100 * self.keras_accuracy:.2f}%, TFLite "
                         f"{100 * self.tflite_accuracy:.2f}% on {self.labelled_samples} "
                         f"held-out images")
        return "\n".join(lines)


def export_saved_model(model, path, *, input_shape=None):
    """Write ``model`` as a SavedModel directory with a ``serve`` (and ``serving_default``)
    signature taking a float32 batch of any size; returns ``path``. ``input_shape`` fixes
    the model's unknown spatial dimensions, if any. An existing SavedModel at ``path`` is
    replaced only once the new one is complete.

    Example: ``export_saved_model(model, "runs/wrn/saved_model")``, then
    ``keras.layers.TFSMLayer("runs/wrn/saved_model", call_endpoint="serve")``.
    """
    model = _check_model(model)
    path = os.fspath(path)
    if path.endswith((".tflite", ".keras", ".h5")):
        raise ValueError(f"export_saved_model path is a directory, not a "
                         f"{os.path.splitext(path)[1]} file; got {path!r} "
                         "(e.g. 'runs/resnet20/saved_model')")
    if os.path.exists(path) and not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"export_saved_model path {path!r} exists and is not a SavedModel "
                         "directory; choose a new path or remove it")
    shape = tuple(model.inputs[0].shape[1:]) if input_shape is None else _input_shape(
        model, input_shape)
    parent, prefix = _prepare_destination(path)
    staging = tempfile.mkdtemp(prefix=prefix, dir=parent)
    old = None
    try:
        _write_saved_model(model, staging, (None, *shape), tf.float32, None)
        os.chmod(staging, 0o755)  # mkdtemp makes it private to its owner
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=prefix, suffix=".old", dir=parent)
            os.replace(path, os.path.join(old, "previous"))
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    return path


def export_tflite(model, path, quantization=None, *, representative_data=None, input_shape=None,
                  batch_size=1, include_preprocessing=False, int8_io=False, verify=True,
                  verify_samples=None, verify_labels=None, max_error=None,
                  min_top1_agreement=None, calibration_steps=100):
    """Convert ``model`` to a builtin-ops-only TFLite file; returns a :class:`TFLiteReport`.

    Args:
        quantization: None (float32), ``"float16"`` (float16 weights), ``"dynamic"``
            (int8 weights, float activations) or ``"int8"`` (full integer; needs
            ``representative_data``).
        representative_data: calibration inputs as the file takes them (raw pixels when
            preprocessing is included): an array ``(n, h, w, c)``, an iterable of arrays,
            or a ``tf.data.Dataset`` of ``x`` or ``(x, y)``.
        input_shape: ``(h, w, c)`` fixed in the file; fills the model's unknown dims.
        batch_size: fixed batch of the file (default 1).
        include_preprocessing: the file takes raw uint8 pixels: True casts them for a
            model that carries its input normalization
            (:mod:`keras_resnets.normalization`, every model a run saves) and divides
            them by 255 for any other; a :class:`Preprocessing` folds
            ``(x * scale - mean) / std`` in (models without their own normalization).
        int8_io: with ``"int8"``: False (float input/output), True or ``"int8"``, or
            ``"uint8"`` for integer input and output tensors.
        verify: run the file in LiteRT against Keras before it replaces ``path``;
            float32 files must match within ``max_error`` (default 1e-4 x the output
            scale); ``max_error`` and ``min_top1_agreement`` apply to any mode when given.
        verify_samples: inputs for verification as the file takes them; default the
            first 8 representative samples, else random ones.
        verify_labels: the class of each verification sample (real held-out images):
            the report then gives Keras's and the file's accuracy on them.

    Example: ``export_tflite(model, "m.tflite", "int8", representative_data=x[:100])``
    """
    model = _check_model(model)
    path = os.fspath(path)
    if not path.endswith(".tflite"):
        raise ValueError(f"export_tflite path must end with '.tflite'; got {path!r} "
                         "(e.g. 'resnet20-int8.tflite')")
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of None, 'float16', 'dynamic', 'int8'; "
                         f"got {quantization!r}")
    if quantization == "dynamic" and _has_depthwise(model):
        warnings.warn(f"quantization='dynamic' on {model.name!r}, which has depthwise "
                      "convolutions: such files ran slower than float32 in LiteRT with 2 "
                      "threads in our measurements (0.86x on an idle CPU, 0.14x on a shared "
                      "one; docs/export.md), while int8 ran about 2x faster; prefer 'int8' "
                      "or None",
                      stacklevel=2)
    if int8_io not in (False, True, "int8", "uint8"):
        raise ValueError(f"int8_io must be False, True, 'int8' or 'uint8'; got {int8_io!r}")
    if int8_io and quantization != "int8":
        raise ValueError(f"int8_io={int8_io!r} needs quantization='int8'; got {quantization!r}")
    if quantization == "int8" and representative_data is None:
        raise ValueError("quantization='int8' needs representative_data: about 100 typical "
                         "inputs, e.g. representative_data=x_train[:100]")
    for name, value in (("batch_size", batch_size), ("calibration_steps", calibration_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer (e.g. 1, 100); got {value!r}")
    for name, value, upper in (("max_error", max_error, float("inf")),
                               ("min_top1_agreement", min_top1_agreement, 1.0)):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is not None and not (number and 0 <= value <= upper):
            raise ValueError(f"{name} must be None or a number in [0, {upper}] (e.g. 1e-4 for "
                             f"max_error, 0.98 for min_top1_agreement); got {value!r}")
    preprocessing = _preprocessing(include_preprocessing, input_normalization(model))
    shape = (batch_size, *_input_shape(model, input_shape))
    input_dtype = tf.uint8 if preprocessing else tf.float32
    calibration = None
    if representative_data is not None:
        calibration = _as_samples(representative_data, shape, calibration_steps,
                                  "representative_data")
    if os.path.isdir(path):
        raise ValueError(f"export_tflite path {path!r} is an existing directory; give a file "
                         f"path such as {os.path.join(path, 'model.tflite')!r}")
    scratch = _prepare_destination(path)
    float_model = float32_model(model)
    flatbuffer = _convert(float_model, shape, input_dtype, preprocessing, quantization,
                          calibration, int8_io, scratch)
    report = None

    def write_checked(staging):
        # The file replaces ``path`` only once it has passed verification.
        nonlocal report
        with open(staging, "wb") as file:
            file.write(flatbuffer)
        if not verify:
            report = _describe(staging)
            return
        samples = verify_samples
        if samples is None:
            samples = calibration[:8] if calibration is not None else _random_inputs(
                shape, max(8, batch_size), preprocessing or input_normalization(model))
        samples = _as_samples(samples, shape, None, "verify_samples")
        report = verify_tflite(float_model, staging, samples, labels=verify_labels,
                               preprocessing=preprocessing)
        _check_report(report, quantization, max_error, min_top1_agreement, float_model,
                      samples, preprocessing)

    atomic_write(path, write_checked)
    report.path = path
    return report


def verify_tflite(model, tflite_path, samples, *, labels=None, preprocessing=None,
                  latency_runs=10, num_threads=None):
    """Run ``tflite_path`` in the LiteRT interpreter on ``samples`` and compare with Keras.

    ``samples`` are inputs as the file takes them: raw pixels when the file includes
    ``preprocessing`` (Keras then sees ``preprocessing(samples)``), else model inputs.
    Integer inputs and outputs are (de)quantized with the file's scale and zero point.
    Top-1 agreement compares the argmax over the last axis (per pixel for dense outputs).
    With ``labels`` (one class per sample) the report adds Keras's and the file's accuracy.

    Example: ``print(verify_tflite(model, "m.tflite", x_test[:360], labels=y_test[:360]))``
    """
    from ai_edge_litert.interpreter import Interpreter

    preprocessing = _preprocessing(preprocessing, input_normalization(model))
    interpreter = Interpreter(model_path=os.fspath(tflite_path), num_threads=num_threads)
    runner = interpreter.get_signature_runner(next(iter(interpreter.get_signature_list())))
    (input_name, input_detail), = runner.get_input_details().items()
    output_details = runner.get_output_details()
    file_shape = tuple(input_detail["shape"])
    samples = np.asarray(samples)
    if samples.ndim != len(file_shape) or samples.shape[1:] != file_shape[1:]:
        raise ValueError(f"verify_tflite samples must have shape (n, {_dims(file_shape)}) "
                         f"for {tflite_path}; got {samples.shape}")
    keras_inputs = preprocessing(samples) if preprocessing else samples.astype("float32")
    expected = _named_outputs(_predict(model, keras_inputs))
    if set(expected) != set(output_details):
        raise ValueError(f"verify_tflite: the file's outputs {sorted(output_details)} are not the "
                         f"model's {sorted(expected)}; is {tflite_path} an export of this model?")
    batch = file_shape[0]
    got = {name: [] for name in output_details}
    feed = None
    for start in range(0, len(samples), batch):
        chunk = samples[start:start + batch]
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), axis=0)])
        feed = {input_name: _quantize(padded, input_detail)}
        outputs = runner(**feed)
        for name, detail in output_details.items():
            got[name].append(_dequantize(outputs[name], detail)[:len(chunk)])
    errors, agreements = [], []
    for name, reference in expected.items():
        result = np.concatenate(got[name])
        errors.append(float(np.max(np.abs(result - reference))))
        agreements.append(np.argmax(result, -1) == np.argmax(reference, -1))
    for _ in range(2):
        runner(**feed)
    timings = []
    for _ in range(latency_runs):
        start = time.perf_counter()
        runner(**feed)
        timings.append(time.perf_counter() - start)
    report = _describe(tflite_path, input_detail, output_details)
    report.samples = len(samples)
    report.max_abs_error = max(errors)
    report.top1_agreement = float(np.mean(np.concatenate([a.ravel() for a in agreements])))
    report.latency_ms = 1000 * float(np.median(timings))
    if labels is not None:
        _add_accuracy(report, labels, expected, result)
    return report


def _add_accuracy(report, labels, expected, result):
    labels = np.asarray(labels).reshape(-1)
    (reference,) = expected.values() if len(expected) == 1 else (None,)
    if reference is None or reference.ndim != 2 or len(labels) != len(reference):
        raise ValueError(f"verify labels need a classifier with one (n, classes) output and "
                         f"one label per sample; got {len(labels)} labels for outputs "
                         f"{[v.shape for v in expected.values()]}")
    report.labelled_samples = len(labels)
    report.keras_accuracy = float(np.mean(np.argmax(reference, -1) == labels))
    report.tflite_accuracy = float(np.mean(np.argmax(result, -1) == labels))


def float32_model(model):
    """``model`` itself if it computes in float32, else a float32 rebuild with its weights.

    Example: ``float32_model(mixed_float16_model).dtype_policy.name == "float32"``
    """
    if all(layer.compute_dtype == "float32" for layer in model._flatten_layers()):
        return model
    config = _float32_config(keras.saving.serialize_keras_object(model))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        rebuilt = keras.saving.deserialize_keras_object(config)
    finally:
        keras.config.set_dtype_policy(previous)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def _float32_config(node):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "dtype" and _is_low_precision(value):
                out[key] = "float32"
            else:
                out[key] = _float32_config(value)
        return out
    if isinstance(node, list):
        return [_float32_config(value) for value in node]
    return node


def _is_low_precision(dtype):
    if isinstance(dtype, dict):
        return "DTypePolicy" in str(dtype.get("class_name", ""))
    return dtype in ("float16", "bfloat16", "mixed_float16", "mixed_bfloat16")


def _has_depthwise(model):
    layers = list(model.layers)
    while layers:
        layer = layers.pop()
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            return True
        layers.extend(getattr(layer, "layers", ()))
    return False


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise ValueError(f"expected a keras.Model (e.g. keras_resnets.create_model('resnet20') or "
                         f"keras.saving.load_model('best.keras')); got {type(model).__name__}")
    if len(model.inputs or ()) != 1:
        raise ValueError(f"export supports models with one image input; {model.name!r} has "
                         f"{len(model.inputs or ())}")
    return model


def _input_shape(model, input_shape):
    model_shape = tuple(model.inputs[0].shape[1:])
    if input_shape is None:
        input_shape = model_shape
    input_shape = tuple(input_shape)
    if len(input_shape) != len(model_shape) or not all(
            isinstance(d, int) and d > 0 and m in (None, d)
            for d, m in zip(input_shape, model_shape, strict=True)):
        raise ValueError(f"input_shape must be positive integers (height, width, channels) "
                         f"compatible with the model's input {model_shape}; got {input_shape!r} "
                         "(e.g. (32, 32, 3); rebuild the model for another fixed size)")
    return input_shape


def _preprocessing(value, carried=None):
    """The :class:`Preprocessing` folded into the file; ``carried`` is the model's own
    input normalization, which leaves only a cast to do."""
    if value is False or value is None:
        return None
    if value is True:
        return Preprocessing(scale=1.0) if carried else Preprocessing()
    if isinstance(value, dict):
        value = Preprocessing(**value)
    if not isinstance(value, Preprocessing):
        raise ValueError(f"include_preprocessing must be False, True (x / 255) or "
                         f"Preprocessing(scale=..., mean=..., std=...); got {value!r}")
    if carried and value != Preprocessing(scale=1.0):
        raise ValueError(f"include_preprocessing={value!r} would normalize twice: the model "
                         f"carries its input normalization (mean {carried[0]}, std "
                         f"{carried[1]}) and takes raw pixels; pass include_preprocessing=True "
                         f"for a file that takes uint8 pixels")
    return value


def _as_samples(data, shape, limit, argument):
    """Inputs as a NumPy array ``(n, *shape[1:])`` from an array, iterable or tf.data.Dataset."""
    if isinstance(data, tf.data.Dataset):
        data = data.as_numpy_iterator()
    if hasattr(data, "shape") and hasattr(data, "dtype"):  # NumPy array or tensor
        arrays = [np.asarray(data)]
    else:
        arrays, count = [], 0
        for element in data:
            element = np.asarray(element[0] if isinstance(element, (tuple, list)) else element)
            element = element[None] if element.ndim == len(shape) - 1 else element
            arrays.append(element)
            count += len(element)
            if limit is not None and count >= limit:
                break
    samples = np.concatenate(arrays) if arrays else np.zeros((0, *shape[1:]))
    if samples.ndim != len(shape) or samples.shape[1:] != tuple(shape[1:]) or not len(samples):
        raise ValueError(f"{argument} must hold inputs of shape (n, {_dims(shape)}) as the "
                         f"file takes them; got an array of shape {samples.shape}")
    return samples[:limit] if limit is not None else samples


def _dims(shape):
    return ", ".join(map(str, shape[1:]))


def _random_inputs(shape, count, preprocessing):
    rng = np.random.default_rng(0)
    if preprocessing:
        return rng.integers(0, 256, (count, *shape[1:]), dtype=np.uint8)
    return rng.uniform(0.0, 1.0, (count, *shape[1:])).astype("float32")


def _write_saved_model(model, directory, shape, dtype, preprocessing):
    def serve(x):
        return model(preprocessing(x) if preprocessing else x, training=False)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(_SERVE, serve, input_signature=[tf.TensorSpec(shape, dtype, name="x")])
    archive.write_out(directory, verbose=False)


def _prepare_destination(path):
    """Check that ``path`` can be written before any conversion, and remove what a killed
    export to it left behind; returns the parent directory and the prefix of the hidden
    scratch files and folders beside ``path`` (removed after, or by the next export)."""
    parent, base = os.path.split(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as error:
        raise ValueError(f"cannot write the export to {path!r}: {parent!r} is not a writable "
                         f"directory ({error.strerror or error}); choose a path in one "
                         f"(e.g. 'exports/model.tflite')") from None
    remove_stale_temporaries(parent, base)
    return parent, f"{TEMP_PREFIX}{base}{TEMP_MARK}"


def _convert(model, shape, input_dtype, preprocessing, quantization, calibration, int8_io,
             scratch):
    parent, prefix = scratch
    with tempfile.TemporaryDirectory(prefix=prefix, suffix=".saved_model",
                                     dir=parent) as directory:
        _write_saved_model(model, directory, shape, input_dtype, preprocessing)
        converter = tf.lite.TFLiteConverter.from_saved_model(directory)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantization is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if quantization == "int8":
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            batches = [calibration[i:i + shape[0]] for i in range(0, len(calibration), shape[0])]
            batches = [b for b in batches if len(b) == shape[0]] or [
                np.resize(calibration, shape)]
            cast = input_dtype.as_numpy_dtype
            converter.representative_dataset = lambda: ([b.astype(cast)] for b in batches)
            if int8_io:
                io_type = tf.uint8 if int8_io == "uint8" else tf.int8
                if not preprocessing:
                    converter.inference_input_type = io_type
                converter.inference_output_type = io_type
        try:
            return converter.convert()
        except Exception as error:  # ConverterError; re-raised with the ops named
            ops = _unsupported_ops(error)
            if not ops:
                raise
            mode = "int8 " if quantization == "int8" else ""
            hint = ("use quantization='dynamic' or 'float16', or replace those layers"
                    if quantization == "int8" else
                    "replace those layers with keras.layers / keras.ops that have TFLite builtins")
            raise UnsupportedOpsError(
                f"the model needs ops with no TFLite builtin {mode}kernel: {'; '.join(ops)}. "
                f"Builtin ops only (no Select TF ops, which most devices lack), so no file was "
                f"written; {hint} (see https://ai.google.dev/edge/litert/models/ops_compatibility)"
            ) from error


def _unsupported_ops(error):
    found = []
    for item in getattr(error, "errors", None) or ():
        op = item.operator.name
        where = ""
        for frame in item.location.call:
            match = re.match(r"(.+?)/[^/]+@", frame.name)
            if match:
                where = f" (in {match.group(1)})"
                break
        if op and f"{op}{where}" not in found:
            found.append(f"{op}{where}")
    return found


def _check_report(report, quantization, max_error, min_top1_agreement, model, samples,
                  preprocessing):
    if max_error is None and quantization is None:
        inputs = preprocessing(samples) if preprocessing else samples
        scale = max(1.0, max(float(np.max(np.abs(v))) for v in
                             _named_outputs(_predict(model, inputs)).values()))
        max_error = FLOAT32_TOLERANCE * scale
    problems = []
    if not np.isfinite(report.max_abs_error):
        problems.append("non-finite outputs")
    elif max_error is not None and report.max_abs_error > max_error:
        problems.append(f"max abs error {report.max_abs_error:.3g} > {max_error:.3g}")
    if min_top1_agreement is not None and report.top1_agreement < min_top1_agreement:
        problems.append(f"top-1 agreement {report.top1_agreement:.3f} < {min_top1_agreement}")
    if problems:
        raise ValueError(f"export_tflite verification failed ({', '.join(problems)}) for "
                         f"quantization={quantization!r}; the target was not written. "
                         f"Report:\n{report}")


def _describe(path, input_detail=None, output_details=None):
    if input_detail is None:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=os.fspath(path))
        runner = interpreter.get_signature_runner(next(iter(interpreter.get_signature_list())))
        (input_detail,) = runner.get_input_details().values()
        output_details = runner.get_output_details()
    output_dtypes = sorted({np.dtype(d["dtype"]).name for d in output_details.values()})
    return TFLiteReport(path=os.fspath(path), file_size_bytes=os.path.getsize(path),
                        input_dtype=np.dtype(input_detail["dtype"]).name,
                        output_dtype="/".join(output_dtypes))


def _predict(model, inputs):
    chunks = [model(inputs[i:i + 32], training=False) for i in range(0, len(inputs), 32)]
    return tf.nest.map_structure(lambda *parts: np.concatenate([np.asarray(p, "float32")
                                                                for p in parts]), *chunks)


def _named_outputs(outputs):
    """Keras outputs keyed as the SavedModel signature names them."""
    if isinstance(outputs, dict):
        return dict(outputs)
    if isinstance(outputs, (list, tuple)):
        return {f"output_{i}": value for i, value in enumerate(outputs)}
    return {"output_0": outputs}


def _quantize(values, detail):
    scale, zero_point = detail["quantization"]
    dtype = detail["dtype"]
    if scale and np.issubdtype(dtype, np.integer) and not np.issubdtype(values.dtype, np.integer):
        info = np.iinfo(dtype)
        values = np.clip(np.round(values / scale + zero_point), info.min, info.max)
    return values.astype(dtype)


def _dequantize(values, detail):
    scale, zero_point = detail["quantization"]
    if scale and np.issubdtype(values.dtype, np.integer):
        return (values.astype("float32") - zero_point) * scale
    return values.astype("float32")

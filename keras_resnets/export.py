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

import os
import re
import shutil
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_resnets._io import TEMP_MARK, TEMP_PREFIX, atomic_write, remove_stale_temporaries
from keras_resnets.normalization import input_normalization
from keras_resnets.tflite_check import (
    Preprocessing,
    TFLiteReport,
    check_report,
    describe,
    resolve_preprocessing,
    shape_text,
    verify_tflite,
)

__all__ = ["Preprocessing", "QUANTIZATIONS", "TFLiteReport", "UnsupportedOpsError",
           "export_saved_model", "export_tflite", "float32_model", "verify_tflite"]

QUANTIZATIONS = (None, "float16", "dynamic", "int8")
_SERVE = "serve"


class UnsupportedOpsError(ValueError):
    """The model needs TensorFlow ops that have no TFLite builtin kernel."""


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
    preprocessing = resolve_preprocessing(include_preprocessing, input_normalization(model))
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
            report = describe(staging)
            return
        samples = verify_samples
        if samples is None:
            samples = calibration[:8] if calibration is not None else _random_inputs(
                shape, max(8, batch_size), preprocessing or input_normalization(model))
        samples = _as_samples(samples, shape, None, "verify_samples")
        report = verify_tflite(float_model, staging, samples, labels=verify_labels,
                               preprocessing=preprocessing)
        check_report(report, quantization, max_error, min_top1_agreement, float_model,
                      samples, preprocessing)

    atomic_write(path, write_checked)
    report.path = path
    return report


def _all_layers(layer):
    """``layer`` and every layer inside it, through the public ``layers`` of models."""
    yield layer
    for inner in getattr(layer, "layers", ()):
        yield from _all_layers(inner)


def float32_model(model):
    """``model`` itself if it computes in float32, else a float32 rebuild with its weights.

    Example: ``float32_model(mixed_float16_model).dtype_policy.name == "float32"``
    """
    if all(layer.compute_dtype == "float32" for layer in _all_layers(model)):
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
        raise ValueError(f"{argument} must hold inputs of shape (n, {shape_text(shape)}) as the "
                         f"file takes them; got an array of shape {samples.shape}")
    return samples[:limit] if limit is not None else samples


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
            hint = "replace those layers with keras.layers / keras.ops that have TFLite builtins"
            if quantization == "int8" and _has_float_kernels(directory):
                hint = "use quantization='dynamic' or 'float16', or replace those layers"
            raise UnsupportedOpsError(
                f"the model needs ops with no TFLite builtin {mode}kernel: {'; '.join(ops)}. "
                f"Builtin ops only (no Select TF ops, which most devices lack), so no file was "
                f"written; {hint} (see https://ai.google.dev/edge/litert/models/ops_compatibility)"
            ) from error


def _has_float_kernels(saved_model):
    """Whether ``saved_model`` converts with float builtin kernels (no quantization)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        converter.convert()
    except Exception:  # ConverterError: some op has no float builtin either
        return False
    return True


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



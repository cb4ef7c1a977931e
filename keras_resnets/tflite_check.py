"""Checking a TFLite file against the Keras model it came from, in the LiteRT interpreter.

:func:`verify_tflite` runs the file on samples and reports its size, its largest
difference from Keras, top-1 agreement, latency and, with labels, both accuracies;
:func:`check_report` turns a report into a refusal when it misses the bounds. A
:class:`Preprocessing` is the input normalization a file may carry for raw pixels.

Example::

    report = verify_tflite(model, "resnet20.tflite", x_test[:360], labels=y_test[:360])
    print(report)       # size, max abs error, top-1 agreement, latency, accuracies
"""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np
import tensorflow as tf

from keras_resnets.normalization import input_normalization

FLOAT32_TOLERANCE = 1e-4


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

    preprocessing = resolve_preprocessing(preprocessing, input_normalization(model))
    interpreter = Interpreter(model_path=os.fspath(tflite_path), num_threads=num_threads)
    runner = interpreter.get_signature_runner(next(iter(interpreter.get_signature_list())))
    (input_name, input_detail), = runner.get_input_details().items()
    output_details = runner.get_output_details()
    file_shape = tuple(input_detail["shape"])
    samples = np.asarray(samples)
    if samples.ndim != len(file_shape) or samples.shape[1:] != file_shape[1:]:
        raise ValueError(f"verify_tflite samples must have shape (n, {shape_text(file_shape)}) "
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
    report = describe(tflite_path, input_detail, output_details)
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


def resolve_preprocessing(value, carried=None):
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


def shape_text(shape):
    return ", ".join(map(str, shape[1:]))


def check_report(report, quantization, max_error, min_top1_agreement, model, samples,
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


def describe(path, input_detail=None, output_details=None):
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


"""SavedModel / TFLite export, checked by running the files (LiteRT interpreter)."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from helpers import EXPORT_FAMILY_CASES

import keras_resnets
from keras_resnets import export
from keras_resnets.cli import main as cli_main
from keras_resnets.normalization import input_normalization, with_input_normalization

SHAPE = (8, 8, 3)  # scikit-learn's 8x8 digits, offline


def small_model(name="small"):
    """Grouped conv, BatchNorm, depthwise conv, Add, Concatenate, softmax; ~42k weights."""
    inputs = keras.Input(SHAPE)
    x = keras.layers.Conv2D(32, 3, padding="same", name="stem")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = keras.layers.ReLU()(x)
    grouped = keras.layers.Conv2D(32, 3, padding="same", groups=2, name="grouped")(x)
    grouped = keras.layers.BatchNormalization(momentum=0.9, name="grouped_bn")(grouped)
    x = keras.layers.ReLU()(keras.layers.Add()([x, grouped]))
    depthwise = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(x)
    pooled = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Concatenate()([depthwise, pooled])
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="wide")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture(scope="module")
def digits():
    """(x_train, y_train, x_test, y_test): 8x8x3 digit images in [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = np.repeat(data.images[..., None] / 16.0, 3, axis=-1).astype("float32")
    return x[:1400], data.target[:1400], x[1400:], data.target[1400:]


@pytest.fixture(scope="module")
def model(digits):
    """The small model after a few seconds of training on digits (~90% test accuracy):
    a random model predicts one class for every input, which makes top-1 checks empty."""
    keras.utils.set_random_seed(0)
    model = small_model()
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(digits[0], digits[1], batch_size=50, epochs=4, verbose=0)
    return model


@pytest.fixture(scope="module")
def images(digits):
    return digits[2][:48]


def run_file(path, x):
    """Run a .tflite file by hand (not verify_tflite), one batch-1 call per sample:
    outputs dequantized to float32."""
    interpreter = Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner()
    ((name, detail),) = runner.get_input_details().items()
    scale, zero = runner.get_output_details()["output_0"]["quantization"]
    outputs = []
    for sample in x:
        if detail["dtype"] == np.int8:
            in_scale, in_zero = detail["quantization"]
            sample = np.clip(np.round(sample / in_scale + in_zero), -128, 127).astype(np.int8)
        out = runner(**{name: sample[None]})["output_0"]
        outputs.append((out.astype("float32") - zero) * scale if scale else out)
    return np.concatenate(outputs)


# SavedModel --------------------------------------------------------------------------------

def test_saved_model_reloads_with_tf_and_tfsmlayer(model, images, tmp_path):
    path = export.export_saved_model(model, tmp_path / "sm")
    expected = model(images).numpy()
    loaded = tf.saved_model.load(str(path))
    assert {"serve", "serving_default"} <= set(loaded.signatures)
    assert np.max(np.abs(loaded.serve(images).numpy() - expected)) <= 1e-6
    layer = keras.layers.TFSMLayer(str(path), call_endpoint="serve")
    assert np.max(np.abs(np.asarray(layer(images)) - expected)) <= 1e-6
    # Exporting again replaces the directory atomically, with no leftovers beside it.
    export.export_saved_model(model, path)
    assert sorted(os.listdir(tmp_path)) == ["sm"]


def test_saved_model_refuses_a_file_target(model, tmp_path):
    (tmp_path / "notes").write_text("keep me")
    with pytest.raises(ValueError, match="not a SavedModel directory"):
        export.export_saved_model(model, tmp_path / "notes")
    assert (tmp_path / "notes").read_text() == "keep me"


# TFLite modes ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def float_file(model, images, tmp_path_factory):
    path = tmp_path_factory.mktemp("f32") / "m.tflite"
    return export.export_tflite(model, path, verify_samples=images)


def test_float32_file_matches_keras(model, images, float_file):
    assert float_file.input_dtype == "float32" and float_file.output_dtype == "float32"
    assert float_file.samples == len(images)
    assert float_file.max_abs_error <= 1e-4
    assert float_file.top1_agreement == 1.0
    assert float_file.file_size_bytes == os.path.getsize(float_file.path) > 4 * 42_000
    assert float_file.latency_ms > 0
    # Independent of verify_tflite: run the file by hand.
    got = run_file(float_file.path, images[:1])
    assert got.shape == (1, 10)
    assert np.max(np.abs(got - model(images[:1]).numpy())) <= 1e-4
    text = str(float_file)
    assert "max abs error" in text and "top-1 agreement" in text and "KiB" in text


@pytest.mark.parametrize("quantization, max_size_ratio, max_error",
                         [("float16", 0.6, 1e-2), ("dynamic", 0.4, 5e-2)])
def test_weight_quantization(model, images, float_file, tmp_path, quantization,
                             max_size_ratio, max_error):
    report = export.export_tflite(model, tmp_path / "q.tflite", quantization,
                                  verify_samples=images)
    ratio = report.file_size_bytes / float_file.file_size_bytes
    print(f"{quantization}: size ratio {ratio:.2f}, error {report.max_abs_error:.2g}, "
          f"top-1 {report.top1_agreement:.2f}")
    assert ratio <= max_size_ratio
    assert 0 < report.max_abs_error <= max_error
    assert report.top1_agreement >= 0.9


@pytest.mark.parametrize("int8_io, dtype", [(False, "float32"), (True, "int8"), ("uint8", "uint8")])
def test_full_int8(model, digits, float_file, tmp_path, int8_io, dtype):
    x_train, _, x_test, y_test = digits
    report = export.export_tflite(model, tmp_path / "q.tflite", "int8",
                                  representative_data=x_train[:100], int8_io=int8_io,
                                  verify_samples=x_test)
    assert report.input_dtype == dtype and report.output_dtype == dtype
    assert report.file_size_bytes <= 0.35 * float_file.file_size_bytes
    assert report.max_abs_error <= 0.2
    assert report.top1_agreement >= 0.95
    interpreter = Interpreter(model_path=str(report.path))
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "CONCATENATION", "ADD"} <= ops
    assert not ops & {"FlexErfinv", "CUSTOM"}
    if int8_io != "uint8":  # uint8 input: quantizing floats by hand is beside the point here
        accuracy = np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test)
        int8_accuracy = np.mean(run_file(report.path, x_test).argmax(1) == y_test)
        print(f"int8 io={int8_io}: error {report.max_abs_error:.3f}, top-1 agreement "
              f"{report.top1_agreement:.3f}, accuracy {accuracy:.3f} -> {int8_accuracy:.3f}")
        assert accuracy >= 0.8 and int8_accuracy >= accuracy - 0.03


def test_int8_accepts_a_dataset_and_fixed_batch(model, images, tmp_path):
    dataset = tf.data.Dataset.from_tensor_slices((images[:24], np.zeros(24))).batch(8)
    report = export.export_tflite(model, tmp_path / "b4.tflite", "int8",
                                  representative_data=dataset, batch_size=4,
                                  verify_samples=images[:10])  # 10: the last batch is padded
    interpreter = Interpreter(model_path=report.path)
    assert tuple(interpreter.get_input_details()[0]["shape"]) == (4, *SHAPE)
    assert report.samples == 10 and report.top1_agreement >= 0.9


# Preprocessing folded in -------------------------------------------------------------------

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


def test_preprocessing_file_takes_raw_uint8_pixels(model, images, tmp_path):
    pixels = np.round(images[:6] * 255).astype(np.uint8)
    pre = export.Preprocessing(mean=MEAN, std=STD)
    report = export.export_tflite(model, tmp_path / "raw.tflite", include_preprocessing=pre,
                                  verify_samples=pixels)
    assert report.input_dtype == "uint8" and report.max_abs_error <= 1e-4
    normalized = (pixels.astype("float32") / 255.0 - np.float32(MEAN)) / np.float32(STD)
    expected = model(normalized).numpy()
    assert np.max(np.abs(run_file(report.path, pixels) - expected)) <= 1e-4


def test_int8_with_preprocessing_and_uint8_io(model, images, tmp_path):
    pixels = np.round(images * 255).astype(np.uint8)
    report = export.export_tflite(model, tmp_path / "raw8.tflite", "int8",
                                  representative_data=pixels[:32], int8_io="uint8",
                                  include_preprocessing=True, verify_samples=pixels[32:])
    assert report.input_dtype == "uint8" and report.output_dtype == "uint8"
    got = run_file(report.path, pixels[32:])
    expected = model(pixels[32:].astype("float32") / 255.0).numpy()
    assert np.max(np.abs(got - expected)) <= 0.2
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.9
    assert report.top1_agreement >= 0.9


# Mixed precision ---------------------------------------------------------------------------

@pytest.mark.parametrize("policy, tolerance", [("mixed_float16", 5e-3), ("mixed_bfloat16", 5e-2)])
def test_mixed_precision_model_is_rebuilt_in_float32(images, tmp_path, policy, tolerance):
    keras.config.set_dtype_policy(policy)
    try:
        mixed = small_model()
    finally:
        keras.config.set_dtype_policy("float32")
    assert mixed.get_layer("stem").compute_dtype != "float32"
    rebuilt = export.float32_model(mixed)
    assert rebuilt is not mixed
    assert {layer.compute_dtype for layer in rebuilt.layers} == {"float32"}
    for a, b in zip(mixed.get_weights(), rebuilt.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    report = export.export_tflite(mixed, tmp_path / "m.tflite", verify_samples=images[:8])
    assert report.max_abs_error <= 1e-4  # the file against the float32 rebuild
    against_mixed = export.verify_tflite(mixed, report.path, images[:8])
    print(f"{policy}: file vs mixed model {against_mixed.max_abs_error:.2g}")
    assert against_mixed.max_abs_error <= tolerance


# Failures: clear errors, nothing left behind ----------------------------------------------

@keras.saving.register_keras_serializable(package="test_export")
class InverseErf(keras.layers.Layer):
    """erfinv has no TFLite builtin kernel."""

    def call(self, x):
        return keras.ops.erfinv(keras.ops.tanh(x) * 0.5)


def test_select_tf_ops_fail_at_export_and_leave_the_target(tmp_path):
    inputs = keras.Input(SHAPE)
    x = InverseErf(name="needs_flex")(keras.layers.Conv2D(4, 3, name="c")(inputs))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    target = tmp_path / "flex.tflite"
    target.write_bytes(b"previous file")
    with pytest.raises(export.UnsupportedOpsError, match=r"Erfinv \(in .*needs_flex"):
        export.export_tflite(keras.Model(inputs, outputs), target)
    # no quantization has a kernel for it: the int8 refusal suggests none of them
    with pytest.raises(export.UnsupportedOpsError, match=r"no TFLite builtin int8 kernel: "
                                                         r"tf\.Erfinv.*; replace those layers") as no:
        export.export_tflite(keras.Model(inputs, outputs), target, "int8",
                             representative_data=np.zeros((4, *SHAPE), "float32"))
    assert "dynamic" not in str(no.value) and "float16" not in str(no.value)
    assert target.read_bytes() == b"previous file"
    assert os.listdir(tmp_path) == ["flex.tflite"]


def test_native_status_lines_are_dropped_from_standard_error(capfd):
    """The converter's quantizer summary and LiteRT's delegate notice go past every log
    level straight to descriptor 2; `keras-resnets export` drops them, and only them."""
    from keras_resnets.cli import native_noise_filtered

    with native_noise_filtered():
        os.write(2, b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32, "
                    b"output_inference_type: FLOAT32\nINFO: Created TensorFlow Lite XNNPACK "
                    b"delegate for CPU.\na warning that stays\n")
    assert capfd.readouterr().err == "a warning that stays\n"


def test_failed_verification_leaves_no_partial_file(model, images, tmp_path):
    target = tmp_path / "m.tflite"
    target.write_bytes(b"previous file")
    # float16 weights cannot match Keras to 1e-9: verification fails after conversion.
    with pytest.raises(ValueError, match="verification failed"):
        export.export_tflite(model, target, "float16", verify_samples=images[:4],
                             max_error=1e-9)
    assert target.read_bytes() == b"previous file"
    assert os.listdir(tmp_path) == ["m.tflite"]
    (tmp_path / "m.tflite").unlink()
    with pytest.raises(ValueError, match="verification failed"):
        export.export_tflite(model, target, "float16", verify_samples=images[:4],
                             max_error=1e-9)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kwargs, message", [
    (dict(quantization="int4"), r"quantization must be one of None, 'float16'.*got 'int4'"),
    (dict(quantization="int8"), "needs representative_data"),
    (dict(path="m.tfl"), r"must end with '.tflite'; got '.*m.tfl'"),
    (dict(int8_io=True), "int8_io=True needs quantization='int8'"),
    (dict(int8_io="int16", quantization="int8"), "int8_io must be"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(calibration_steps=0), "calibration_steps must be a positive integer"),
    (dict(min_top1_agreement=1.5), r"min_top1_agreement must be None or a number in \[0, 1.0\]"),
    (dict(input_shape=(32, 32, 3)), r"compatible with the model's input \(8, 8, 3\)"),
    (dict(include_preprocessing="imagenet"), "include_preprocessing must be"),
    (dict(quantization="int8", representative_data=np.zeros((4, 16, 16, 3))),
     r"representative_data must hold inputs of shape \(n, 8, 8, 3\)"),
])
def test_bad_arguments_are_value_errors(model, tmp_path, kwargs, message):
    kwargs.setdefault("path", "m.tflite")
    kwargs["path"] = tmp_path / kwargs["path"]
    with pytest.raises(ValueError, match=message):
        export.export_tflite(model, **kwargs)
    assert os.listdir(tmp_path) == []


def test_not_a_model_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="expected a keras.Model"):
        export.export_tflite("resnet20", tmp_path / "m.tflite")
    with pytest.raises(ValueError, match="std must be > 0"):
        export.Preprocessing(std=(0.2, 0.0, 0.2))


# A model that carries its normalization ---------------------------------------------------

def test_a_model_that_carries_its_normalization_takes_raw_pixels(model, digits, tmp_path):
    carried = with_input_normalization(model, 0.0, 1.0)  # model was fit on pixels / 255
    assert input_normalization(carried) == ((0.0,) * 3, (1.0,) * 3)
    assert input_normalization(model) is None
    pixels = np.round(digits[2] * 255).astype(np.uint8)
    labels = digits[3]
    report = export.export_tflite(carried, tmp_path / "carried.tflite",
                                  include_preprocessing=True, verify_samples=pixels,
                                  verify_labels=labels)
    assert report.input_dtype == "uint8" and report.max_abs_error <= 1e-4
    direct = float(np.mean(model(pixels / 255.0).numpy().argmax(1) == labels))
    assert report.labelled_samples == len(labels) == 397
    assert report.keras_accuracy == pytest.approx(direct) and direct >= 0.8
    assert abs(report.tflite_accuracy - report.keras_accuracy) <= 1 / 397
    assert f"on {len(labels)} held-out images" in str(report)
    floats = export.export_tflite(carried, tmp_path / "float.tflite")  # float32 raw pixels
    assert floats.input_dtype == "float32" and floats.max_abs_error <= 1e-4
    with pytest.raises(ValueError, match="would normalize twice"):
        export.export_tflite(carried, tmp_path / "twice.tflite",
                             include_preprocessing=export.Preprocessing(mean=MEAN, std=STD))


def test_cli_raw_pixels_need_a_known_normalization(model, tmp_path, capsys):
    model.save(tmp_path / "bare.keras")
    out = str(tmp_path / "x.tflite")
    assert cli_main(["export", str(tmp_path / "bare.keras"), "--raw-pixels", "--out", out]) == 2
    assert "carries no input normalization" in capsys.readouterr().err and not os.path.exists(out)
    assert cli_main(["export", str(tmp_path / "bare.keras"), "--raw-pixels", "--mean", "0",
                     "--std", "1", "--out", out]) == 0
    assert "raw uint8 pixels; normalization in the model" in capsys.readouterr().out
    with_input_normalization(model, 0.0, 1.0).save(tmp_path / "carried.keras")
    assert cli_main(["export", str(tmp_path / "carried.keras"), "--mean", "0", "--std", "1",
                     "--out", out]) == 2
    assert "drop --mean and --std" in capsys.readouterr().err


def test_cli_exports_a_search_directory(model, tmp_path, capsys):
    search = tmp_path / "tune"
    search.mkdir()
    with_input_normalization(model, 0.0, 1.0).save(search / "best_model.keras")
    (search / "search.json").write_text('{"dataset": "digits", "family": "wrn"}')
    out = tmp_path / "best-int8.tflite"
    assert cli_main(["export", str(search), "--quantize", "int8", "--calibration-samples", "40",
                     "--out", str(out)]) == 0  # calibrated on the search's dataset
    printed = capsys.readouterr().out
    assert "raw float32 pixels" in printed and "top-1 agreement" in printed
    assert out.stat().st_size > 0


# CLI ---------------------------------------------------------------------------------------

def test_cli_exports_a_run_directory(model, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "last.keras")
    out = tmp_path / "run-int8.tflite"
    code = cli_main(["export", str(run), "--quantize", "int8", "--calibration", "digits",
                     "--calibration-samples", "40", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and out.stat().st_size > 0
    assert "max abs error" in printed and "latency" in printed and "KiB" in printed
    code = cli_main(["export", str(run / "last.keras"), "--format", "saved_model",
                     "--out", str(tmp_path / "sm")])
    assert code == 0 and (tmp_path / "sm" / "saved_model.pb").is_file()


def test_cli_exports_a_registry_name_with_raw_pixels(tmp_path, capsys):
    out = tmp_path / "r20.tflite"
    code = cli_main(["export", "resnet20", "--input-shape", "32,32,3", "--raw-pixels",
                     "--mean", "0.49,0.48,0.45", "--std", "0.25,0.24,0.26", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert Interpreter(model_path=str(out)).get_input_details()[0]["dtype"] == np.uint8
    assert "uint8 / float32" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["missing/run"], "does not exist"),
    (["resnet-nope"], "unknown model name"),
    (["resnet20", "--quantize", "int8"], "needs --calibration"),
    (["resnet20", "--mean", "0.5"], "--mean and --std go together"),
    (["resnet20", "--input-shape", "32,x,3"], "--input-shape must be comma-separated"),
])
def test_cli_bad_sources_and_options(tmp_path, capsys, argv, message):
    assert cli_main(["export", *argv, "--out", str(tmp_path / "x.tflite")]) == 2
    assert message in capsys.readouterr().err


def test_cli_rejects_a_file_that_is_not_a_keras_model(tmp_path, capsys):
    bogus = tmp_path / "model.keras"
    bogus.write_text("not a zip")
    assert cli_main(["export", str(bogus), "--out", str(tmp_path / "x.tflite")]) == 2
    assert "is not a loadable Keras model file" in capsys.readouterr().err


# Every family ------------------------------------------------------------------------------



def set_batchnorm_statistics(model, x):
    """Give every BatchNorm the statistics of ``x`` (one training-mode pass, momentum 0).

    Some networks (MobileNetV2, Xception) lose their activations with depth at random
    initialization (moving mean 0, variance 1): their softmax is exactly uniform for every
    input, and comparing a file against them checks nothing. Only those get this treatment:
    random BatchNorm networks are chaotic (small input changes grow with depth; Yang et al.
    2019, "A Mean Field Theory of Batch Normalization"), so this also amplifies float32
    rounding, in Keras as much as in LiteRT."""
    norms = [layer for layer in model._flatten_layers()
             if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(x, training=True)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum


@pytest.mark.parametrize("marker, name, kwargs", [
    pytest.param(m, n, k, id=n, marks=[pytest.mark.slow] if heavy else [])
    for m, n, k, heavy in EXPORT_FAMILY_CASES])
def test_every_family_converts_in_float32_and_int8(tmp_path, marker, name, kwargs):
    assert marker in keras_resnets.list_models(), f"{marker} is no longer registered"
    keras.utils.set_random_seed(0)
    model = keras_resnets.create_model(name, **kwargs)
    data = np.random.default_rng(0).uniform(0, 1, (40, *kwargs["input_shape"])).astype("float32")
    if np.ptp(model(data[24:32]).numpy(), axis=0).max() < 1e-6:
        set_batchnorm_statistics(model, data[:24])
    outputs = model(data[24:]).numpy()
    assert np.ptp(outputs, axis=0).max() > 1e-6, "outputs do not depend on the input"
    f32 = export.export_tflite(model, tmp_path / "f32.tflite", verify_samples=data[24:32])
    assert f32.max_abs_error <= 1e-4
    int8 = export.export_tflite(model, tmp_path / "int8.tflite", "int8",
                                representative_data=data[:16], verify_samples=data[24:])
    classes = len(np.unique(outputs.argmax(-1)))
    print(f"{name}: float32 error {f32.max_abs_error:.1e}; int8 error {int8.max_abs_error:.3f}, "
          f"top-1 agreement {int8.top1_agreement:.2f} ({classes} classes predicted), "
          f"{f32.file_size_bytes / int8.file_size_bytes:.1f}x smaller")
    assert int8.samples == len(data[24:]) and np.isfinite(int8.max_abs_error)
    assert int8.file_size_bytes < 0.5 * f32.file_size_bytes  # tiny models: graph overhead

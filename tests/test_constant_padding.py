"""ConstantPadding2D (-inf before a 'valid' max-pool: PyTorch's padded MaxPool2d): values,
shapes, saving, counting and a builtins-only TFLite file (no PyTorch needed)."""

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets import primitives as P
from keras_resnets.blocks import Style, max_pool
from keras_resnets.layers import ConstantPadding2D


def torch_max_pool(x, size=3, stride=2, pad=1):
    """``torch.nn.MaxPool2d(size, stride, pad)`` in NumPy (NHWC): windows over an
    ``-inf``-padded map, ``floor((n + 2 pad - size) / stride) + 1`` of them per side."""
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=-np.inf)
    rows = (x.shape[1] + 2 * pad - size) // stride + 1
    cols = (x.shape[2] + 2 * pad - size) // stride + 1
    out = np.empty((x.shape[0], rows, cols, x.shape[3]), x.dtype)
    for i in range(rows):
        for j in range(cols):
            window = padded[:, i * stride:i * stride + size, j * stride:j * stride + size]
            out[:, i, j] = window.max(axis=(1, 2))
    return out


def negative_map(size, seed=0):
    """Mostly negative values, as after a BatchNorm without ReLU."""
    return np.random.default_rng(seed).normal(-1.0, 0.5, (2, size, size, 3)).astype("float32")


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("size", [8, 9])
def test_torch_max_pool_matches_pytorchs_on_negative_maps(size):
    x = negative_map(size)
    inputs = keras.Input((size, size, 3))
    torch_style = keras.Model(inputs, max_pool(inputs, 3, 2, name="p", style=Style(padding="torch")))
    np.testing.assert_array_equal(np.asarray(torch_style(x)), torch_max_pool(x))
    assert isinstance(torch_style.get_layer("p_pad"), ConstantPadding2D)
    zero_padded = keras.layers.MaxPooling2D(3, 2)(keras.layers.ZeroPadding2D(1)(x))
    assert np.abs(np.asarray(zero_padded) - torch_max_pool(x)).max() > 0.1  # zeros win
    keras_same = np.asarray(keras.layers.MaxPooling2D(3, 2, padding="same")(x))
    differs = np.abs(keras_same - torch_max_pool(x)).max() > 0.1
    assert differs == (size % 2 == 0)  # 'same' shifts the windows on even maps only


@pytest.mark.backend_agnostic
def test_the_layer_pads_with_its_value_and_reports_its_shape():
    layer = ConstantPadding2D(((1, 2), (0, 3)), value=-5.0)
    y = np.asarray(layer(np.ones((1, 4, 4, 2), "float32")))
    assert y.shape == layer.compute_output_shape((1, 4, 4, 2)) == (1, 7, 7, 2)
    assert (y[:, 1:5, 0:4] == 1).all() and (y == -5).sum() == (7 * 7 - 16) * 2
    assert ConstantPadding2D(2).compute_output_shape((None, None, 5, 1)) == (None, None, 9, 1)
    assert ConstantPadding2D().value == float("-inf")
    for bad in (-1, ((1, 2),), ((1, 2), (3,)), "same", ((1, -1), (0, 0)), True):
        with pytest.raises(ValueError, match=r"padding must be an int >= 0 or "
                                             r"\(\(top, bottom\), \(left, right\)\)"):
            ConstantPadding2D(bad)


@pytest.mark.backend_agnostic
def test_a_model_with_it_saves_and_loads_in_safe_mode(tmp_path):
    inputs = keras.Input((9, 9, 3))
    y = keras.layers.MaxPooling2D(3, 2)(ConstantPadding2D(1, name="pad")(inputs))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 1)(y))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert again.get_layer("pad").get_config()["value"] == float("-inf")
    x = negative_map(9)
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(model(x)))


@pytest.mark.parametrize(("name", "options"), [("xception", {"padding": "torch"}),
                                               ("resnet50v2", {"stride_at_end": False,
                                                               "padding": "torch"})])
def test_counts_see_the_padding_layers(name, options):
    probe = P.ConstantPad(((1, 0), (2, 3)))(P.Probe.input((5, 5, 8)))
    assert probe.shape == (6, 10, 8) and probe.tally.total == probe.tally.macs == 0
    shape = (96, 96, 3)
    model = keras_resnets.create_model(name, input_shape=shape, classes=10, **options)
    assert any(isinstance(layer, ConstantPadding2D) for layer in model.layers)
    assert keras_resnets.count_params(name, input_shape=shape, classes=10,
                                      **options).total == model.count_params()
    # the padded pools cost nothing and keep the sizes: the same MACs as Keras's padding
    keras_options = {k: v for k, v in options.items() if k != "padding"}
    assert keras_resnets.count_macs(name, input_shape=shape, classes=10, **options) == \
        keras_resnets.count_macs(name, input_shape=shape, classes=10, **keras_options)


def test_it_converts_to_a_builtins_only_tflite_file(tmp_path):
    export = pytest.importorskip("keras_resnets.export")
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = max_pool(x, 3, 2, name="pool", style=Style(padding="torch"))
    outputs = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    report = export.export_tflite(model, tmp_path / "pad.tflite", verify_samples=negative_map(16))
    assert report.max_abs_error is not None and report.max_abs_error < 1e-4, report
    from ai_edge_litert.interpreter import Interpreter

    ops = {op["op_name"] for op in
           Interpreter(model_path=str(tmp_path / "pad.tflite"))._get_ops_details()}
    assert "PADV2" in ops and not any(op.startswith("Flex") for op in ops), ops


def test_the_padding_option_is_checked_and_keeps_keras_files_to_keras_padding():
    with pytest.raises(ValueError, match=r"padding must be one of 'keras', 'torch'; got 'same'"):
        keras_resnets.ResNet50V2(padding="same")
    with pytest.raises(ValueError, match=r"padding must be one of 'keras', 'torch'; got 1"):
        keras_resnets.create_model("xception", padding=1)
    for build in (keras_resnets.Xception, keras_resnets.ResNet50V2):
        with pytest.raises(ValueError, match=r"padding must be 'keras' for weights='imagenet'"):
            build(padding="torch", weights="imagenet")
    assert keras_resnets.get_spec("xception").keras_weights == "xception"
    assert keras_resnets.get_spec("xception", padding="torch").keras_weights is None
    assert keras_resnets.get_spec("resnet50v2", padding="torch").keras_weights is None

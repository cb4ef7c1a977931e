"""Every registered residual-family model: builds, counts, runs, trains and round-trips."""

import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_resnets as kr

RESIDUAL_PATTERNS = ("resnet*", "preact-resnet*", "wrn-*", "wide-resnet*", "resnext*")
HEAVY = {"resnet1202", "preact-resnet1001", "resnet200", "resnet200v2", "resnet152",
         "resnet152v2", "resnext101-32x8d", "resnext101-32x4d", "wide-resnet101-2"}


def residual_names():
    names = sorted({n for p in RESIDUAL_PATTERNS for n in kr.list_models(p)})
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in names]


def small_input(name):
    spec = kr.get_spec(name)
    return (64, 64, 3) if spec.default_input_shape[0] == 224 else spec.default_input_shape


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name", residual_names())
def test_build_count_and_safe_round_trip(name, tmp_path):
    shape = small_input(name)
    model = kr.create_model(name, input_shape=shape, classes=7)
    counted = kr.count_params(name, input_shape=shape, classes=7)
    assert model.count_params() == counted.total
    assert trainable_count(model) == counted.trainable
    x = np.random.default_rng(0).uniform(-1, 1, (2, *shape)).astype("float32")
    # Batch statistics: untrained 1000-layer nets overflow with BatchNorm's initial
    # moving statistics (each residual sum doubles the variance), as expected.
    y = np.asarray(model(x, training=True))
    assert y.shape == (2, 7)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-5)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = kr.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(np.asarray(reloaded(x, training=True)), y)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name,kwargs", [
    ("resnet20", {}), ("wrn-10-2", {"dropout_rate": 0.3}), ("resnext11-2x4d", {}),
    ("resnet18", {"input_shape": (32, 32, 3)}), ("preact-resnet11", {}),
    ("resnet20", {"drop_path_rate": 0.2, "se_ratio": 0.25}),
])
def test_one_training_step(name, kwargs):
    model = kr.create_model(name, classes=5, **kwargs)
    shape = model.input_shape[1:]
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (4, *shape)).astype("float32")
    y = rng.integers(0, 5, 4)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert changed >= len(model.trainable_weights)


@pytest.mark.backend_agnostic
def test_features_only_returns_stage_outputs():
    model = kr.ResNet50(input_shape=(64, 64, 3), features_only=True)
    outputs = model(np.zeros((1, 64, 64, 3), "float32"))
    assert {k: tuple(v.shape) for k, v in outputs.items()} == {
        "C2": (1, 16, 16, 256), "C3": (1, 8, 8, 512), "C4": (1, 4, 4, 1024),
        "C5": (1, 2, 2, 2048)}
    cifar = kr.WideResNet(16, 2, features_only=True)
    assert [tuple(t.shape[1:]) for t in cifar.outputs] == [(32, 32, 32), (16, 16, 64),
                                                           (8, 8, 128)]


@pytest.mark.backend_agnostic
def test_pooling_and_headless_outputs():
    assert kr.ResNet18(include_top=False, input_shape=(64, 64, 3)).output_shape == (
        None, 2, 2, 512)
    assert kr.ResNet18(include_top=False, pooling="max",
                       input_shape=(64, 64, 3)).output_shape == (None, 512)
    assert kr.ResNet18(include_top=False, input_shape=(None, None, 3)).output_shape == (
        None, None, None, 512)


@pytest.mark.backend_agnostic
def test_plain_and_option_a_networks():
    plain = kr.ResNet(20, stem="cifar", shortcut="none")
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)
    option_a = kr.ResNet(20, stem="cifar")
    pads = [layer for layer in option_a.layers if isinstance(layer, kr.layers.ChannelPadShortcut)]
    assert len(pads) == 2
    # same convolutions, so the plain net has exactly ResNet-20's parameters
    assert plain.count_params() == option_a.count_params()
    option_b = kr.ResNet(20, stem="cifar", shortcut="B")
    assert option_b.count_params() - option_a.count_params() == (16 * 32 + 4 * 32) + (
        32 * 64 + 4 * 64)


@pytest.mark.backend_agnostic
def test_stochastic_depth_rises_linearly_and_acts_only_in_training():
    model = kr.ResNet(20, stem="cifar", drop_path_rate=0.4)
    rates = [layer.rate for layer in model.layers
             if isinstance(layer, kr.layers.StochasticDepth)]
    # nine blocks, rate i / 8 * 0.4; the first block (rate 0) gets no layer
    assert rates == pytest.approx([0.4 * i / 8 for i in range(1, 9)])
    x = np.random.default_rng(2).uniform(size=(8, 32, 32, 3)).astype("float32")
    inference = [np.asarray(model(x, training=False)) for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    training = [np.asarray(model(x, training=True)) for _ in range(2)]
    assert np.abs(training[0] - training[1]).max() > 1e-6


@pytest.mark.backend_agnostic
def test_version_2_cifar_blocks():
    assert kr.get_spec("preact-resnet164").block == "preact_bottleneck"
    assert kr.ResNet(110, version=2, stem="cifar").count_params() == kr.count_params(
        "preact-resnet110").total
    assert kr.get_spec("preact-resnet110").block == "preact"
    bottleneck_110 = kr.count_params("preact-resnet110", block="bottleneck").trainable
    assert bottleneck_110 != kr.count_params("preact-resnet110").trainable


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_computes_in_half_and_returns_float32(policy):
    keras.mixed_precision.set_dtype_policy(policy)
    model = kr.WideResNet(10, 1)
    conv = model.get_layer("conv2_block1_1_conv")
    assert conv.compute_dtype == policy.split("_")[1]
    y = model(np.zeros((2, 32, 32, 3), "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert model.get_layer("predictions").compute_dtype == "float32"


@pytest.mark.backend_agnostic
def test_inverted_width_and_custom_block():
    calls = []

    def tiny_block(x, filters, stride=1, *, name, **_):
        calls.append(name)
        return kr.blocks.conv_bn(x, filters, 3, stride, name=name)

    model = kr.ResNet(8, stem="cifar", block=tiny_block, width=0.5, classes=3)
    # the counting pass and the build run the same block code
    assert calls == ["conv2_block1", "conv3_block1", "conv4_block1"] * 2
    assert model.output_shape == (None, 3)
    assert model.get_layer("conv4_block1_conv").filters == 32


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_builds_and_trains_on_torch_backend():
    code = ("import numpy as np, keras, keras_resnets as kr\n"
            "m = kr.create_model('resnet20', classes=3)\n"
            "m.compile('sgd', 'sparse_categorical_crossentropy')\n"
            "x = np.random.rand(4, 32, 32, 3).astype('float32')\n"
            "print(keras.backend.backend(), np.isfinite(m.train_on_batch(x, np.arange(4) % 3)))")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=600, check=True).stdout
    assert out.split()[-2:] == ["torch", "True"]

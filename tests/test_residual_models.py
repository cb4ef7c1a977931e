"""The residual families: training steps, options and the deep nets (every registered name
builds, counts and round-trips in tests/test_contract.py)."""

import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_resnets as kr

JAX_TOO = pytest.mark.backend_agnostic  # CI repeats these on the JAX backend


@pytest.mark.parametrize("name,kwargs", [
    ("resnet20", {}), pytest.param("wrn-10-2", {"dropout_rate": 0.3}, marks=JAX_TOO),
    ("resnext11-2x4d", {}), ("resnet18", {"input_shape": (32, 32, 3)}), ("preact-resnet11", {}),
    pytest.param("resnet20", {"drop_path_rate": 0.2, "se_ratio": 0.25}, marks=JAX_TOO),
])
def test_one_training_step(name, kwargs):
    model = kr.create_model(name, classes=5, **kwargs)
    shape = model.input_shape[1:]
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (4, *shape)).astype("float32")
    y = rng.integers(0, 5, 4)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    # Two steps: each residual branch starts as zero (its last BN's gamma or, in
    # pre-activation blocks, its last kernel), so the layers before that one get no
    # gradient until it has moved off zero in the first step.
    losses = [model.train_on_batch(x, y) for _ in range(2)]
    assert np.isfinite(losses).all()
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


def test_pooling_and_headless_outputs():
    assert kr.ResNet18(include_top=False, input_shape=(64, 64, 3)).output_shape == (
        None, 2, 2, 512)
    assert kr.ResNet18(include_top=False, pooling="max",
                       input_shape=(64, 64, 3)).output_shape == (None, 512)
    assert kr.ResNet18(include_top=False, input_shape=(None, None, 3)).output_shape == (
        None, None, None, 512)


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
    # the usual initialisation: a fresh zero-initialised branch has nothing to drop
    model = kr.ResNet(20, stem="cifar", drop_path_rate=0.4, zero_init_residual=False)
    rates = [layer.rate for layer in model.layers
             if isinstance(layer, kr.layers.StochasticDepth)]
    # nine blocks, rate i / 8 * 0.4; the first block (rate 0) gets no layer
    assert rates == pytest.approx([0.4 * i / 8 for i in range(1, 9)])
    x = np.random.default_rng(2).uniform(size=(8, 32, 32, 3)).astype("float32")
    inference = [np.asarray(model(x, training=False)) for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    training = [np.asarray(model(x, training=True)) for _ in range(2)]
    assert np.abs(training[0] - training[1]).max() > 1e-6


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


ZERO_INIT_BLOCKS = [  # kind, options, input channels for filters=8
    ("basic", {}, 8), ("bottleneck", {"groups": 2}, 32), ("preact", {}, 8),
    ("preact", {"kernels": (1, 3, 1), "se_ratio": 0.25}, 8), ("preact_bottleneck", {}, 32),
    ("inverted_residual", {}, 8), ("xception", {}, 8),
]


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("kind,options,channels", ZERO_INIT_BLOCKS)
def test_residual_blocks_start_as_the_identity(kind, options, channels):
    """Goyal et al. 2017: the branch's last BN has gamma 0 (or a pre-activation branch's
    last conv a zero kernel), so a fresh block passes its input through unchanged."""
    x = np.random.default_rng(3).uniform(0, 1, (2, 8, 8, channels)).astype("float32")
    outputs = []
    for zero_init in (True, False):
        inputs = keras.Input((8, 8, channels))
        block = kr.blocks.BLOCK_KINDS[kind]
        typed = block.options(zero_init_residual=zero_init, **options)
        y = block.build(inputs, 8, 1, name="b", style=kr.blocks.DEFAULT_STYLE, dilation=1,
                        drop_rate=0.0, **vars(typed))
        outputs.append(np.asarray(keras.Model(inputs, y)(x)))
    np.testing.assert_array_equal(outputs[0], x)  # inputs >= 0 pass ReLU too
    assert np.abs(outputs[1] - x).max() > 1e-3


def test_zero_init_only_where_a_branch_is_summed():
    def gamma(model, layer):
        return float(np.asarray(model.get_layer(layer).gamma).mean())

    resnet = kr.create_model("resnet20")
    assert (gamma(resnet, "conv2_block1_2_bn"), gamma(resnet, "conv2_block1_1_bn")) == (0, 1)
    assert gamma(kr.create_model("resnet20", zero_init_residual=False), "conv2_block1_2_bn") == 1
    assert gamma(kr.ResNet(20, stem="cifar", shortcut="none"), "conv2_block1_2_bn") == 1
    # option A pads the new channels with zeros: only the branch can fill them
    assert [gamma(resnet, f"conv{s}_block{b}_2_bn") for s in (3, 4) for b in (1, 2)] == [
        1, 0, 1, 0]
    bottleneck = kr.ResNet(29, stem="cifar", block="bottleneck", shortcut="A")
    assert (gamma(bottleneck, "conv3_block1_3_bn"), gamma(bottleneck, "conv3_block2_3_bn")) == (
        1, 0)
    mobile = kr.create_model("mobilenetv2-0.35", input_shape=(32, 32, 3))
    # block_1 changes the shape (no sum); block_2 repeats it (a sum)
    assert (gamma(mobile, "block_1_project_BN"), gamma(mobile, "block_2_project_BN")) == (1, 0)
    wrn = kr.create_model("wrn-10-1")
    assert not np.asarray(wrn.get_layer("conv2_block1_2_conv").kernel).any()
    assert np.asarray(wrn.get_layer("conv2_block1_1_conv").kernel).any()


@pytest.mark.slow
def test_option_a_resnet_learns_in_two_epochs(tmp_path):
    """With every branch at zero, ResNet-20's zero-padded channels stayed at zero and it
    stayed at chance (13.6% after 3 epochs on digits); 97.5% without zero init."""
    from keras_resnets.training import train

    result = train("resnet20", dataset="digits", recipe="fast", epochs=2, batch_size=64,
                   run_dir=str(tmp_path / "run"), verbose=0)
    assert result.metrics["test_accuracy"] > 0.5, result.metrics


LOAD_IN_A_FRESH_PROCESS = """
import sys, numpy as np, keras
path, x_path = sys.argv[1:]
try:
    keras.saving.load_model(path)
    print("loaded without keras_resnets")
except Exception as error:  # Keras's own message, which names our package
    print("refused:", "keras_resnets>ChannelPadShortcut" in str(error))
import keras_resnets  # registers the custom layers
model = keras_resnets.load_model(path)
np.save(x_path + ".out.npy", model.predict_on_batch(np.load(x_path)))
"""


@pytest.mark.backend_agnostic
def test_saved_custom_layers_load_in_a_fresh_process(tmp_path):
    """Option-A shortcuts, stochastic depth and SE: without ``import keras_resnets`` Keras
    refuses, naming the layer by its registered name; after it, the model loads."""
    model = kr.ResNet(8, stem="cifar", drop_path_rate=0.1, se_ratio=0.25, classes=3)
    custom = {type(layer).__name__ for layer in model.layers
              if type(layer).__module__ == "keras_resnets.layers"}
    assert custom == {"ChannelPadShortcut", "StochasticDepth"}
    path, x_path = tmp_path / "r8.keras", tmp_path / "x.npy"
    model.save(path)
    x = np.random.default_rng(4).uniform(size=(2, 32, 32, 3)).astype("float32")
    np.save(x_path, x)
    out = subprocess.run([sys.executable, "-c", LOAD_IN_A_FRESH_PROCESS, str(path), str(x_path)],
                         capture_output=True, text=True, timeout=600, check=True).stdout
    assert "refused: True" in out.splitlines()
    np.testing.assert_array_equal(np.load(f"{x_path}.out.npy"), model.predict_on_batch(x))

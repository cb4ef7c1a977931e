"""The block zoo: parameter arithmetic (the papers' figures, as docs/blocks.md derives them), layer names,
counter == Keras for every block, and the residual engine running the new blocks."""

import functools

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets import blocks as B
from keras_resnets import primitives as P
from keras_resnets.engine import NetworkSpec, Stage, Stem


def tally(fn, shape):
    """Count ``fn`` on a probe of ``shape``: (tally, output shape)."""
    probe = P.Probe.input(shape)
    out = fn(probe)
    return probe.tally, out.shape


def as_model(fn, shape):
    inputs = keras.Input(shape)
    return keras.Model(inputs, fn(inputs))


def conv_weights(model):
    """Weights of the convolution kernels (and biases) only: what the survey counts."""
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    return sum(int(np.prod(w.shape)) for layer in model.layers if isinstance(layer, kinds)
               for w in layer.weights)


def bn_trainable(*widths):
    return sum(2 * w for w in widths)


# --- the block arithmetic of the papers (docs/blocks.md) ------------------------------------

def test_depthwise_separable_vs_full_3x3_16_to_32():
    full, _ = tally(P.Conv(32, 3, name="full"), (8, 8, 16))
    assert full.trainable == 4_608
    block = functools.partial(B.depthwise_separable_conv, filters=32, name="ds")
    separable, shape = tally(block, (8, 8, 16))
    assert shape == (8, 8, 32)
    assert separable.trainable == 656 + bn_trainable(16, 32)
    assert conv_weights(as_model(block, (8, 8, 16))) == 656
    assert round(656 / 4_608, 3) == 0.142


def test_bottleneck_vs_full_3x3_512():
    full, _ = tally(P.Conv(512, 3, name="full"), (14, 14, 512))
    assert full.trainable == 2_359_296
    block = functools.partial(B.bottleneck_block, filters=128, name="bneck")  # 512 -> 128 -> 512
    bottleneck, shape = tally(block, (14, 14, 512))
    assert shape == (14, 14, 512)
    assert bottleneck.trainable == 278_528 + bn_trainable(128, 128, 512)
    assert conv_weights(as_model(block, (14, 14, 512))) == 278_528


@pytest.mark.parametrize("n, percent", [(7, 28.6), (3, 66.7), (5, 40.0)])
def test_factorized_vs_full(n, percent):
    c = 64
    full, _ = tally(P.Conv(c, n, name="full"), (17, 17, c))
    pair, shape = tally(functools.partial(B.factorized_conv, filters=c, kernel_size=n, name="f"),
                        (17, 17, c))
    assert shape == (17, 17, c)
    weights = pair.trainable - bn_trainable(c, c)
    assert weights == 2 * n * c * c
    assert round(100 * weights / full.trainable, 1) == percent
    assert round(100 * pair.macs / full.macs, 1) == percent
    if n == 3:
        assert round(100 * weights / full.trainable) == 67  # the survey's "67%"


# --- each block: arithmetic, names, counter == Keras ----------------------------------------

MIXED0 = [[(64, 1)], [(48, 1), (64, 5)], [(64, 1), (96, 3), (96, 3)], ["avg", (32, 1)]]


def test_inception_block_arithmetic_and_names():
    block = functools.partial(B.inception_block, branches=MIXED0, name="mixed0")
    counted, shape = tally(block, (35, 35, 192))
    assert shape == (35, 35, 64 + 64 + 96 + 32)
    convs = 192 * 64 + (192 * 48 + 25 * 48 * 64) + (192 * 64 + 9 * 64 * 96 + 9 * 96 * 96) + 192 * 32
    assert counted.trainable == convs + bn_trainable(64, 48, 64, 64, 96, 96, 32)
    model = as_model(block, (35, 35, 192))
    names = {layer.name for layer in model.layers}
    assert {"mixed0", "mixed0_b1_2_conv", "mixed0_b1_2_bn", "mixed0_b1_2_relu",
            "mixed0_b3_1_pool"} <= names
    assert model.get_layer("mixed0_b1_2_conv").kernel.shape == (5, 5, 48, 64)


def test_inception_block_reduction_nested_and_callable_steps():
    expanded = [[(8, (1, 3))], [(8, (3, 1))]]
    branches = [
        [(16, 3, 2, "valid")],                                       # strided conv
        [(8, 3, 2, "valid"), expanded],                              # nested filter bank
        [functools.partial(B.factorized_conv, filters=8, kernel_size=7), ("max", 3, 2)],
        [("max", 3, 2)],                                             # pooling, valid
    ]
    block = functools.partial(B.inception_block, branches=branches, name="m")
    counted, shape = tally(block, (17, 17, 4))
    assert shape == (8, 8, 16 + 16 + 8 + 4)
    model = as_model(block, (17, 17, 4))
    assert model.output.shape == (None, 8, 8, 44)
    assert model.count_params() == counted.total
    assert model.get_layer("m_b1_2").__class__.__name__ == "Concatenate"
    assert model.get_layer("m_b2_1_2_conv").kernel.shape == (7, 1, 8, 8)


def test_inception_block_rejects_bad_steps():
    x = P.Probe.input((8, 8, 4))
    with pytest.raises(ValueError, match="branch step"):
        B.inception_block(x, branches=[[(8, 1), "median"]], name="bad")
    with pytest.raises(ValueError, match="non-empty list"):
        B.inception_block(x, branches=[], name="bad")
    with pytest.raises(ValueError, match="order"):
        B.factorized_conv(x, 8, 7, order="7x7", name="bad")


@pytest.mark.parametrize("size, pad", [(32, ((0, 1), (0, 1))), (33, ((1, 1), (1, 1)))])
def test_depthwise_separable_strided_padding_matches_tensorflow_same(size, pad):
    x = P.Probe.input((size, size, 8))
    assert B.correct_pad(x, 3) == pad
    model = as_model(functools.partial(B.depthwise_separable_conv, filters=16, stride=2,
                                       name="ds"), (size, size, 8))
    assert model.get_layer("ds_pad").padding == pad
    assert model.output.shape == (None, (size + 1) // 2, (size + 1) // 2, 16)
    assert [layer.name for layer in model.layers[1:]] == [
        "ds_pad", "ds_depthwise", "ds_depthwise_BN", "ds_depthwise_relu", "ds_project",
        "ds_project_BN", "ds_project_relu"]


def test_inverted_residual_arithmetic_and_residual_rule():
    c, t = 24, 6
    block = functools.partial(B.inverted_residual_block, filters=c, name="block_2", expansion=t)
    counted, shape = tally(block, (28, 28, c))
    assert shape == (28, 28, c)
    convs = c * t * c + 9 * t * c + t * c * c
    assert counted.trainable == convs + bn_trainable(t * c, t * c, c)
    model = as_model(block, (28, 28, c))
    names = [layer.name for layer in model.layers]
    assert names[-1] == "block_2_add"
    assert "block_2_expand_relu" in names and "block_2_project_relu" not in names  # linear
    assert isinstance(model.get_layer("block_2_expand_relu"), keras.layers.ReLU)
    # shapes differ: no residual; expansion 1: no expansion layer
    strided = as_model(functools.partial(B.inverted_residual_block, filters=32, stride=2,
                                         name="b"), (28, 28, c))
    assert not any(isinstance(layer, keras.layers.Add) for layer in strided.layers)
    plain = as_model(functools.partial(B.inverted_residual_block, filters=16, expansion=1,
                                       name="expanded_conv"), (28, 28, 16))
    assert plain.layers[1].name == "expanded_conv_depthwise"
    no_shortcut = as_model(functools.partial(B.inverted_residual_block, filters=c, name="n",
                                             shortcut="none"), (28, 28, c))
    assert not any(isinstance(layer, keras.layers.Add) for layer in no_shortcut.layers)


def test_xception_block_arithmetic():
    block = functools.partial(B.xception_block, filters=(128, 128), stride=2, name="block2",
                              activate_first=False)
    counted, shape = tally(block, (37, 37, 64))
    assert shape == (19, 19, 128)
    convs = (9 * 64 + 64 * 128) + (9 * 128 + 128 * 128) + 64 * 128  # two separable + shortcut
    assert counted.trainable == convs + bn_trainable(128, 128, 128)
    model = as_model(block, (37, 37, 64))
    names = [layer.name for layer in model.layers]
    assert names[1] == "block2_sepconv1" and "block2_sepconv2_act" in names
    assert "block2_pool" in names and names[-1] == "block2_add"
    middle, shape = tally(functools.partial(B.xception_block, filters=728, name="block5"),
                          (19, 19, 728))
    assert shape == (19, 19, 728)
    assert middle.trainable == 3 * (9 * 728 + 728 * 728) + bn_trainable(728, 728, 728)


def test_aspp_arithmetic_and_shape():
    c, f, rates = 64, 32, (6, 12, 18)
    block = functools.partial(B.aspp, filters=f, rates=rates, name="aspp")
    counted, shape = tally(block, (8, 8, c))
    assert shape == (8, 8, f)
    convs = c * f + len(rates) * 9 * c * f + c * f + (len(rates) + 2) * f * f
    assert counted.trainable == convs + bn_trainable(*[f] * (len(rates) + 3))
    model = as_model(block, (8, 8, c))
    assert model.get_layer("aspp_b2_conv").dilation_rate == (12, 12)
    assert model.get_layer("aspp_concat").output.shape == (None, 8, 8, f * 5)
    assert model.get_layer("aspp_pool_resize").output.shape == (None, 8, 8, f)
    with pytest.raises(ValueError, match="known feature-map size"):
        B.aspp(keras.Input((None, None, c)), f, name="a")


def test_squeeze_excite_option_on_residual_blocks():
    c, ratio = 64, 0.25
    se = int(c * ratio)
    extra = c * se + se + se * c + c  # reduce and expand 1x1 convs with biases
    for block in (B.basic_block, B.bottleneck_block, B.preact_block):
        filters = c // 4 if block is B.bottleneck_block else c
        plain, _ = tally(functools.partial(block, filters=filters, name="b"), (8, 8, c))
        fn = functools.partial(block, filters=filters, name="b", se_ratio=ratio)
        with_se, shape = tally(fn, (8, 8, c))
        assert shape == (8, 8, c)
        assert with_se.trainable - plain.trainable == extra
        model = as_model(fn, (8, 8, c))
        assert isinstance(model.get_layer("b_se_scale"), keras.layers.Multiply)
        assert model.count_params() == with_se.total


ALL_BLOCKS = {
    "inception": (functools.partial(B.inception_block, branches=MIXED0, name="m"), (9, 9, 16)),
    "factorized": (functools.partial(B.factorized_conv, filters=12, kernel_size=3, name="f",
                                     mid_filters=6, order="nx1"), (9, 9, 16)),
    "depthwise_separable": (functools.partial(B.depthwise_separable_conv, filters=24, stride=2,
                                              name="d", se_ratio=0.25), (9, 9, 16)),
    "inverted_residual": (functools.partial(B.inverted_residual_block, filters=16, name="i",
                                            se_ratio=0.25, drop_rate=0.1), (9, 9, 16)),
    "xception": (functools.partial(B.xception_block, filters=(16, 32), stride=2, name="x",
                                   se_ratio=0.25), (9, 9, 16)),
    "aspp": (functools.partial(B.aspp, filters=8, rates=(2, 4), name="a"), (9, 9, 16)),
    "bottleneck": (functools.partial(B.bottleneck_block, filters=8, stride=2, name="b"),
                   (9, 9, 16)),
}


@pytest.mark.backend_agnostic  # every block kind runs on JAX too
@pytest.mark.parametrize("kind", sorted(ALL_BLOCKS))
def test_counter_equals_keras(kind):
    fn, shape = ALL_BLOCKS[kind]
    counted, out_shape = tally(fn, shape)
    model = as_model(fn, shape)
    assert model.count_params() == counted.total
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == counted.trainable
    assert tuple(model.output.shape[1:]) == out_shape
    y = model.predict_on_batch(np.random.default_rng(0).normal(size=(2, *shape)).astype("float32"))
    assert np.isfinite(y).all()


# --- the residual engine uses any registered block -------------------------------------------

def test_new_blocks_are_registered():
    assert B.RESIDUAL_BLOCKS["inverted_residual"] is B.inverted_residual_block
    assert B.RESIDUAL_BLOCKS["xception"] is B.xception_block


@pytest.mark.backend_agnostic  # every block kind runs on JAX too
@pytest.mark.parametrize("options", [
    {"block": "inverted_residual"},
    {"block": "xception"},
    {"se_ratio": 0.25},
    {"block": "inverted_residual", "se_ratio": 0.25},
    {"block": functools.partial(B.inverted_residual_block, expansion=4)},
])
def test_cifar_resnet_with_zoo_blocks(options):
    model = keras_resnets.ResNet(20, stem="cifar", **options)
    spec = keras_resnets.models.resnet.resnet_spec(20, stem="cifar", **options)
    counted = keras_resnets.engine.count(spec, classes=10)
    assert model.count_params() == counted.total
    assert model.output.shape == (None, 10)
    y = model.predict_on_batch(np.zeros((2, 32, 32, 3), "float32"))
    assert np.allclose(y.sum(-1), 1.0, atol=1e-5)
    names = {layer.name for layer in model.layers}
    if options.get("block") == "inverted_residual":
        assert "conv2_block2_add" in names and "conv3_block1_add" not in names
        assert "conv2_block1_expand" in names
    if options.get("se_ratio"):
        assert "conv4_block3_se_scale" in names


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(("stage", "message"), [
    (Stage(2, 12, 2, kind="dense_layer"), r"'dense_layer' always strides by 1; got stride=2"),
    (Stage(1, None, 1, kind="transition"), r"'transition' always strides by 2; got stride=1"),
    (Stage(1, 12, 2, kind="transition"), r"'transition' sets its own width: .* got 12"),
    (Stage(1, 16, 1, dilation=2, kind="pool"), r"'pool' cannot dilate; got dilation=2"),
    (Stage(1, 8, 1, kind="final_bn_relu"), r"'final_bn_relu' sets its own width"),
])
def test_a_block_kind_refuses_what_it_cannot_take(stage, message):
    spec = NetworkSpec(name="probe", stem=Stem("cifar", 16),
                       stages=(Stage(1, 16, 1, kind="dense_layer",
                                     options=B.DenseLayerOptions()), stage),
                       default_input_shape=(32, 32, 3), default_classes=10)
    with pytest.raises(ValueError, match=message):
        keras_resnets.engine.count(spec)

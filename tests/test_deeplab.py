"""DeepLabV3: dilated residual backbones at output stride 8/16, ASPP head, per-pixel class
scores at input resolution, counters, a training step on every backend, saving, errors."""

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets import engine
from keras_resnets.models.deeplab import ATROUS_RATES, deeplab_spec
from keras_resnets.models.resnet import resnet_spec

SIZE = 64


def predict(model, x):
    return model.predict_on_batch(x)  # compiled: much faster than eager calls on JAX


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (2, SIZE, SIZE, 3)).astype("float32")


# --- the backbone's output stride -------------------------------------------------------------

def dilations(model, prefix):
    return [layer.dilation_rate[0] for layer in model.layers
            if layer.name.startswith(prefix) and layer.name.endswith("_2_conv")]


def test_with_output_stride_replaces_strides_by_dilation():
    resnet50 = resnet_spec(50)
    assert (resnet50.stem_reduction, resnet50.reduction) == (4, 32)
    assert resnet50.with_output_stride(16).output_stride == 16
    # ResNet v2 (keras layout: stride in the last block of stages 2-4): at output stride 16
    # the last block of stage 4 gives up its stride, so it and stage 5 dilate by 2
    v2 = engine.build_model(resnet_spec(50, version=2).with_output_stride(16),
                            input_shape=(SIZE, SIZE, 3))
    assert dilations(v2, "conv4_") == [1, 1, 1, 1, 1, 2]
    assert dilations(v2, "conv5_") == [2, 2, 2]
    assert v2.get_layer("conv5_block3_out").output.shape[1] == SIZE // 16
    with pytest.raises(ValueError, match="out of reach"):
        resnet_spec(20, stem="cifar").with_output_stride(16)


# --- the model --------------------------------------------------------------------------------

@pytest.mark.backend_agnostic
@pytest.mark.parametrize("output_stride", [16, 8])
def test_segmentation_output_at_input_resolution(output_stride, images):
    model = keras_resnets.DeepLabV3("resnet18", classes=5, output_stride=output_stride,
                                    input_shape=(SIZE, SIZE, 3))
    scores = predict(model, images)
    assert scores.shape == (2, SIZE, SIZE, 5)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)  # softmax per pixel
    features = SIZE // output_stride
    assert model.get_layer("aspp_b0_conv").input.shape == (None, features, features, 512)
    assert model.get_layer("logits").output.shape == (None, features, features, 5)
    counted = keras_resnets.count_params("deeplabv3-resnet18", classes=5,
                                         output_stride=output_stride)
    assert counted == (trainable_count(model), model.count_params())


@pytest.mark.parametrize("output_stride", [16, 8])
def test_resnet50_backbone_dilation(output_stride):
    model = keras_resnets.DeepLabV3("resnet50", classes=5, output_stride=output_stride,
                                    input_shape=(SIZE, SIZE, 3))
    features = SIZE // output_stride
    assert model.get_layer("aspp_b0_conv").input.shape == (None, features, features, 2048)
    assert model.output.shape == (None, SIZE, SIZE, 5)
    dilation = {16: (1, 2), 8: (2, 4)}[output_stride]
    assert model.get_layer("conv4_block6_2_conv").dilation_rate == (dilation[0],) * 2
    assert model.get_layer("conv5_block3_2_conv").dilation_rate == (dilation[1],) * 2
    rates = ATROUS_RATES[output_stride]
    assert [model.get_layer(f"aspp_b{i}_conv").dilation_rate[0] for i in (1, 2, 3)] == list(rates)
    counted = keras_resnets.count_params("deeplabv3-resnet50", classes=5,
                                         output_stride=output_stride)
    assert counted == (trainable_count(model), model.count_params())


def test_counts_match_torchvision():
    # torchvision's deeplabv3_resnet50 has 42,004,074 parameters with its auxiliary
    # classifier (3x3 conv 1024->256, BN, 1x1 conv 256->21: 2,365,205); our head is the
    # same and so is the bias-free ResNet-50 (v1.5 has the same counts as v1).
    spec = deeplab_spec(resnet_spec(50, version=1.5))
    assert engine.count(spec, classes=21).trainable == 42_004_074 - 2_365_205
    # the keras.applications ResNet-50 backbone adds its 26,560 conv biases
    assert keras_resnets.count_params("deeplabv3-resnet50").trainable == 39_638_869 + 26_560


@pytest.mark.backend_agnostic
def test_features_only_and_notop():
    features = keras_resnets.DeepLabV3("resnet18", output_stride=8, input_shape=(SIZE, SIZE, 3),
                                       features_only=True)
    assert {k: tuple(v.shape[1:3]) for k, v in features.output.items()} == {
        "C2": (16, 16), "C3": (8, 8), "C4": (8, 8), "C5": (8, 8)}
    notop = keras_resnets.DeepLabV3("resnet18", input_shape=(SIZE, SIZE, 3), include_top=False)
    assert notop.output.shape == (None, 4, 4, 256)
    logits = keras_resnets.DeepLabV3("resnet18", input_shape=(SIZE, 96, 3), classes=3,
                                     classifier_activation=None)
    assert logits.output.shape == (None, SIZE, 96, 3)
    from_tensor = keras_resnets.DeepLabV3("resnet18", input_tensor=keras.Input((32, 48, 3)),
                                          classes=2)
    assert from_tensor.output.shape == (None, 32, 48, 2)


@pytest.mark.backend_agnostic
def test_trains_a_step(images):
    """One optimizer step on per-pixel labels (runs on TensorFlow and, in CI, JAX)."""
    model = keras_resnets.DeepLabV3("resnet18", classes=4, output_stride=8,
                                    input_shape=(SIZE, SIZE, 3))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    labels = np.random.default_rng(1).integers(0, 4, (2, SIZE, SIZE)).astype("int32")
    before = keras.ops.convert_to_numpy(model.get_layer("aspp_b1_conv").kernel).copy()
    first = float(model.train_on_batch(images, labels))
    second = float(model.train_on_batch(images, labels))
    after = keras.ops.convert_to_numpy(model.get_layer("aspp_b1_conv").kernel)
    assert np.isfinite(first) and np.isfinite(second)
    assert not np.allclose(before, after)


@pytest.mark.backend_agnostic
def test_keras_round_trip_safe_mode(tmp_path, images):
    model = keras_resnets.DeepLabV3("resnet18", classes=3, input_shape=(SIZE, SIZE, 3))
    path = tmp_path / "deeplab.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(predict(loaded, images), predict(model, images), atol=1e-6)


@pytest.mark.backend_agnostic
def test_mixed_precision_scores_are_float32():
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        model = keras_resnets.DeepLabV3("resnet18", classes=3, input_shape=(32, 32, 3))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert model.get_layer("aspp_b0_conv").compute_dtype == "float16"
    assert model.output.dtype == "float32"


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"output_stride": 4}, r"output_stride must be one of 8, 16, 32.*got 4"),
    ({"output_stride": "16"}, r"output_stride must be one of"),
    ({"input_shape": (SIZE, 60, 3)}, r"multiples of output_stride=16; got 64x60"),
    ({"input_shape": (None, None, 3)}, r"known input size"),
    ({"backbone": "densenet121"}, r"'densenet121' cannot trade strides for dilation"),
    ({"backbone": "resnet20"}, r"output_stride=16 does not fit the backbone"),
    ({"backbone": "resnet5O"}, r"unknown model name"),
    ({"backbone": 50}, r"backbone must be a model name"),
    ({"weights": "imagenet"}, r"no published ImageNet weights"),
    ({"atrous_rates": (6, 0)}, r"atrous_rates must be positive integers"),
    ({"aspp_filters": 0}, r"aspp_filters must be an integer >= 1 \(e.g. 256\); got 0"),
    ({"aspp_dropout": 1.0}, r"aspp_dropout must be in \[0, 1\)"),
])
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_resnets.DeepLabV3(**{"input_shape": (SIZE, SIZE, 3), **kwargs})


@pytest.mark.parametrize("backbone, output_stride, size", [
    ("resnet18", 8, SIZE), pytest.param("resnet18", 16, SIZE, marks=pytest.mark.backend_agnostic),
    ("resnet18", 32, SIZE),
    ("mobilenetv2-0.35", 8, SIZE), ("mobilenetv2-0.35", 16, SIZE), ("xception", 16, 96),
])
def test_plain_call_is_inference(backbone, output_stride, size):
    """``model(x)`` runs in inference mode, as ``model(x, training=False)`` and ``predict``
    (Keras's ``Resizing`` defaults to ``training=True`` and passed that on to the head)."""
    model = keras_resnets.DeepLabV3(backbone, classes=5, output_stride=output_stride,
                                    input_shape=(size, size, 3))
    rng = np.random.default_rng(2)
    for layer in model.layers:  # statistics away from their defaults: nothing can hide
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0, 0.1, shape).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, shape).astype("float32"))
    x = rng.normal(size=(2, size, size, 3)).astype("float32")
    inference = np.asarray(model(x, training=False))
    np.testing.assert_array_equal(np.asarray(model(x)), inference)
    np.testing.assert_allclose(predict(model, x), inference, atol=1e-4)  # compiled round-off

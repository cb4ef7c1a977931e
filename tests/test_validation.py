"""Bad input: a ValueError that names the argument, the value and the rule, before any
layer is built."""

import keras
import numpy as np
import pytest

import keras_resnets as kr
from keras_resnets import primitives


@pytest.fixture
def no_layer_built(monkeypatch):
    made = []
    original = primitives.Recipe.__call__

    def spy(self, x, **kwargs):
        if not primitives.is_probe(x):
            made.append(self.name)
        return original(self, x, **kwargs)

    monkeypatch.setattr(primitives.Recipe, "__call__", spy)
    yield
    assert made == []


CASES = [
    (lambda: kr.WideResNet(27, 10), r"WideResNet depth must be 6n\+4 \(10, 16, 22, 28, 40, "
                                    r"\.\.\.\).*got 27"),
    (lambda: kr.WideResNet(28, 0), r"width must be a number > 0.*got 0"),
    (lambda: kr.WideResNet(28, 10, dropout_rate=1.0), r"dropout_rate must be in \[0, 1\)"),
    (lambda: kr.WideResNet(28, 10, block_type="B(5,5)"), r"block_type must be one of"),
    (lambda: kr.WideResNet(28, 10, block_type="B(1,3)", deepening=2), r"deepening"),
    (lambda: kr.ResNet(21, stem="cifar"), r"must be 6n\+2 \(20, 32, 44, 56, 110, 1202"),
    (lambda: kr.ResNet(165, version=2, stem="cifar"), r"must be 9n\+2 \(164, 1001"),
    (lambda: kr.ResNet(42), r"stem='imagenet' must be one of 18, 34, 50, 101, 152, 200"),
    (lambda: kr.ResNet(20, stem="cifar", shortcut="C"), r"shortcut must be one of"),
    (lambda: kr.ResNet(50, version=3), r"version must be one of 1, 1.5, 2"),
    (lambda: kr.ResNeXt(29, 0, 64), r"cardinality must be an integer >= 1"),
    (lambda: kr.ResNeXt(30, 8, 64), r"9n\+2"),
    (lambda: kr.ResNet50(input_shape=(16, 16, 3)), r"too small"),
    (lambda: kr.ResNet(20, stem="cifar", classes=0), r"classes must be an integer from 1 to "
                                                     r"1,000,000"),
    (lambda: kr.ResNet18(pooling="mean", include_top=False), r"pooling must be"),
    (lambda: kr.ResNet(20, stem="cifar", drop_path_rate=1.5), r"drop_path_rate"),
    (lambda: kr.WideResNet(16, 4, weights="imagenet"), r"no published ImageNet weights"),
    (lambda: kr.ResNet50(weights="imagenet", classes=10), r"needs classes=1000"),
    (lambda: kr.ResNet50(weights="/no/such/file.h5"), r"existing weights file"),
    (lambda: kr.create_model("wrn-28"), r"unknown model name 'wrn-28'.*closest"),
    (lambda: kr.create_model("resnet51"), r"6n\+2 .*got 51 \(ImageNet depths"),
    # issue 13: each was accepted, or failed deep inside Python or Keras
    (lambda: kr.create_model("resnet20", input_shape=(32, 32, 0)), r"input_shape must be .*0\)"),
    (lambda: kr.create_model("resnet20", input_shape=("32", 32, 3)), r"input_shape .*'32'"),
    (lambda: kr.create_model("resnet20", classes=True), r"classes must be an integer .*True"),
    (lambda: kr.create_model("resnet20", include_top="no"), r"include_top must be True or "
                                                             r"False; got 'no'"),
    (lambda: kr.ResNet(50.0), r"depth must be an integer >= 1 .*got 50.0"),
    (lambda: kr.ResNeXt(50.0, 32, 4), r"depth must be an integer >= 1 .*got 50.0"),
    (lambda: kr.create_model("resnet20", drop_path_rate="0.1"), r"drop_path_rate .*'0.1'"),
    (lambda: kr.WideResNet(10, float("inf")), r"width must be a number > 0 .*got inf"),
    (lambda: kr.create_model("resnet20", se_ratio=5), r"se_ratio must be .*\[0, 1\].*got 5"),
    (lambda: kr.create_model("xception", exit_widths="ab"), r"Xception does not take "
                                                             r"exit_widths; its own options"),
    (lambda: kr.create_model("wrn-16-4", depth=3), r"wrn-16-4 does not take depth; its own "
                                                   r"options are block_type, deepening, "
                                                   r"dropout_rate"),
    (lambda: kr.create_model("resnet20", classifier_activation="bogus"),
     r"classifier_activation must be None .*'bogus'"),
    (lambda: kr.create_model("resnet20", zero_init_residual="yes"), r"zero_init_residual"),
    (lambda: kr.create_model("resnet50", input_tensor=keras.Input((8, 8, 3)),
                             input_shape=(224, 224, 3)),
     r"input_tensor has shape \(8, 8, 3\), which disagrees with input_shape \(224, 224, 3\)"),
    (lambda: kr.create_model("resnet20", input_tensor=np.zeros((1, 32, 32, 3))),
     r"input_tensor must be a Keras tensor"),
    (lambda: kr.list_models(123), r"pattern must be None or .*got 123"),
    # issue 27: each was ignored or accepted
    (lambda: kr.ResNet50(weights="imagenet", classes=10, features_only=True),
     r"features_only=True returns the stage outputs with no pooling or classifier, so "
     r"classes=10 would be ignored; drop it"),
    (lambda: kr.WideResNet(16, 1, features_only=True, pooling="avg", classifier_activation=None),
     r"so pooling='avg', classifier_activation=None would be ignored; drop them, or pass "
     r"include_top=False with pooling='avg'"),
    (lambda: kr.create_model("wrn-10-1", classes=2**40),
     r"classes must be an integer from 1 to 1,000,000; got 1099511627776"),
    (lambda: kr.create_model("deeplabv3-deeplabv3-resnet50"),
     r"backbone 'deeplabv3-resnet50' is itself a DeepLabV3: .* e\.g\. 'resnet50'"),
    (lambda: kr.WideResNet(28, 1e-9), r"width must be at least 0\.25, so that every stage has "
                                      r"at least 4 channels \(16 x width\); got 1e-09, which "
                                      r"leaves 1"),
    (lambda: kr.create_model("wrn-10-0.01"), r"width must be at least 0\.25, .*got 0\.01"),
    (lambda: kr.ResNet50(width=0.05), r"width must be at least 0\.0625, .*\(64 x width\)"),
    (lambda: kr.ResNet50(width=2, weights="imagenet"),
     r"Keras's resnet50 file fits resnet50 with its default options only, and this one is "
     r"built with other options"),
]


@pytest.mark.parametrize("call,message", CASES)
def test_bad_input_is_refused_before_building(call, message, no_layer_built):
    with pytest.raises(ValueError, match=message):
        call()


def test_features_only_weights_are_checked_without_the_top():
    """ImageNet weights with features_only: no classifier, so no 1000-class demand; the
    stage outputs hold keras.applications' ResNet50(include_top=False) parameters."""
    assert kr.count_params("resnet50", weights="imagenet", features_only=True).total == \
        23_587_712
    assert kr.count_params("wrn-10-0.25").trainable > 0  # the narrowest width builds


def test_grouped_convolution_must_divide_channels():
    with pytest.raises(ValueError, match="groups=3 must divide"):
        kr.blocks.conv(keras.Input((8, 8, 16)), 32, 3, groups=3, name="g")


COUNTER_CASES = [
    ("resnet20", dict(classes=-5), r"classes must be an integer from 1 to 1,000,000; got -5"),
    ("resnet50", dict(input_shape=(10, 10, 3)), r"too small for resnet50"),
    ("resnet20", dict(classifier_activation="bogus"), r"classifier_activation"),
]


@pytest.mark.parametrize("model_name,kwargs,message", COUNTER_CASES)
def test_counters_refuse_what_create_model_refuses(model_name, kwargs, message,
                                                   no_layer_built):
    for call in (kr.create_model, kr.count_params, kr.count_macs):
        with pytest.raises(ValueError, match=message):
            call(model_name, **kwargs)


def test_count_macs_needs_a_known_size():
    with pytest.raises(ValueError, match=r"needs a known input size; got input_shape "
                                         r"\(None, None, 3\)"):
        kr.count_macs("resnet20", input_shape=(None, None, 3))
    # parameters do not depend on the size, and a model can be built for any size
    assert kr.count_params("resnet20", input_shape=(None, None, 3)).total == 271_098
    assert kr.count_macs("resnet20", input_shape=(32, 32, 3)) == 40_551_040


def test_name_is_the_keras_model_name():
    model = kr.create_model("resnet8", name="tiny", classes=3)
    assert model.name == "tiny"
    assert kr.count_params("resnet8", name="tiny", classes=3).total == model.count_params()


@pytest.mark.backend_agnostic
def test_input_tensor_that_agrees_is_used():
    tensor = keras.Input((40, 40, 3))
    model = kr.create_model("resnet8", input_tensor=tensor, input_shape=(None, 40, 3))
    assert model.input_shape == (None, 40, 40, 3)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("call", [kr.create_model, kr.count_params, kr.count_macs])
def test_channels_first_is_refused_up_front(call, no_layer_built):
    """The models are channels-last (layer recipes, BatchNorm axis, weight files); under
    channels_first wrn-10-1 used to build silently with 81,862 parameters, not 78,330."""
    keras.config.set_image_data_format("channels_first")
    try:
        with pytest.raises(ValueError, match=r"channels_last models only, but "
                                             r"keras.config.image_data_format\(\) is "
                                             r"'channels_first'.*set_image_data_format"):
            call("wrn-10-1")
    finally:
        keras.config.set_image_data_format("channels_last")
    assert kr.count_params("wrn-10-1").total == 78_330

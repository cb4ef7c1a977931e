"""Bad input: a ValueError that names the argument, the value and the rule, before any
layer is built."""

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
    (lambda: kr.ResNeXt(29, 0, 64), r"cardinality must be a positive integer"),
    (lambda: kr.ResNeXt(30, 8, 64), r"9n\+2"),
    (lambda: kr.ResNet50(input_shape=(16, 16, 3)), r"too small"),
    (lambda: kr.ResNet(20, stem="cifar", classes=0), r"classes must be a positive integer"),
    (lambda: kr.ResNet18(pooling="mean", include_top=False), r"pooling must be"),
    (lambda: kr.ResNet(20, stem="cifar", drop_path_rate=1.5), r"drop_path_rate"),
    (lambda: kr.WideResNet(16, 4, weights="imagenet"), r"no published ImageNet weights"),
    (lambda: kr.ResNet50(weights="imagenet", classes=10), r"needs classes=1000"),
    (lambda: kr.ResNet50(weights="/no/such/file.h5"), r"existing weights file"),
    (lambda: kr.create_model("wrn-28"), r"unknown model name 'wrn-28'.*closest"),
    (lambda: kr.create_model("resnet51"), r"6n\+2 .*got 51 \(ImageNet depths"),
]


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("call,message", CASES)
def test_bad_input_is_refused_before_building(call, message, no_layer_built):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.backend_agnostic
def test_grouped_convolution_must_divide_channels():
    import keras

    with pytest.raises(ValueError, match="groups=3 must divide"):
        kr.blocks.conv(keras.Input((8, 8, 16)), 32, 3, groups=3, name="g")

"""PyTorch checkpoints into our models: randomly initialised reference networks written
with torchvision's module names (timm shares them for these families), saved as
safetensors, loaded without PyTorch, and compared logit for logit."""

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch comparison tests need the CPU wheel: "
                                             "pip install -e '.[torch]'")
pytest.importorskip("safetensors", reason="needs safetensors: pip install -e '.[torch]'")
import torch_reference  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from torch import nn  # noqa: E402
from torch_reference import checkpoint  # noqa: E402

import keras_resnets  # noqa: E402
from keras_resnets.weights import torch_import  # noqa: E402

CLASSES = 10
TOLERANCE = 1e-4  # max abs logit difference relative to the largest logit


class Basic(nn.Module):
    expansion = 1

    def __init__(self, cin, width, stride, groups=1, base_width=64):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = _projection(cin, width, stride)

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (self.downsample(x) if self.downsample else x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride, groups=1, base_width=64):
        super().__init__()
        width = int(planes * base_width / 64) * groups
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = _projection(cin, planes * 4, stride)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return torch.relu(y + (self.downsample(x) if self.downsample else x))


def _projection(cin, cout, stride):
    if cin == cout and stride == 1:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class TorchResNet(nn.Module):
    """torchvision's ResNet (v1.5: the stride in the 3x3), ResNeXt and Wide ResNet."""

    def __init__(self, block, layers, groups=1, base_width=64, classes=CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, (count, planes) in enumerate(zip(layers, (64, 128, 256, 512), strict=True)):
            blocks = []
            for j in range(count):
                stride = 2 if i and not j else 1
                blocks.append(block(cin, planes, stride, groups, base_width))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(x.mean((2, 3)))


class DenseLayer(nn.Module):
    def __init__(self, cin, growth, bn_size=4):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, 1, 1, bias=False)

    def forward(self, x):
        y = self.conv1(torch.relu(self.norm1(x)))
        return torch.cat([x, self.conv2(torch.relu(self.norm2(y)))], 1)


class Transition(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return nn.functional.avg_pool2d(self.conv(torch.relu(self.norm(x))), 2, 2)


class TorchDenseNet(nn.Module):
    """torchvision's DenseNet-BC (features.denseblockN.denselayerM, features.transitionN)."""

    def __init__(self, blocks, growth, stem, classes=CLASSES):
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, stem, 7, 2, 3, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(stem))
        self.features.add_module("relu0", nn.ReLU())
        self.features.add_module("pool0", nn.MaxPool2d(3, 2, 1))
        cin = stem
        for i, count in enumerate(blocks, 1):
            block = nn.Sequential()
            for j in range(count):
                block.add_module(f"denselayer{j + 1}", DenseLayer(cin + j * growth, growth))
            self.features.add_module(f"denseblock{i}", block)
            cin += count * growth
            if i < len(blocks):
                self.features.add_module(f"transition{i}", Transition(cin, cin // 2))
                cin //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(cin))
        self.classifier = nn.Linear(cin, classes)

    def forward(self, x):
        return self.classifier(torch.relu(self.features(x)).mean((2, 3)))


def conv_bn_relu6(cin, cout, kernel, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups,
                                   bias=False), nn.BatchNorm2d(cout), nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expansion):
        super().__init__()
        hidden = cin * expansion
        layers = [conv_bn_relu6(cin, hidden, 1)] if expansion != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


# expansion, channels, repeats, first stride (Sandler et al. 2018, Table 2)
MOBILENET_V2_LAYOUT = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1))


class TorchMobileNetV2(nn.Module):
    """torchvision's mobilenet_v2 (features.N, classifier.1), width 1.0."""

    def __init__(self, classes=CLASSES):
        super().__init__()
        layers, cin = [conv_bn_relu6(3, 32, 3, 2)], 32
        for expansion, cout, repeats, stride in MOBILENET_V2_LAYOUT:
            for i in range(repeats):
                layers.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expansion))
                cin = cout
        self.features = nn.Sequential(*layers, conv_bn_relu6(cin, 1280, 1))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, classes))

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


REFERENCES = {  # registry name -> reference torch network (torchvision's layer counts)
    "resnet18": lambda: TorchResNet(Basic, (2, 2, 2, 2)),
    "resnet34": lambda: TorchResNet(Basic, (3, 4, 6, 3)),
    "resnet50-v1.5": lambda: TorchResNet(Bottleneck, (3, 4, 6, 3)),
    "resnet101-v1.5": lambda: TorchResNet(Bottleneck, (3, 4, 23, 3)),
    "resnet152-v1.5": lambda: TorchResNet(Bottleneck, (3, 8, 36, 3)),
    "wide-resnet50-2": lambda: TorchResNet(Bottleneck, (3, 4, 6, 3), base_width=128),
    "wide-resnet101-2": lambda: TorchResNet(Bottleneck, (3, 4, 23, 3), base_width=128),
    "resnext50-32x4d": lambda: TorchResNet(Bottleneck, (3, 4, 6, 3), groups=32, base_width=4),
    "resnext101-32x8d": lambda: TorchResNet(Bottleneck, (3, 4, 23, 3), groups=32,
                                            base_width=8),
    "mobilenetv2-1.0": TorchMobileNetV2,
    "densenet121": lambda: TorchDenseNet((6, 12, 24, 16), 32, 64),
    "densenet161": lambda: TorchDenseNet((6, 12, 36, 24), 48, 96),
    "densenet169": lambda: TorchDenseNet((6, 12, 32, 32), 32, 64),
    "densenet201": lambda: TorchDenseNet((6, 12, 48, 32), 32, 64),
}
FAST = ("resnet18", "resnet50-v1.5", "resnext50-32x4d", "densenet121", "mobilenetv2-1.0")
OPTIONS = {"mobilenetv2-1.0": {"padding": "torch"}}


def randomised(name, seed=0):
    """The reference network with random weights and BatchNorm statistics, in eval mode."""
    return torch_reference.randomised(REFERENCES[name], seed)


def compare(name, tmp_path, size=64, **options):
    net = randomised(name)
    path = checkpoint(net, tmp_path / f"{name}.safetensors")
    options = {**OPTIONS.get(name, {}), **options}
    model = keras_resnets.create_model(name, weights=path, classes=CLASSES, **options,
                                       input_shape=(size, size, 3), classifier_activation=None)
    x = np.random.default_rng(1).normal(size=(2, size, size, 3)).astype("float32")
    with torch.no_grad():
        expected = net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    got = np.asarray(model(x))
    return model, x, float(np.abs(got - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow)
                                  for n in REFERENCES])
def test_torch_checkpoint_gives_the_same_logits(name, tmp_path):
    _, _, difference = compare(name, tmp_path)
    assert difference <= TOLERANCE, f"{name}: relative max abs logit difference {difference:.2e}"


@pytest.mark.slow
def test_mobilenet_v2_needs_torch_padding_at_224(tmp_path):
    """Keras pads stride-2 layers bottom/right only: with PyTorch's weights the logits
    differ unless the model pads symmetrically, as torchvision does."""
    _, x, torch_padding = compare("mobilenetv2-1.0", tmp_path, size=224)
    path = str(tmp_path / "mobilenetv2-1.0.safetensors")
    keras_model = torch_reference.load_unchecked(keras_resnets.create_model(
        "mobilenetv2-1.0", classes=CLASSES, input_shape=(224, 224, 3),
        classifier_activation=None), path)
    with torch.no_grad():
        expected = randomised("mobilenetv2-1.0")(
            torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    keras_padding = float(np.abs(np.asarray(keras_model(x)) - expected).max()
                          / np.abs(expected).max())
    assert torch_padding <= TOLERANCE and keras_padding > 10 * TOLERANCE, \
        (torch_padding, keras_padding)


@pytest.mark.parametrize("by_url", [False, True])
def test_mobilenet_v2_file_is_refused_without_torch_padding(tmp_path, monkeypatch, by_url):
    path = checkpoint(randomised("mobilenetv2-1.0"), tmp_path / "m.safetensors")
    weights = path
    if by_url:  # only the download is mocked: its file is checked as a local one is
        monkeypatch.setenv("KERAS_HOME", str(tmp_path))
        monkeypatch.setattr(keras.utils, "get_file", lambda *args, **kwargs: path)
        weights = "https://example.com/m.safetensors"
    with pytest.raises(ValueError, match=r"mobilenet_v2 checkpoint, which fits "
                                         r"'mobilenetv2-1.0' built with padding='torch' only"):
        keras_resnets.MobileNetV2(1.0, weights=weights, classes=CLASSES,
                                  input_shape=(32, 32, 3))


def test_torchvision_resnet50_file_in_a_v1_resnet50_names_v1_5(tmp_path):
    """torchvision's ResNet-50 strides on the 3x3 and has no conv biases: it does not fit
    keras.applications' v1 layout, and the refusal (before any layer is built) names the
    model it fits."""
    path = checkpoint(randomised("resnet50-v1.5"), tmp_path / "r50.safetensors")
    with pytest.raises(ValueError, match=r"resnet checkpoint: torchvision's and timm's "
                                         r"ResNet-50 are v1\.5 .* not 'resnet50' .*"
                                         r"create_model\('resnet50-v1\.5', weights=\.\.\.\)"):
        keras_resnets.create_model("resnet50", weights=path, classes=CLASSES)


def test_the_loaded_model_saves_as_a_plain_keras_file(tmp_path):
    model, x, _ = compare("resnet18", tmp_path)
    model.save_weights(tmp_path / "resnet18.weights.h5")
    again = keras_resnets.ResNet18(weights=str(tmp_path / "resnet18.weights.h5"),
                                   classes=CLASSES, input_shape=(64, 64, 3),
                                   classifier_activation=None)
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(model(x)))


def test_epsilon_is_folded_into_gamma_exactly(tmp_path):
    """DenseNet-121 is keras.applications-compatible (BatchNorm epsilon 1.001e-5); the
    checkpoint's 1e-5 is folded into gamma, so the normalisation is the checkpoint's."""
    net = randomised("densenet121")
    model = keras_resnets.DenseNet121(weights=checkpoint(net, tmp_path / "d.safetensors"),
                                      classes=CLASSES, input_shape=(64, 64, 3))
    layer = model.get_layer("conv1_bn")
    assert layer.epsilon == pytest.approx(1.001e-5)
    gamma, _, _, var = (w.numpy().astype("float64") for w in layer.weights)
    norm = net.features.norm0
    expected = (norm.weight / torch.sqrt(norm.running_var + 1e-5)).detach().numpy()
    np.testing.assert_allclose(gamma / np.sqrt(var + layer.epsilon), expected, rtol=1e-6)


def test_include_top_false_drops_only_the_classifier(tmp_path):
    path = checkpoint(randomised("resnet18"), tmp_path / "r.safetensors")
    model = keras_resnets.ResNet18(weights=path, include_top=False, input_shape=(64, 64, 3))
    assert model.output_shape == (None, 2, 2, 512)
    features = keras_resnets.ResNet18(weights=path, features_only=True, input_shape=(64, 64, 3))
    np.testing.assert_array_equal(features.get_layer("conv1_conv").get_weights()[0],
                                  model.get_layer("conv1_conv").get_weights()[0])


def test_missing_and_left_over_tensors_are_named(tmp_path):
    state = {k: v.contiguous() for k, v in randomised("resnet18").state_dict().items()}
    missing = dict(state)
    del missing["layer2.0.downsample.1.running_var"]
    save_file(missing, str(tmp_path / "missing.safetensors"))
    with pytest.raises(ValueError, match=r"missing \(1\): conv3_block1_0_bn <- "
                                         r"layer2\.0\.downsample\.1\.running_var"):
        keras_resnets.ResNet18(weights=str(tmp_path / "missing.safetensors"), classes=CLASSES,
                               input_shape=(64, 64, 3))
    extra = dict(state, **{"layer5.0.conv1.weight": torch.zeros(1)})
    save_file(extra, str(tmp_path / "extra.safetensors"))
    with pytest.raises(ValueError, match=r"left over \(1\): layer5\.0\.conv1\.weight"):
        keras_resnets.ResNet18(weights=str(tmp_path / "extra.safetensors"), classes=CLASSES,
                               input_shape=(64, 64, 3))


def test_another_architectures_checkpoint_is_refused(tmp_path):
    path = checkpoint(randomised("resnet18"), tmp_path / "r18.safetensors")
    with pytest.raises(ValueError, match=r"does not fit 'resnet34'.*missing"):
        keras_resnets.ResNet34(weights=path, classes=CLASSES, input_shape=(64, 64, 3))


def test_a_file_url_is_downloaded_and_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    net = randomised("resnet18")
    path = checkpoint(net, tmp_path / "remote.safetensors")
    url = (tmp_path / "remote.safetensors").as_uri()
    model = keras_resnets.ResNet18(weights=url, classes=CLASSES, input_shape=(64, 64, 3))
    reference = keras_resnets.ResNet18(weights=path, classes=CLASSES, input_shape=(64, 64, 3))
    for a, b in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_pickled_checkpoint_gets_the_conversion_recipe(tmp_path):
    torch.save(randomised("resnet18").state_dict(), tmp_path / "r.pth")
    with pytest.raises(ValueError, match=r"not a safetensors file.*safetensors\.torch\.save_file"):
        torch_import.read(tmp_path / "r.pth")

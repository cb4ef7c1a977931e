"""torchvision's InceptionV3 checkpoints into ``InceptionV3(padding="torch")``: a randomly
initialised reference network with torchvision's module names (written here, without
torchvision), saved as safetensors, loaded without PyTorch, compared logit for logit."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch comparison tests need the CPU wheel: "
                                             "pip install -e '.[torch]'")
pytest.importorskip("safetensors", reason="needs safetensors: pip install -e '.[torch]'")
import torch_reference  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch_reference import checkpoint  # noqa: E402

import keras_resnets  # noqa: E402
from keras_resnets.weights import catalogue  # noqa: E402

CLASSES = 10
TOLERANCE = 1e-4  # max abs logit difference relative to the largest logit
TAG = "torchvision/imagenet1k_v1"


class Conv(nn.Module):
    """torchvision's BasicConv2d: conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU."""

    def __init__(self, cin, cout, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


def _pool_branch(x, conv):
    return conv(F.avg_pool2d(x, 3, 1, 1))  # count_include_pad=True, torch's default


class ModuleA(nn.Module):
    def __init__(self, cin, pool):
        super().__init__()
        self.branch1x1 = Conv(cin, 64, 1)
        self.branch5x5_1, self.branch5x5_2 = Conv(cin, 48, 1), Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = Conv(cin, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, padding=1)
        self.branch_pool = Conv(cin, pool, 1)

    def forward(self, x):
        return torch.cat([
            self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            _pool_branch(x, self.branch_pool)], 1)


class ModuleB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = Conv(cin, 384, 3, 2)
        self.branch3x3dbl_1 = Conv(cin, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, 2)

    def forward(self, x):
        return torch.cat([
            self.branch3x3(x), self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, 2)], 1)


def _seven(cin, cout, order):
    """A 1x7 or 7x1 BasicConv2d ('1' first: (1, 7))."""
    return Conv(cin, cout, (1, 7), padding=(0, 3)) if order == "1" else \
        Conv(cin, cout, (7, 1), padding=(3, 0))


class ModuleC(nn.Module):
    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = Conv(cin, 192, 1)
        self.branch7x7_1 = Conv(cin, c7, 1)
        self.branch7x7_2, self.branch7x7_3 = _seven(c7, c7, "1"), _seven(c7, 192, "7")
        self.branch7x7dbl_1 = Conv(cin, c7, 1)
        self.branch7x7dbl_2, self.branch7x7dbl_3 = _seven(c7, c7, "7"), _seven(c7, c7, "1")
        self.branch7x7dbl_4, self.branch7x7dbl_5 = _seven(c7, c7, "7"), _seven(c7, 192, "1")
        self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
        seven = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = self.branch7x7dbl_1(x)
        for i in range(2, 6):
            double = getattr(self, f"branch7x7dbl_{i}")(double)
        return torch.cat([self.branch1x1(x), seven, double, _pool_branch(x, self.branch_pool)], 1)


class ModuleD(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1, self.branch3x3_2 = Conv(cin, 192, 1), Conv(192, 320, 3, 2)
        self.branch7x7x3_1 = Conv(cin, 192, 1)
        self.branch7x7x3_2, self.branch7x7x3_3 = _seven(192, 192, "1"), _seven(192, 192, "7")
        self.branch7x7x3_4 = Conv(192, 192, 3, 2)

    def forward(self, x):
        y = x
        for i in range(1, 5):
            y = getattr(self, f"branch7x7x3_{i}")(y)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), y, F.max_pool2d(x, 3, 2)], 1)


class ModuleE(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch1x1 = Conv(cin, 320, 1)
        self.branch3x3_1 = Conv(cin, 384, 1)
        self.branch3x3_2a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = Conv(cin, 448, 1)
        self.branch3x3dbl_2 = Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        return torch.cat([
            self.branch1x1(x), self.branch3x3_2a(a), self.branch3x3_2b(a),
            self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b),
            _pool_branch(x, self.branch_pool)], 1)


class Aux(nn.Module):
    """The auxiliary classifier (training only): in torchvision's file, never in ours."""

    def __init__(self, cin, classes):
        super().__init__()
        self.conv0, self.conv1 = Conv(cin, 128, 1), Conv(128, 768, 5)
        self.fc = nn.Linear(768, classes)


class TorchInceptionV3(nn.Module):
    """torchvision's Inception3 in eval mode (``transform_input`` as its pretrained model)."""

    def __init__(self, classes=CLASSES, transform_input=False):
        super().__init__()
        self.transform_input = transform_input
        self.Conv2d_1a_3x3 = Conv(3, 32, 3, 2)
        self.Conv2d_2a_3x3 = Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = Conv(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = (ModuleA(192, 32), ModuleA(256, 64),
                                                       ModuleA(288, 64))
        self.Mixed_6a = ModuleB(288)
        self.Mixed_6b, self.Mixed_6c = ModuleC(768, 128), ModuleC(768, 160)
        self.Mixed_6d, self.Mixed_6e = ModuleC(768, 160), ModuleC(768, 192)
        self.AuxLogits = Aux(768, classes)
        self.Mixed_7a, self.Mixed_7b, self.Mixed_7c = ModuleD(768), ModuleE(1280), ModuleE(2048)
        self.fc = nn.Linear(2048, classes)

    def forward(self, x):
        if self.transform_input:  # ImageNet mean/std input -> (x - 0.5) / 0.5, per channel
            mean = torch.tensor(catalogue.IMAGENET_MEAN).view(1, 3, 1, 1)
            std = torch.tensor(catalogue.IMAGENET_STD).view(1, 3, 1, 1)
            x = x * (std / 0.5) + (mean - 0.5) / 0.5
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(F.max_pool2d(x, 3, 2)))
        x = F.max_pool2d(x, 3, 2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return self.fc(x.mean((2, 3)))


def randomised(seed=0, gamma=True, **options):
    """The reference network with random weights and BatchNorm statistics (gamma fixed at
    1 with ``gamma=False``: loadable into Keras's gamma-free BatchNorm)."""
    return torch_reference.randomised(lambda: TorchInceptionV3(**options), seed, gamma)


def relative_difference(net, model, x_torch, x_keras):
    with torch.no_grad():
        expected = net(torch.from_numpy(x_torch.transpose(0, 3, 1, 2))).numpy()
    got = np.asarray(model(x_keras))
    return float(np.abs(got - expected).max() / np.abs(expected).max())


@pytest.fixture(scope="module")
def unit_gamma(tmp_path_factory):
    """A gamma-free reference (both paddings load it) and its checkpoint."""
    net = randomised(gamma=False)
    return net, checkpoint(net, tmp_path_factory.mktemp("inception") / "unit.safetensors")


def _model(path, padding, size=299):
    if padding == "keras":  # refused with weights=path: loaded without the check
        return torch_reference.load_unchecked(keras_resnets.InceptionV3(
            classes=CLASSES, input_shape=(size, size, 3), classifier_activation=None), path)
    return keras_resnets.InceptionV3(padding=padding, weights=path, classes=CLASSES,
                                     input_shape=(size, size, 3), classifier_activation=None)


def test_torch_padding_gives_torchvisions_logits_and_drops_aux_logits(tmp_path):
    net = randomised()
    path = checkpoint(net, tmp_path / "inception.safetensors")
    assert any(key.startswith("AuxLogits.") for key in net.state_dict())
    x = np.random.default_rng(1).normal(size=(2, 299, 299, 3)).astype("float32")
    difference = relative_difference(net, _model(path, "torch"), x, x)
    assert difference <= TOLERANCE, f"relative max abs logit difference {difference:.2e}"


def test_keras_padding_does_not_match_torchvision(unit_gamma):
    """Keras's 'same' average pools leave the padding out of the mean: with torchvision's
    weights (gamma 1, so the gamma-free BatchNorm takes them) the logits differ."""
    net, path = unit_gamma
    x = np.random.default_rng(2).normal(size=(2, 299, 299, 3)).astype("float32")
    torch_padding = relative_difference(net, _model(path, "torch"), x, x)
    keras_padding = relative_difference(net, _model(path, "keras"), x, x)
    assert torch_padding <= TOLERANCE and keras_padding > 1e-3, (torch_padding, keras_padding)
    with pytest.raises(ValueError, match=r"inception_v3 checkpoint, which fits 'inceptionv3' "
                                         r"built with padding='torch' only"):
        keras_resnets.InceptionV3(weights=path, classes=CLASSES)


def test_preprocess_input_stands_for_transform_input(tmp_path):
    """torchvision's pretrained model maps ImageNet-normalised input to (x - 0.5) / 0.5 in
    ``transform_input``; the catalogue record's preprocessing does that on [0, 255] pixels."""
    net = randomised(seed=3, transform_input=True)
    path = checkpoint(net, tmp_path / "tv.safetensors")
    images = np.random.default_rng(3).uniform(0, 255, (2, 299, 299, 3)).astype("float32")
    imagenet = ((images / 255 - catalogue.IMAGENET_MEAN) / catalogue.IMAGENET_STD)
    ours = keras_resnets.preprocess_input(images, "inceptionv3", TAG)
    np.testing.assert_allclose(ours, images / 127.5 - 1, atol=1e-6)
    difference = relative_difference(net, _model(path, "torch"), imagenet.astype("float32"),
                                     ours)
    assert difference <= TOLERANCE, f"relative max abs logit difference {difference:.2e}"


def test_gamma_checkpoint_into_keras_padding_names_the_option(tmp_path):
    path = checkpoint(randomised(seed=4), tmp_path / "g.safetensors")
    with pytest.raises(ValueError, match=r"conv2d_1a_bn: .*Conv2d_1a_3x3\.bn\.weight \(gamma\) "
                                         r"is not 1.*padding='torch'"):
        _model(path, "keras", size=75)


def test_only_aux_logits_are_dropped(tmp_path):
    state = {k: v.contiguous() for k, v in randomised(seed=5).state_dict().items()}
    save_file(dict(state, **{"Mixed_8a.branch1x1.conv.weight": torch.zeros(1)}),
              str(tmp_path / "extra.safetensors"))
    with pytest.raises(ValueError, match=r"left over \(1\): Mixed_8a\.branch1x1\.conv\.weight$"):
        _model(str(tmp_path / "extra.safetensors"), "torch", size=75)


def test_catalogue_tag_loads_with_torch_padding_only(tmp_path, monkeypatch):
    """The tag downloads (here a file:// URL standing in for the hub) into the torch
    variant; the Keras variant and Keras's own file refuse with the option to use."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    net = randomised(seed=6, classes=1000)
    path = checkpoint(net, tmp_path / "hub.safetensors")
    record = catalogue.records("inceptionv3")[TAG]
    assert (record.options, record.input_size, record.resize, record.top1) == \
        ((("padding", "torch"),), 299, 342, 77.294)
    monkeypatch.setitem(catalogue.CATALOGUE["inceptionv3"], TAG, catalogue.dataclasses.replace(
        record, url=(tmp_path / "hub.safetensors").as_uri()))
    # the tag brings its record's options: padding="torch" need not be given
    model = keras_resnets.create_model("inceptionv3", weights=TAG, include_top=False,
                                       input_shape=(75, 75, 3))
    reference = keras_resnets.InceptionV3(padding="torch", weights=path, include_top=False,
                                          input_shape=(75, 75, 3))
    for a, b in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"published for .*inceptionv3 \(padding='torch'\).*"
                                         r"create_model\('inceptionv3', padding='torch', "
                                         r"weights='torchvision/imagenet1k_v1'\)"):
        keras_resnets.InceptionV3(weights=TAG, include_top=False, input_shape=(75, 75, 3))
    with pytest.raises(ValueError, match=r"padding must be 'keras' for weights='imagenet'"):
        keras_resnets.InceptionV3(padding="torch", weights="imagenet")
    with pytest.raises(ValueError, match=r"padding must be one of .*'keras'.*'torch'"):
        keras_resnets.InceptionV3(padding="same")

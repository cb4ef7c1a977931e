"""timm's legacy_xception and resnetv2_50 checkpoints into our models: randomly initialised
reference networks written with timm's module names, saved as safetensors, loaded without
PyTorch, and compared logit for logit. Both pad their max-pools as PyTorch does (``-inf`` on
every side), which ``padding="torch"`` reproduces and Keras's padding does not."""

import keras
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch comparison tests need the CPU wheel: "
                                             "pip install -e '.[torch]'")
pytest.importorskip("safetensors", reason="needs safetensors: pip install -e '.[torch]'")
import torch_reference  # noqa: E402
from torch import nn  # noqa: E402

import keras_resnets  # noqa: E402
from keras_resnets import weights as W  # noqa: E402
from keras_resnets.weights import catalogue, torch_import  # noqa: E402

CLASSES = 10
TOLERANCE = 1e-4  # max abs logit difference relative to the largest logit


class SeparableConv2d(nn.Module):
    """Depthwise 3x3 (``conv1``) then pointwise 1x1, no biases (timm's legacy module)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.conv1(x))


class XceptionBlock(nn.Module):
    """``rep``: ([ReLU], SeparableConv2d, BatchNorm2d) per width, MaxPool2d(3, s, 1) when
    strided; ``skip`` + ``skipbn`` when the shape changes."""

    def __init__(self, cin, widths, stride, start_with_relu=True):
        super().__init__()
        layers, channels = [], cin
        for width in widths:
            layers += [nn.ReLU(), SeparableConv2d(channels, width), nn.BatchNorm2d(width)]
            channels = width
        if not start_with_relu:
            layers = layers[1:]
        if stride != 1:
            layers.append(nn.MaxPool2d(3, stride, 1))
        self.rep = nn.Sequential(*layers)
        self.skip = self.skipbn = None
        if channels != cin or stride != 1:
            self.skip = nn.Conv2d(cin, channels, 1, stride, bias=False)
            self.skipbn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return self.rep(x) + (self.skipbn(self.skip(x)) if self.skip is not None else x)


class TorchLegacyXception(nn.Module):
    """timm's ``legacy_xception`` (Cadene's port of Keras's Xception)."""

    def __init__(self, classes=CLASSES):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 32, 3, 2, 0, bias=False), nn.BatchNorm2d(32)
        self.conv2, self.bn2 = nn.Conv2d(32, 64, 3, bias=False), nn.BatchNorm2d(64)
        self.block1 = XceptionBlock(64, (128, 128), 2, start_with_relu=False)
        self.block2 = XceptionBlock(128, (256, 256), 2)
        self.block3 = XceptionBlock(256, (728, 728), 2)
        for i in range(4, 12):
            setattr(self, f"block{i}", XceptionBlock(728, (728,) * 3, 1))
        self.block12 = XceptionBlock(728, (728, 1024), 2)
        self.conv3, self.bn3 = SeparableConv2d(1024, 1536), nn.BatchNorm2d(1536)
        self.conv4, self.bn4 = SeparableConv2d(1536, 2048), nn.BatchNorm2d(2048)
        self.fc = nn.Linear(2048, classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        for i in range(1, 13):
            x = getattr(self, f"block{i}")(x)
        x = torch.relu(self.bn3(self.conv3(x)))
        x = torch.relu(self.bn4(self.conv4(x)))
        return self.fc(x.mean((2, 3)))


class PreActBottleneck(nn.Module):
    """timm's ResNetV2 bottleneck with BatchNormAct2d (BN + ReLU): the stride in the 3x3,
    the projection (``downsample.conv``, no norm) on the pre-activated input."""

    def __init__(self, cin, cout, stride, project):
        super().__init__()
        mid = cout // 4
        self.downsample = None
        if project:
            self.downsample = nn.Module()
            self.downsample.conv = nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.norm1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, mid, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.norm3, self.conv3 = nn.BatchNorm2d(mid), nn.Conv2d(mid, cout, 1, bias=False)

    def forward(self, x):
        preact = torch.relu(self.norm1(x))
        shortcut = self.downsample.conv(preact) if self.downsample is not None else x
        y = self.conv1(preact)
        y = self.conv2(torch.relu(self.norm2(y)))
        y = self.conv3(torch.relu(self.norm3(y)))
        return y + shortcut


class TorchResNetV2(nn.Module):
    """timm's ``resnetv2_50`` (``stem.conv``, ``stem.pool``, ``stages.i.blocks.j``, ``norm``,
    ``head.fc`` a 1x1 conv with bias)."""

    def __init__(self, layers=(3, 4, 6, 3), classes=CLASSES):
        super().__init__()
        self.stem = nn.Sequential()
        self.stem.add_module("conv", nn.Conv2d(3, 64, 7, 2, 3, bias=False))
        self.stem.add_module("pool", nn.MaxPool2d(3, 2, 1))
        self.stages, cin = nn.Sequential(), 64
        for i, (count, cout) in enumerate(zip(layers, (256, 512, 1024, 2048), strict=True)):
            stage = nn.Module()
            stage.blocks = nn.Sequential(*[
                PreActBottleneck(cin if j == 0 else cout, cout, 2 if i and not j else 1, j == 0)
                for j in range(count)])
            self.stages.add_module(str(i), stage)
            cin = cout
        self.norm = nn.BatchNorm2d(cin)
        self.head = nn.Module()
        self.head.fc = nn.Conv2d(cin, classes, 1)

    def forward(self, x):
        x = self.stem(x)
        for stage in self.stages:
            x = stage.blocks(x)
        x = torch.relu(self.norm(x)).mean((2, 3), keepdim=True)
        return self.head.fc(x).flatten(1)


REFERENCES = {"xception": TorchLegacyXception, "resnet50v2": TorchResNetV2}
TIMM = {"xception": {"padding": "torch"},  # the options that build timm's layout
        "resnet50v2": {"stride_at_end": False, "padding": "torch"}}


def randomised(name, seed=0, classes=CLASSES):
    """The reference network with random weights and BatchNorm statistics, in eval mode."""
    return torch_reference.randomised(lambda: REFERENCES[name](classes=classes), seed)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """One randomised network and its safetensors file per name, shared by the tests."""
    folder, made = tmp_path_factory.mktemp("timm"), {}

    def get(name):
        if name not in made:
            net = randomised(name)
            path = folder / f"{name}.safetensors"
            made[name] = net, torch_reference.checkpoint(net, path)
        return made[name]

    return get


def difference(net, model, size, feature=None):
    """Max abs logit difference relative to the largest logit, on two random images; with
    ``feature`` (a Keras layer name and the torch module that gives the same map), the same
    for that feature map too."""
    x = np.random.default_rng(1).normal(size=(2, size, size, 3)).astype("float32")
    maps = []
    if feature:
        hook = feature[1].register_forward_hook(lambda module, args, out: maps.append(out))
    with torch.no_grad():
        expected = net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    got = np.asarray(model(x))
    logits = float(np.abs(got - expected).max() / np.abs(expected).max())
    if not feature:
        return logits
    hook.remove()
    want = maps[0].numpy().transpose(0, 2, 3, 1)
    have = np.asarray(keras.Model(model.input, model.get_layer(feature[0]).output)(x))
    return logits, float(np.abs(have - want).max() / np.abs(want).max())


def build(name, path, size, **options):
    return keras_resnets.create_model(name, weights=path, classes=CLASSES, **options,
                                      input_shape=(size, size, 3), classifier_activation=None)


def build_unchecked(name, path, size, **options):
    """What a model built without timm's options computes with the file (which
    ``weights=path`` refuses for it)."""
    return torch_reference.load_unchecked(keras_resnets.create_model(
        name, classes=CLASSES, **options, input_shape=(size, size, 3),
        classifier_activation=None), path)


@pytest.mark.parametrize("size", [96, 299])
def test_legacy_xception_gives_timms_outputs_only_with_torch_padding(checkpoints, size):
    """At 96x96 the pools of block4 and block13 (timm's block3, block12) take even maps
    (12x12, 6x6), at 299x299 that of block3 (timm's block2, 74x74): there Keras's 'same'
    pool shifts its windows by a pixel. At 299 the global average pool almost hides the
    shift in the logits (8e-5 relative with these random weights): the block's output
    shows it."""
    net, path = checkpoints("xception")
    feature = ("block3_add", net.block2)
    torch_logits, torch_map = difference(net, build("xception", path, size, padding="torch"),
                                         size, feature)
    keras_logits, keras_map = difference(net, build_unchecked("xception", path, size), size,
                                         feature)
    assert torch_logits <= TOLERANCE and torch_map <= TOLERANCE, (torch_logits, torch_map)
    if size == 96:
        same = difference(net, keras_resnets.Xception(
            padding="torch", weights=path, classes=CLASSES, classifier_activation=None,
            input_shape=(size, size, 3)), size)
        assert same == torch_logits and keras_logits > 1e-3, (same, keras_logits)
        assert keras_map <= TOLERANCE, keras_map  # block3's map is odd (23x23) at 96
    else:
        assert keras_map > 1e-3, keras_map


@pytest.mark.parametrize("size", [64, 224])
def test_resnetv2_50_gives_timms_outputs_only_with_torch_padding(checkpoints, size):
    """The stem's max-pool takes the conv's output before any ReLU: zero padding wins
    where a border window is all negative (-inf never does). The logits barely show it
    (1e-4 relative at 224 with these random weights): the pooled map does."""
    net, path = checkpoints("resnet50v2")
    feature = ("pool1_pool", net.stem)
    logits, stem = difference(net, build("resnet50v2", path, size, **TIMM["resnet50v2"]), size,
                              feature)
    assert logits <= TOLERANCE and stem <= TOLERANCE, (logits, stem)
    if size == 224:  # the public spelling, and the zero-padded stem pool that misses
        same = difference(net, keras_resnets.ResNet50V2(
            stride_at_end=False, padding="torch", weights=path, classes=CLASSES,
            classifier_activation=None, input_shape=(size, size, 3)), size)
        _, zeros = difference(net, build_unchecked("resnet50v2", path, size,
                                                   stride_at_end=False), size, feature)
        assert same == logits and zeros > 1e-3, (same, zeros)


def test_timm_files_are_refused_without_timms_options(checkpoints):
    """keras.applications' ResNetV2 layout strides at the end of each stage and has conv
    biases; timm's files also need PyTorch's padding, which Xception lacks by default
    too. The refusal names the options, before any layer is built."""
    _, resnetv2 = checkpoints("resnet50v2")
    _, xception = checkpoints("xception")
    for call, match in (
            (lambda: keras_resnets.ResNet50V2(weights=resnetv2, classes=CLASSES),
             r"resnetv2 checkpoint, which fits 'resnet50v2' built with stride_at_end=False, "
             r"padding='torch' only"),
            (lambda: keras_resnets.count_params("resnet50v2", weights=resnetv2,
                                                stride_at_end=False, classes=CLASSES),
             r"create_model\('resnet50v2', stride_at_end=False, padding='torch', weights"),
            (lambda: keras_resnets.create_model("xception", weights=xception, classes=CLASSES),
             r"xception checkpoint, which fits 'xception' built with padding='torch' only")):
        with pytest.raises(ValueError, match=match):
            call()


def test_resnetv2_without_the_top_leaves_the_head_out(checkpoints):
    net, path = checkpoints("resnet50v2")
    model = keras_resnets.ResNet50V2(stride_at_end=False, padding="torch", weights=path,
                                     include_top=False, input_shape=(64, 64, 3))
    np.testing.assert_array_equal(model.get_layer("conv1_conv").get_weights()[0],
                                  net.stem.conv.weight.detach().numpy().transpose(2, 3, 1, 0))


def test_layouts_are_detected_by_their_marker(checkpoints):
    for name, layout in (("xception", "xception"), ("resnet50v2", "resnetv2")):
        tensors = torch_import.read(checkpoints(name)[1])
        assert torch_import.detect(tensors).name == layout


@pytest.mark.parametrize(("name", "tag"), [("xception", "timm/tf_in1k"),
                                         ("resnet50v2", "timm/a1h_in1k")])
def test_catalogue_records_fit_timms_layout_only(name, tag):
    """The records' parameter counts are timm's networks' (the references at 1000 classes)
    and our counter's; the tag fits the model built with the record's options, and the
    keras.applications layout is refused with a message that names them."""
    record = catalogue.records(name)[tag]
    assert dict(record.options) == TIMM[name]
    reference = sum(p.numel() for p in REFERENCES[name](classes=1000).parameters())
    assert record.params == reference == keras_resnets.count_params(name, **TIMM[name]).trainable
    assert W.find_record(keras_resnets.get_spec(name, **TIMM[name]), tag,
                         keras_resnets.get_spec) is record
    with pytest.raises(ValueError, match=rf"published for {name} \(.*padding='torch'\), not "
                                         rf"for '{name}' as built"):
        keras_resnets.create_model(name, padding="keras", weights=tag)
    # without options of its own, create_model takes the record's (the counters alike)
    assert keras_resnets.count_params(name, weights=tag) == keras_resnets.count_params(
        name, **TIMM[name])

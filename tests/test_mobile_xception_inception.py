"""MobileNetV2, Xception and InceptionV3: keras.applications compatibility (weights copied
from Keras's models, outputs within 1e-5), published counts, counters, registry names,
Keras's legacy .h5 files, a safe-mode .keras round trip (Xception's and InceptionV3's are
the contract test's) and clear errors."""

import dataclasses
import re

import keras
import numpy as np
import pytest
from helpers import random_weights

import keras_resnets
from keras_resnets import engine
from keras_resnets import primitives as P
from keras_resnets import weights as W
from keras_resnets.blocks.inception import InceptionOptions
from keras_resnets.models.mobilenet_v2 import make_divisible

ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
KERAS_AUTO_NAME = re.compile(
    r"(input_layer|conv2d|batch_normalization|activation|add|concatenate|max_pooling2d|"
    r"average_pooling2d|global_average_pooling2d|global_max_pooling2d)(_\d+)?")

# name -> (ours, keras.applications, input size used in tests)
CASES = {
    "mobilenetv2": (keras_resnets.MobileNetV2, keras.applications.MobileNetV2, 64),
    "xception": (keras_resnets.Xception, keras.applications.Xception, 75),
    "inceptionv3": (keras_resnets.InceptionV3, keras.applications.InceptionV3, 75),
}


def explicitly_named(model):
    return [layer.name for layer in model.layers if not KERAS_AUTO_NAME.fullmatch(layer.name)]


NOT_COMPARED = {"name", "trainable", "dtype", "kernel_initializer", "bias_initializer",
                "depthwise_initializer", "pointwise_initializer", "gamma_initializer"}


def layer_config(layer):
    """A layer's configuration without its name and initializers (axis -1 == 3 in 4-D)."""
    config = {k: v for k, v in layer.get_config().items() if k not in NOT_COMPARED}
    if "axis" in config:
        axis = config["axis"]
        config["axis"] = [a % 4 for a in axis] if isinstance(axis, list) else axis % 4
    return type(layer).__name__, config


def check_compatible(ours, ref, size, seed=0):
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in ref.get_weights()]
    assert len(ours.layers) == len(ref.layers)
    different = [(a.name, b.name) for a, b in zip(ref.layers, ours.layers, strict=True)
                 if layer_config(a) != layer_config(b)]
    assert not different, f"layers configured differently from Keras's: {different[:5]}"
    ours_names = {layer.name for layer in ours.layers}
    missing = [n for n in explicitly_named(ref) if n not in ours_names]
    assert not missing, f"layers Keras names explicitly but we do not: {missing[:10]}"
    weighted = [(a.name, b.name) for a, b in zip(ref.layers, ours.layers, strict=True) if a.weights]
    for keras_name, our_name in weighted:
        if not KERAS_AUTO_NAME.fullmatch(keras_name):
            assert keras_name == our_name
    ours.set_weights(random_weights(ref, seed))
    x = np.random.default_rng(seed + 1).normal(size=(2, size, size, 3)).astype("float32")
    expected, got = ref.predict_on_batch(x), ours.predict_on_batch(x)  # compiled: fast on JAX
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-5


# --- keras.applications compatibility ---------------------------------------------------------

def _alpha_marks(alpha):
    """0.35, 1.0 and 1.4 first, the other alphas in the slow set; TensorFlow only: the graph
    and weights are backend-free, and JAX runs MobileNetV2 in the tests marked for it."""
    return alpha if alpha in (0.35, 1.0, 1.4) else pytest.param(alpha, marks=pytest.mark.slow)


@pytest.mark.parametrize("alpha", [_alpha_marks(a) for a in ALPHAS])
def test_mobilenet_v2_matches_keras(alpha):
    kwargs = dict(input_shape=(64, 64, 3), classes=10, classifier_activation=None)
    ours = keras_resnets.MobileNetV2(alpha, **kwargs)
    ref = keras.applications.MobileNetV2(alpha=alpha, weights=None, **kwargs)
    check_compatible(ours, ref, 64)


@pytest.mark.parametrize("name", ["xception", "inceptionv3"])
def test_xception_inception_match_keras(name):
    build, reference, size = CASES[name]
    kwargs = dict(input_shape=(size, size, 3), classes=10, classifier_activation=None)
    check_compatible(build(**kwargs), reference(weights=None, **kwargs), size)


@pytest.mark.parametrize("name", ["mobilenetv2",
                                  pytest.param("xception", marks=pytest.mark.slow),
                                  pytest.param("inceptionv3", marks=pytest.mark.slow)])
def test_notop_pooling_matches_keras(name):
    build, reference, size = CASES[name]
    kwargs = dict(input_shape=(size + 21, size + 21, 3), include_top=False, pooling="max")
    check_compatible(build(**kwargs), reference(weights=None, **kwargs), size + 21, seed=3)


# --- published counts and the analytic counters ------------------------------------------------

PUBLISHED = {  # keras.applications' models (weights=None): trainable, total
    "mobilenetv2-1.0": (3_504_872, 3_538_984),
    "xception": (22_855_952, 22_910_480),
    "inceptionv3": (23_817_352, 23_851_784),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_counts(name):
    assert tuple(keras_resnets.count_params(name)) == PUBLISHED[name]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_counts_built(name):
    size = 64 if name.startswith("mobilenet") else 75
    model = keras_resnets.create_model(name, input_shape=(size, size, 3))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert (trainable, model.count_params()) == PUBLISHED[name]


def test_macs_near_papers():
    # MobileNetV2 1.0 at 224: 300 M multiply-adds (Table 3 of the paper); InceptionV3 at 299:
    # "5 billion multiply-adds"; Xception: about 8.4 G.
    assert round(keras_resnets.count_macs("mobilenetv2-1.0") / 1e6) == 301
    assert 5.0e9 < keras_resnets.count_macs("inceptionv3") < 6.0e9
    assert 8.0e9 < keras_resnets.count_macs("xception") < 8.8e9


def test_registry_names():
    names = keras_resnets.list_models()
    for name in ["mobilenetv2-0.35", "mobilenetv2-0.5", "mobilenetv2-0.75", "mobilenetv2-1.0",
                 "mobilenetv2-1.3", "mobilenetv2-1.4", "xception", "inceptionv3"]:
        assert name in names
    assert keras_resnets.get_spec("mobilenetv2-0.50").name == "mobilenetv2-0.5"
    assert keras_resnets.get_spec("mobilenetv2-0.6").keras_weights is None
    info = keras_resnets.model_info("xception")
    assert info["keras_applications_compatible"] and info["imagenet_weights"]
    assert make_divisible(32 * 0.35) == 16 and make_divisible(1280 * 1.4) == 1792


@pytest.mark.backend_agnostic
def test_mobilenet_v2_any_alpha_and_features():
    model = keras_resnets.MobileNetV2(0.6, input_shape=(64, 64, 3), classes=3)
    assert model.count_params() == keras_resnets.count_params("mobilenetv2-0.6", classes=3).total
    features = keras_resnets.MobileNetV2(1.0, input_shape=(64, 64, 3), features_only=True)
    assert {k: tuple(v.shape[1:]) for k, v in features.output.items()} == {
        "C2": (16, 16, 24), "C3": (8, 8, 32), "C4": (4, 4, 96), "C5": (2, 2, 1280)}
    # the engine's rule: the last map at each reduction. InceptionV3's C2 is after conv2d_4a
    # (its last 1/4 map, 192 channels), not maxpool_3a as before the engine.
    for name, c2, c5 in (("xception", (23, 23, 128), (3, 3, 2048)),
                         ("inceptionv3", (20, 20, 192), (1, 1, 2048))):
        spec = keras_resnets.get_spec(name)
        stages = engine.forward(spec, P.Probe.input((96, 96, 3)), features_only=True)
        assert sorted(stages) == ["C2", "C3", "C4", "C5"]
        assert (stages["C2"].shape, stages["C5"].shape) == (c2, c5)
        info = engine.feature_info(spec, (96, 96, 3))
        assert [(f["reduction"], f["channels"]) for f in info] == [
            (4, c2[-1]), (8, 256 if name == "xception" else 288), (16, 728 if name ==
                                                                    "xception" else 768),
            (32, 2048)]


def test_features_are_the_last_map_at_each_reduction():
    model = keras_resnets.InceptionV3(input_shape=(75, 75, 3), features_only=True)
    producers = {k: v._keras_history.operation.name for k, v in model.output.items()}
    assert producers == {"C2": "conv2d_4a_relu", "C3": "mixed2", "C4": "mixed7",
                         "C5": "mixed10"}
    model = keras_resnets.MobileNetV2(0.35, input_shape=(32, 32, 3), features_only=True)
    producers = {k: v._keras_history.operation.name for k, v in model.output.items()}
    assert producers == {"C2": "block_2_add", "C3": "block_5_add", "C4": "block_12_add",
                         "C5": "out_relu"}


@pytest.mark.parametrize("name, blocks", [("mobilenetv2", 17), ("xception", 12)])
def test_drop_path_schedule_is_linear_over_the_blocks(name, blocks):
    """rate * i / (N - 1) at block i of N (from 0), on the blocks with a residual sum."""
    build, _, size = CASES[name]
    model = build(input_shape=(size, size, 3), classes=3, drop_path_rate=0.3)
    dropped = {layer.name: layer.rate for layer in model.layers if layer.name.endswith("_drop")}
    assert dropped
    for layer_name, rate in dropped.items():
        number = re.search(r"\d+", layer_name)
        index = int(number.group()) - (2 if name == "xception" else 0)
        assert rate == pytest.approx(0.3 * index / (blocks - 1))
    if name == "xception":  # every block has a residual sum, but the first has rate 0
        assert sorted(dropped) == sorted(f"block{n}_drop" for n in range(3, 14))


def test_inception_v3_refuses_drop_path_rate():
    with pytest.raises(ValueError, match=r"drop_path_rate must be 0 for inceptionv3: it has no "
                                         r"residual branches"):
        keras_resnets.InceptionV3(input_shape=(75, 75, 3), drop_path_rate=0.1)
    with pytest.raises(ValueError, match="drop_path_rate must be 0 for inceptionv3"):
        keras_resnets.create_model("inceptionv3", drop_path_rate=0.1)


@pytest.mark.backend_agnostic
def test_deeplab_on_mobilenet_v2():
    model = keras_resnets.create_model("deeplabv3-mobilenetv2-1.0", input_shape=(64, 64, 3),
                                       classes=5)
    assert tuple(model.output.shape) == (None, 64, 64, 5)
    # output stride 16: the 160-channel stage keeps 1/16 and dilates by 2
    assert model.get_layer("block_13_depthwise").dilation_rate == (2, 2)
    assert model.get_layer("block_13_depthwise").strides == (1, 1)
    assert model.count_params() == keras_resnets.count_params(
        "deeplabv3-mobilenetv2-1.0", input_shape=(64, 64, 3), classes=5).total


def test_deeplab_on_xception():
    spec = keras_resnets.get_spec("deeplabv3-xception", output_stride=8)
    assert engine.forward(spec, P.Probe.input((64, 64, 3)), classes=5).shape == (64, 64, 5)
    # 64 -> 29 after the 'valid' stem convs, 15 and 8 after block2 and block3; then dilated
    assert engine.run_stages(spec, P.Probe.input((64, 64, 3)))[1].shape == (8, 8, 2048)


# --- weight files ----------------------------------------------------------------------------

def legacy_h5(model, path):
    """Write ``model``'s weights in the legacy (by layer order) format of Keras's ImageNet files."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)


@pytest.mark.parametrize("name", sorted(CASES))
def test_keras_legacy_h5_files_load(name, tmp_path):
    build, reference, size = CASES[name]
    kwargs = dict(input_shape=(size, size, 3), include_top=False)
    ref = reference(weights=None, **kwargs)
    random_weights(ref, seed=5)
    legacy_h5(ref, tmp_path / "keras.h5")
    ours = build(weights=str(tmp_path / "keras.h5"), **kwargs)
    for a, b in zip(ref.get_weights(), ours.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("alpha, size, include_top, expected", [
    (0.35, 96, False, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"),
    (1.0, 96, True, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96.h5"),
    (0.5, 64, False, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5"),
    (1.4, 96, False, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.4_224_no_top.h5"),
])
def test_mobilenet_v2_imagenet_file_choice(alpha, size, include_top, expected, tmp_path,
                                           monkeypatch):
    """weights='imagenet' asks for Keras's file for the alpha and input size (offline: the
    download is replaced by a file written from keras.applications)."""
    kwargs = dict(input_shape=(size, size, 3), include_top=include_top)
    ref = keras.applications.MobileNetV2(alpha=alpha, weights=None, **kwargs)
    random_weights(ref, seed=2)
    legacy_h5(ref, tmp_path / "file.h5")
    requested = []

    def fake_get_file(file_name, url, **options):
        requested.append((file_name, url))
        return str(tmp_path / "file.h5")

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    if size in (96, 224) and (alpha <= 1 or size == 224):
        ours = keras_resnets.MobileNetV2(alpha, weights="imagenet", **kwargs)
    else:
        with pytest.warns(UserWarning, match="trained at 224x224"):
            ours = keras_resnets.MobileNetV2(alpha, weights="imagenet", **kwargs)
    assert requested == [(expected, f"{W.KERAS_URL}mobilenet_v2/{expected}")]
    for a, b in zip(ref.get_weights(), ours.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_xception_inception_imagenet_file_names():
    assert W.IMAGENET["xception"].resolve(False)[0] == \
        "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
    file_name, url, md5 = W.IMAGENET["inceptionv3"].resolve(True)
    assert url.endswith("inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5")
    assert md5 == "9a0d58056eeedaa3f26cb7ebd46da564"


# --- saving ----------------------------------------------------------------------------------

def round_trip(model, tmp_path, size):
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).normal(size=(1, size, size, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6)


def test_mobilenet_v2_keras_round_trip(tmp_path):
    # TensorFlow only: its one custom layer (StochasticDepth) reloads on JAX in
    # test_residual_models.py::test_saved_custom_layers_load_in_a_fresh_process
    model = keras_resnets.MobileNetV2(0.35, input_shape=(64, 64, 3), classes=5,
                                      drop_path_rate=0.1)
    round_trip(model, tmp_path, 64)


# --- errors ----------------------------------------------------------------------------------

def test_errors():
    with pytest.raises(ValueError, match=r"alpha must be one of 0.35, 0.5, 0.75, 1.0, 1.3, 1.4 "
                                         r"for weights='imagenet'.*got alpha=0.6"):
        keras_resnets.MobileNetV2(0.6, weights="imagenet")
    with pytest.raises(ValueError, match="no published ImageNet weights for 'mobilenetv2-0.6'"):
        keras_resnets.create_model("mobilenetv2-0.6", weights="imagenet")
    with pytest.raises(ValueError, match=r"alpha must be a (finite )?number > 0"):
        keras_resnets.MobileNetV2(0)
    with pytest.raises(ValueError, match="needs classes=1000"):
        keras_resnets.Xception(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="too small"):
        keras_resnets.InceptionV3(input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="unknown model name"):
        keras_resnets.create_model("xceptoin")


def test_inception_stages_state_their_width_and_stride():
    spec = keras_resnets.get_spec("inceptionv3")

    def changed(**fields):
        stages = tuple(dataclasses.replace(s, **fields) if s.name == "mixed3" else s
                       for s in spec.stages)
        return dataclasses.replace(spec, stages=stages)

    with pytest.raises(ValueError, match="mixed3: the branches take 35 rows to 17, but the "
                                         "stage states stride 1"):
        engine.count(changed(stride=1))
    with pytest.raises(ValueError, match="concatenate to 768 channels, but the stage states 700"):
        engine.count(changed(filters=700))
    with pytest.raises(ValueError, match="branches must be a non-empty sequence"):
        InceptionOptions(())
    with pytest.raises(ValueError, match="InceptionV3 does not take width"):
        keras_resnets.create_model("inceptionv3", width=2)

"""DenseNet / DenseNet-BC: published counts, keras.applications compatibility, saving,
training, feature extraction and argument errors."""

import keras
import numpy as np
import pytest
from helpers import random_weights

import keras_resnets as kr
from keras_resnets import blocks as B
from keras_resnets import weights as W
from keras_resnets.models import densenet as D


def _counts(model):
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return trainable, model.count_params()


# --------------------------------------------------------------------------- counts

# name, trainable, total (None: not published): Huang et al. and keras.applications, and
# torchvision's DenseNet-161/169
# for the layouts keras.applications does not have.
PUBLISHED = [
    ("densenet-bc-100-12", 769_162, None),
    ("densenet121", 7_978_856, 8_062_504),
    ("densenet201", 20_013_928, 20_242_984),
    ("densenet169", 14_149_480, None),
    ("densenet161", 28_681_000, None),
]


@pytest.mark.parametrize("name,trainable,total", PUBLISHED)
def test_published_counts_from_the_analytic_counter(name, trainable, total):
    counted = kr.count_params(name)
    assert counted.trainable == trainable
    if total is not None:
        assert counted.total == total


@pytest.mark.parametrize("name,millions", [
    # Huang et al. Table 2 (rounded to 0.1M): the CIFAR layouts derived from L.
    ("densenet-40-12", 1.0), ("densenet-100-12", 7.0), ("densenet-100-24", 27.2),
    ("densenet-bc-250-24", 15.3), ("densenet-bc-190-40", 25.6)])
def test_paper_cifar_counts(name, millions):
    assert round(kr.count_params(name).trainable / 1e6, 1) == millions


def test_densenet121_macs_within_one_percent():
    assert kr.count_macs("densenet121") == pytest.approx(2.834e9, rel=0.01)


@pytest.mark.parametrize("name,layers", [("densenet-bc-100-12", 16), ("densenet-bc-250-24", 41),
                                         ("densenet-bc-190-40", 31), ("densenet-40-12", 12),
                                         ("densenet-100-24", 32)])
def test_layers_per_block_derived_from_depth(name, layers):
    spec = kr.get_spec(name)
    assert tuple(s.blocks for s in spec.stages if s.kind == "dense_layer") == (layers,) * 3
    assert spec.stem.kind == "cifar" and spec.default_input_shape == (32, 32, 3)


# TensorFlow only: the weights' shapes do not depend on the backend, and on JAX each new
# kernel shape compiles its own random draw (36 s for DenseNet-40's 39 distinct convs).
@pytest.mark.parametrize("name", ["densenet-bc-100-12", "densenet-40-12"])
def test_built_model_matches_the_counter(name):
    model = kr.create_model(name)
    counted = kr.count_params(name)
    assert _counts(model) == (counted.trainable, counted.total)
    assert model.output_shape == (None, 10)


# --------------------------------------------------------------- keras compatibility

def _compare_with_keras(depth, input_shape=(64, 64, 3), classes=10, **kwargs):
    reference = getattr(keras.applications, f"DenseNet{depth}")(
        weights=None, input_shape=input_shape, classes=classes, classifier_activation=None,
        **kwargs)
    ours = getattr(kr, f"DenseNet{depth}")(input_shape=input_shape, classes=classes,
                                           classifier_activation=None, **kwargs)
    # Layer names and weight shapes line up wherever Keras names its layers.
    ours_names = [layer.name for layer in ours.layers]
    for layer in reference.layers:
        if not layer.name.startswith(("input_layer", "zero_padding2d")):
            assert layer.name in ours_names
    assert [tuple(w.shape) for w in reference.weights] == [tuple(w.shape) for w in ours.weights]
    counted = kr.count_params(f"densenet{depth}", input_shape=input_shape, classes=classes,
                             **kwargs)
    assert _counts(ours) == _counts(reference) == (counted.trainable, counted.total)
    values = random_weights(reference)
    reference.set_weights(values)
    ours.set_weights(values)
    x = np.random.default_rng(1).normal(size=(2,) + input_shape).astype("float32")
    expected = keras.ops.convert_to_numpy(reference(x, training=False))
    got = keras.ops.convert_to_numpy(ours(x, training=False))
    assert np.max(np.abs(expected - got)) <= 1e-5
    assert np.std(expected) > 1e-3  # a meaningful comparison
    return reference, ours


def test_densenet121_matches_keras_applications():
    reference, ours = _compare_with_keras(121)
    assert ours.count_params() == reference.count_params()
    for layer in ours.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            assert layer.epsilon == 1.001e-5 and layer.momentum == 0.99


@pytest.mark.slow
@pytest.mark.parametrize("depth", [169, 201])
def test_densenet169_201_match_keras_applications(depth):
    _compare_with_keras(depth)


def test_keras_legacy_h5_file_loads_by_layer_order(tmp_path):
    """Keras's ImageNet files are legacy .h5 files: write one from keras.applications and
    load it through ``weights=path``, as ``weights="imagenet"`` does with the real file."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    shape = (32, 32, 3)
    reference = keras.applications.DenseNet121(weights=None, include_top=False,
                                               input_shape=shape, pooling="avg")
    reference.set_weights(random_weights(reference, seed=3))
    path = str(tmp_path / "densenet121_notop.h5")
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, reference)
    ours = kr.DenseNet121(include_top=False, input_shape=shape, weights=path, pooling="avg")
    for expected, got in zip(reference.get_weights(), ours.get_weights(), strict=True):
        np.testing.assert_array_equal(expected, got)
    x = np.random.default_rng(4).normal(size=(2,) + shape).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x, training=False)),
                               keras.ops.convert_to_numpy(reference(x, training=False)),
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("depth", [121, 169, 201])
def test_imagenet_files_are_keras_own(depth):
    from keras.src.applications import densenet as keras_densenet

    spec = kr.get_spec(f"densenet{depth}")
    assert spec.keras_weights == f"densenet{depth}"
    _, url, md5 = W.IMAGENET[spec.keras_weights].resolve(True)
    assert url == getattr(keras_densenet, f"DENSENET{depth}_WEIGHT_PATH")
    _, notop_url, notop_md5 = W.IMAGENET[spec.keras_weights].resolve(False)
    assert notop_url == getattr(keras_densenet, f"DENSENET{depth}_WEIGHT_PATH_NO_TOP")
    import inspect

    source = inspect.getsource(keras_densenet.DenseNet)
    assert md5 in source and notop_md5 in source


def test_non_keras_densenets_use_the_default_style():
    for name in ("densenet161", "densenet264", "densenet-bc-100-12"):
        spec = kr.get_spec(name)
        assert spec.keras_weights is None and spec.style == B.DEFAULT_STYLE
    # Changing a keras layout (dropout) leaves keras compatibility.
    assert D.imagenet_spec(121, dropout_rate=0.2).keras_weights is None


# ------------------------------------------------------------- saving and training

def test_safe_mode_keras_round_trip(tmp_path):  # Keras layers only: TensorFlow proves it
    model = kr.create_model("densenet-bc-16-12", dropout_rate=0.2)
    model.set_weights(random_weights(model))
    path = str(tmp_path / "densenet.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    x = np.random.default_rng(2).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)),
                               keras.ops.convert_to_numpy(loaded(x, training=False)),
                               rtol=0, atol=1e-6)


@pytest.mark.backend_agnostic
def test_one_training_step():
    model = kr.DenseNet((2, 2, 2), 8, stem="cifar", dropout_rate=0.2)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    y = np.array([0, 1, 2, 3])
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_features_only_and_pooling():  # symbolic shapes: the same on every backend
    features = kr.DenseNet((1, 1, 1, 1), 8, input_shape=(64, 64, 3), features_only=True)
    shapes = {key: tuple(value.shape[1:]) for key, value in features.output.items()}
    assert sorted(shapes) == ["C2", "C3", "C4", "C5"]
    assert [shapes[k][:2] for k in ("C2", "C3", "C4", "C5")] == [(16, 16), (8, 8), (4, 4),
                                                                 (2, 2)]
    pooled = kr.DenseNet((1, 1, 1, 1), 8, include_top=False, pooling="max",
                         input_shape=(64, 64, 3))
    assert pooled.output_shape == (None, shapes["C5"][-1])
    cifar = kr.create_model("densenet-bc-16-12", features_only=True)
    assert sorted(cifar.output) == ["C2", "C3", "C4"]
    # The engine names them by reduction; the last is the final BN-ReLU, as before.
    assert kr.engine.feature_info(kr.get_spec("densenet121")) == [
        {"name": "C2", "channels": 256, "reduction": 4, "layer": "conv2_block6_concat"},
        {"name": "C3", "channels": 512, "reduction": 8, "layer": "conv3_block12_concat"},
        {"name": "C4", "channels": 1024, "reduction": 16, "layer": "conv4_block24_concat"},
        {"name": "C5", "channels": 1024, "reduction": 32, "layer": "relu"}]
    assert cifar.get_layer("relu").output is cifar.output["C4"]


def test_block_functions_are_public():
    x = keras.Input((8, 8, 16))
    y = B.dense_layer(x, 12, name="d")
    assert tuple(y.shape) == (None, 8, 8, 28)
    y = B.dense_block(x, 3, 12, name="b", bottleneck=False)
    assert tuple(y.shape) == (None, 8, 8, 52)
    y = B.transition(y, name="t", compression=0.5)
    assert tuple(y.shape) == (None, 4, 4, 26)


# ------------------------------------------------------------------------ errors

@pytest.mark.parametrize("call,words", [
    (lambda: kr.create_model("densenet-bc-101-12"), ["6n+4", "100", "101"]),
    (lambda: kr.create_model("densenet-41-12"), ["3n+4", "40", "41"]),
    (lambda: kr.create_model("densenet122"), ["121", "161", "169", "201", "264", "122"]),
    (lambda: kr.create_model("densenet-bc-100-0"), ["growth_rate", "0"]),
    (lambda: kr.DenseNet((), 32), ["blocks", "(6, 12, 24, 16)"]),
    (lambda: kr.DenseNet((6, 0), 32), ["blocks", "0"]),
    (lambda: kr.DenseNet((6, 12), 32, compression=0), ["compression", "(0, 1]"]),
    (lambda: kr.DenseNet((6, 12), 32, compression=1.5), ["compression", "1.5"]),
    # one dense block has no transition: its options are checked all the same
    (lambda: kr.DenseNet((6,), 32, compression=2), ["compression", "(0, 1]", "2"]),
    (lambda: kr.DenseNet((6, 12), 32, bottleneck=1), ["bottleneck", "True or False"]),
    (lambda: kr.DenseNet((6, 12), 32, stem="tiny"), ["stem", "'imagenet'", "'tiny'"]),
    (lambda: kr.DenseNet((6, 12), 32, dropout_rate=1.0), ["dropout_rate", "[0, 1)"]),
    (lambda: kr.DenseNet121(drop_path_rate=0.1), ["drop_path_rate", "0.1", "dropout_rate"]),
    (lambda: kr.DenseNet161(weights="imagenet"), ["weights='imagenet'", "densenet121"]),
    (lambda: kr.DenseNet121(weights="imagenet", classes=10), ["classes=1000"]),
    (lambda: kr.DenseNet121(pooling="sum", include_top=False), ["pooling", "'sum'"]),
    (lambda: kr.create_model("densenet-bc-100-12", compression=0.7),
     ["densenet-bc-<L>-<k>", "compression", "dropout_rate"]),
])
def test_bad_arguments_raise_clear_errors(call, words):
    with pytest.raises(ValueError) as error:
        call()
    for word in words:
        assert word in str(error.value)

"""Layer-for-layer compatibility with keras.applications, proven offline."""

import h5py
import keras
import numpy as np
import pytest
from helpers import random_weights
from keras.src.legacy.saving import legacy_h5_format

import keras_resnets as kr
from keras_resnets.weights import hashes

PAIRS = [
    (kr.ResNet50, keras.applications.ResNet50),
    (kr.ResNet50V2, keras.applications.ResNet50V2),
    pytest.param(kr.ResNet101, keras.applications.ResNet101, marks=pytest.mark.slow),
    pytest.param(kr.ResNet101V2, keras.applications.ResNet101V2, marks=pytest.mark.slow),
    pytest.param(kr.ResNet152, keras.applications.ResNet152, marks=pytest.mark.slow),
    pytest.param(kr.ResNet152V2, keras.applications.ResNet152V2, marks=pytest.mark.slow),
]


def named_weighted_layers(model):
    return [(layer.name, [tuple(w.shape) for w in layer.weights])
            for layer in model.layers if layer.weights]


@pytest.mark.parametrize("ours,theirs", PAIRS)
def test_same_layers_weights_and_outputs(ours, theirs):
    reference = theirs(weights=None, input_shape=(64, 64, 3), classes=10)
    model = ours(input_shape=(64, 64, 3), classes=10)
    assert named_weighted_layers(model) == named_weighted_layers(reference)
    assert len(model.layers) == len(reference.layers)
    assert model.count_params() == reference.count_params()
    random_weights(reference)
    model.set_weights(reference.get_weights())
    x = np.random.default_rng(1).uniform(-1, 1, (2, 64, 64, 3)).astype("float32")
    difference = np.abs(np.asarray(model(x)) - np.asarray(reference(x)))
    assert difference.max() <= 1e-5


def write_legacy_h5(model, path):
    """Write weights in the legacy HDF5 layout of Keras's published ImageNet files."""
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)


def test_imagenet_weights_load_from_keras_file(tmp_path, monkeypatch):
    reference = keras.applications.ResNet50(weights=None)
    random_weights(reference, seed=3)
    path = tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    write_legacy_h5(reference, path)
    requested = {}

    def fake_get_file(fname, origin, cache_subdir, cache_dir=None):
        requested.update(fname=fname, origin=origin)
        return str(path)

    def fake_check_file(checked, file_hash):  # the download checks Keras's MD5 afterwards
        assert checked == str(path)
        requested.update(file_hash=file_hash)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    monkeypatch.setattr(hashes, "check_file", fake_check_file)
    model = kr.ResNet50(weights="imagenet")
    assert requested == {
        "fname": "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
        "origin": "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
                  "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
        "file_hash": "2cb95161c43110f7111970584f804107"}
    for ours, theirs in zip(model.weights, reference.weights):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_weights_path_round_trip_and_wrong_architecture(tmp_path):
    model = kr.WideResNet(10, 2)
    random_weights(model, seed=4)
    path = tmp_path / "wrn.weights.h5"
    model.save_weights(path)
    loaded = kr.WideResNet(10, 2, weights=str(path))
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="another architecture"):
        kr.WideResNet(10, 4, weights=str(path))

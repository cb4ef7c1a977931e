"""Cases that must end in a clear error or work, never in silent wrong results: logits
trained as logits, damaged ``.keras`` files named, a full disk named
(:func:`keras_resnets.training.compile_model`, :func:`keras_resnets.load_model`,
:class:`keras_resnets._io.DiskFullError`)."""

import errno
import os
import shutil
import zipfile
from collections import namedtuple

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets import _io
from keras_resnets._io import StateFileError
from keras_resnets.normalization import with_input_normalization
from keras_resnets.training import backup, compile_model
from keras_resnets.training.recipes import emits_logits


def small_classifier(classes=3, activation="softmax", filters=4):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(filters, 3, padding="same")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation=activation)(x))


def test_a_model_that_emits_logits_is_trained_on_logits():
    images = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 3)).astype("float32")
    labels = np.arange(16) % 3
    for activation in (None, "softmax"):
        model = small_classifier(activation=activation)
        outputs = keras.ops.convert_to_numpy(model(images)).astype("float64")
        if activation is None:  # the loss must take the outputs as logits: softmax first
            outputs = np.exp(outputs) / np.exp(outputs).sum(-1, keepdims=True)
        expected = -np.mean(np.log(outputs[np.arange(16), labels]))
        for one_hot, targets in ((False, labels), (True, np.eye(3, dtype="float32")[labels])):
            compile_model(model, keras.optimizers.SGD(0.1), one_hot=one_hot, run_eagerly=True)
            scores = model.evaluate(images, targets, return_dict=True, verbose=0)
            assert abs(scores["xent"] - expected) < 1e-5
            assert abs(scores["loss"] - expected) < 1e-5
    assert emits_logits(with_input_normalization(small_classifier(activation=None), 0.5, 0.2))
    assert not emits_logits(small_classifier())


# --- damaged .keras files ---------------------------------------------------------------------


def _rewritten(source, target, change):
    """A copy of the .keras archive ``source`` with each member ``change(name, data)``
    (None leaves the member out)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for name in src.namelist():
            data = change(name, src.read(name))
            if data is not None:
                dst.writestr(name, data)
    return target


@pytest.fixture(scope="module")
def saved_pair(tmp_path_factory):
    """A saved small classifier, and one of another shape (4 filters, 6)."""
    directory = tmp_path_factory.mktemp("saved")
    small_classifier().save(directory / "good.keras")
    small_classifier(filters=6).save(directory / "other.keras")
    return directory / "good.keras", directory / "other.keras"


def _flipped(data):
    data = bytearray(data)
    data[len(data) // 2] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize("damage, pattern", [
    (lambda good, other, path: path.write_bytes(b""),
     r"is not a \.keras archive \(a zip file\): it is empty, truncated or damaged \(0 bytes\)"),
    (lambda good, other, path: path.write_bytes(good.read_bytes()[:3000]),
     r"is not a \.keras archive .* \(3,000 bytes\)"),
    (lambda good, other, path: path.write_bytes(_flipped(good.read_bytes())),
     r"cannot be loaded \(BadZipFile: Bad CRC-32 for file 'model\.weights\.h5'\)"),
    (lambda good, other, path: _rewritten(good, path, lambda n, d: d[:40] if n == "config.json"
                                          else d),
     r"cannot be loaded \(JSONDecodeError: "),
    (lambda good, other, path: _rewritten(good, path, lambda n, d: None if n.startswith(
        "model.weights") else d),
     r"cannot be loaded \(ValueError: Expected a model\.weights\.h5"),
    (lambda good, other, path: _rewritten(good, path, lambda n, d: zipfile.ZipFile(other).read(n)
                                          if n.startswith("model.weights") else d),
     r"cannot be loaded \(ValueError: .*variable\.shape=\(3, 3, 3, 4\), Received: "
     r"value\.shape=\(3, 3, 3, 6\)"),
], ids=["empty", "truncated", "flipped-byte", "broken-config", "no-weights", "other-weights"])
@pytest.mark.filterwarnings("ignore:Skipping nested container")  # Keras's, on other weights
def test_a_damaged_keras_file_is_named(saved_pair, tmp_path, damage, pattern):
    path = tmp_path / "damaged.keras"
    damage(*saved_pair, path)
    with pytest.raises(StateFileError, match=rf"model file '{path}' {pattern}.*save the model "
                                             rf"again or restore the file from a copy"):
        keras_resnets.load_model(path)


def test_a_missing_keras_file_is_named(saved_pair, tmp_path):
    with pytest.raises(ValueError, match=rf"model file '{tmp_path}/none\.keras' does not exist"):
        keras_resnets.load_model(tmp_path / "none.keras")
    assert keras_resnets.load_model(saved_pair[0]).count_params() == 4 * 27 + 4 + 4 * 3 + 3


# --- a full disk ------------------------------------------------------------------------------


def test_a_full_disk_is_named_and_the_files_written_before_are_kept(tmp_path, monkeypatch):
    model = small_classifier()
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    saver = backup.RunBackup(str(tmp_path))
    saver.set_model(model)
    saver.on_epoch_end(0)
    before = {p.name: p.read_bytes() for p in (tmp_path / "backup").iterdir()}

    usage = namedtuple("usage", "total used free")
    with monkeypatch.context() as patch:  # HDF5 would crash the process: refused before
        patch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 4096, 4096))
        with pytest.raises(_io.DiskFullError, match=rf"{tmp_path}/backup/epoch-2\.weights\.h5 "
                                                    rf"could not be written: No space left on "
                                                    rf"device \(\d{{2,3}},\d{{3}} bytes needed, "
                                                    rf"4,096 free\); free space"):
            saver.on_epoch_end(1)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    state = tmp_path / "backup" / "state.json"
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", full)
        with pytest.raises(ValueError, match=rf"{state} could not be written: No space left "
                                             rf"on device; free space .* resumes at its last "
                                             rf"completed epoch"):
            _io.write_json(state, {"epoch": 7})
    assert {p.name: p.read_bytes() for p in (tmp_path / "backup").iterdir()} == before
    assert backup.restore(str(tmp_path), model) == 1

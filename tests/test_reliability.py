"""Cases that must end in a clear error or work, never in silent wrong results: logits
trained as logits, damaged ``.keras`` files named, a full disk named
(:func:`keras_resnets.training.compile_model`, :func:`keras_resnets.load_model`)."""

import zipfile

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets._io import StateFileError
from keras_resnets.normalization import with_input_normalization
from keras_resnets.training import compile_model
from keras_resnets.training.recipes import emits_logits


def small_classifier(classes=3, activation="softmax", filters=4):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(filters, 3, padding="same")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation=activation)(x))


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("one_hot", [False, True])
def test_a_model_that_emits_logits_is_trained_on_logits(one_hot):
    images = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 3)).astype("float32")
    labels = np.arange(16) % 3
    targets = np.eye(3, dtype="float32")[labels] if one_hot else labels
    for activation in (None, "softmax"):
        model = small_classifier(activation=activation)
        compile_model(model, keras.optimizers.SGD(0.1), one_hot=one_hot, run_eagerly=True)
        outputs = model.predict(images, verbose=0).astype("float64")
        if activation is None:  # the loss takes the outputs as logits: softmax first
            outputs = np.exp(outputs) / np.exp(outputs).sum(-1, keepdims=True)
        expected = -np.mean(np.log(outputs[np.arange(16), labels]))
        scores = model.evaluate(images, targets, return_dict=True, verbose=0)
        assert abs(scores["xent"] - expected) < 1e-5
        assert abs(scores["loss"] - expected) < 1e-5
    assert emits_logits(with_input_normalization(small_classifier(activation=None), 0.5, 0.2))
    assert not emits_logits(small_classifier())

"""Gradient checkpointing (``remat=True``): the same gradients, state updates and outputs
as the plain model, on every backend, through save and reload."""

import numpy as np
import pytest

import keras_resnets
from keras_resnets.engine import NetworkSpec, Stage, build_model
from keras_resnets.layers import RematBlock

# dropout inside the blocks and drop-path on the branches: the recomputation must repeat
# the forward pass's random masks, or the gradients differ (by 0.13 in a 3-block net)
TINY = NetworkSpec.residual(name="tiny_preact", block="preact", preact=True, stem="cifar",
                            stem_filters=8, stages=(Stage(2, 8, 1), Stage(1, 16, 2)),
                            block_options={"dropout_rate": 0.3, "zero_init_residual": False},
                            default_input_shape=(16, 16, 3), default_classes=3)


def _seeds(model):
    """The dropout and drop-path seed states, in layer order (their paths are numbered
    per process, not per model)."""
    return [v for v in model.non_trainable_variables if "seed_generator" in v.path]


def _pair():
    import keras

    plain = build_model(TINY, drop_path_rate=0.2)
    remat = build_model(TINY, drop_path_rate=0.2, remat=True)
    # the same weights, matched by path (the nesting changes their order), and seeds
    values = {v.path: v for v in plain.weights}
    for variable in remat.weights:
        variable.assign(np.array(values[variable.path]))  # a copy: JAX donates buffers
    assert len(_seeds(plain)) == len(_seeds(remat)) == 5
    for mine, theirs in zip(_seeds(remat), _seeds(plain)):
        mine.assign(np.array(theirs))
    for model in (plain, remat):
        model.compile(keras.optimizers.SGD(learning_rate=1.0), "sparse_categorical_crossentropy",
                      jit_compile=keras.backend.backend() == "jax")  # faster so
    return plain, remat


@pytest.mark.backend_agnostic
def test_remat_gives_the_gradients_and_state_updates_of_the_plain_model(tmp_path):
    plain, remat = _pair()
    # three blocks and the final BN-ReLU are checkpointed, the stem and head are not
    assert [layer.name for layer in remat.layers if isinstance(layer, RematBlock)] == [
        "conv2_block1", "conv2_block2", "conv3_block1", "post"]
    assert remat.count_params() == plain.count_params()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 3, 6)
    before = {v.path: np.array(v) for v in plain.weights}
    plain.train_on_batch(x, y)
    remat.train_on_batch(x, y)
    after = {v.path: np.array(v) for v in remat.weights}
    # SGD with rate 1: each trainable weight moved by minus its gradient
    grads = {v.path: before[v.path] - np.array(v) for v in plain.trainable_variables}
    largest = max(np.abs(g).max() for g in grads.values())
    assert largest > 0.05
    error = max(np.abs(grads[p] - (before[p] - after[p])).max() for p in grads)
    assert error < 1e-5 * largest
    # BatchNorm statistics and dropout seeds advanced once, as in the plain model
    for variable in plain.non_trainable_weights:
        np.testing.assert_allclose(after[variable.path], np.array(variable), atol=1e-6)
    for mine, theirs in zip(_seeds(remat), _seeds(plain)):
        np.testing.assert_array_equal(np.array(mine), np.array(theirs))

    path = tmp_path / "remat.keras"
    remat.save(path)
    again = keras_resnets.load_model(path)
    assert sum(isinstance(layer, RematBlock) for layer in again.layers) == 4
    assert np.array_equal(again.predict(x, verbose=0), remat.predict(x, verbose=0))


def test_create_model_takes_remat_and_weights_and_refuses_a_non_bool(tmp_path):
    plain = keras_resnets.create_model("resnet20")
    rng = np.random.default_rng(1)
    for variable in plain.weights:   # weights unlike any initialisation
        value = rng.normal(size=variable.shape) * 0.1
        variable.assign((value + ("variance" in variable.path)).astype("float32"))
    plain.save_weights(tmp_path / "resnet20.weights.h5")
    model = keras_resnets.create_model("resnet20", remat=True,
                                       weights=str(tmp_path / "resnet20.weights.h5"))
    assert sum(isinstance(layer, RematBlock) for layer in model.layers) == 9
    assert model.count_params() == keras_resnets.count_params("resnet20", remat=True).total
    x = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    assert np.array_equal(model.predict(x, verbose=0), plain.predict(x, verbose=0))
    with pytest.raises(ValueError, match="remat must be True or False; got 'yes'"):
        keras_resnets.create_model("resnet20", remat="yes")

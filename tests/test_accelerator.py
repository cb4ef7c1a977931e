"""keras_resnets.accelerator: what the notebooks use on a GPU machine without TensorFlow."""

import numpy as np
import pytest

from keras_resnets.accelerator import (
    digits_splits,
    images_per_s,
    save_digits_splits,
    train_on_arrays,
)
from keras_resnets.normalization import input_normalization


def _tiny_splits():
    rng = np.random.default_rng(0)
    labels = np.arange(64) % 4
    images = (rng.integers(0, 60, (64, 8, 8, 3)) + 180 * (labels[:, None, None, None] % 2))
    images[:, :4, :4, :] //= 1 + labels[:, None, None, None] // 2   # class 2, 3: dark corner
    images = images.astype("uint8")
    return {"train": (images[:48], labels[:48]), "validation": (images[48:], labels[48:])}


@pytest.mark.backend_agnostic
def test_train_on_arrays_records_each_epoch_and_the_throughput_after_the_first():
    splits = _tiny_splits()
    run = train_on_arrays("resnet8", splits, epochs=2, batch_size=16, jit_compile=False,
                          verbose=0)
    assert [row["epoch"] for row in run.history] == [0, 1]
    assert run.metrics["epochs"] == 2 and run.metrics["seconds_to_target"] is None
    assert images_per_s(run) == run.metrics["images_per_s"] > 0
    mean, std = input_normalization(run.model)                   # it takes raw pixels
    x = splits["train"][0].astype("float32") / 255.0
    np.testing.assert_allclose(mean, x.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(std, x.std(axis=(0, 1, 2)), rtol=1e-5)


def test_digits_splits_round_trip_through_the_npz_file(tmp_path):
    path = save_digits_splits(str(tmp_path / "digits.npz"))
    with np.load(path) as arrays:
        assert {k: arrays[k].shape for k in arrays} == {
            "train_x": (1257, 32, 32, 3), "train_y": (1257,), "validation_x": (180, 32, 32, 3),
            "validation_y": (180,), "test_x": (360, 32, 32, 3), "test_y": (360,)}
        np.testing.assert_array_equal(arrays["test_x"], digits_splits()["test"][0])

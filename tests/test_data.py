"""Input pipelines: the offline digits set, augmentation, and tfds through mock data."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_resnets import data


def test_digits_split_is_fixed_stratified_and_32x32x3():
    x_train, y_train = data.load_digits_arrays("train")
    x_test, y_test = data.load_digits_arrays("test")
    assert x_train.shape == (1437, 32, 32, 3) and x_test.shape == (360, 32, 32, 3)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert (x_train[..., 0] == x_train[..., 2]).all()
    assert x_train.min() == 0 and x_train.max() == 255
    # stratified: every class holds 19.5-20.5% of its images out
    total = np.bincount(y_train, minlength=10) + np.bincount(y_test, minlength=10)
    assert total.sum() == 1797
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - total * 360 / 1797) <= 1)
    again = data._digits_arrays.__wrapped__()
    np.testing.assert_array_equal(again["test"][0], x_test)
    np.testing.assert_array_equal(again["test"][1], y_test)


def test_digits_info_and_normalization():
    info = data.dataset_info("digits")
    assert (info.num_classes, info.input_shape) == (10, (32, 32, 3))
    assert info.splits == {"train": 1437, "test": 360}
    assert info.default_augment == "crop"
    x_train, _ = data.load_digits_arrays("train")
    np.testing.assert_allclose(info.mean, [x_train.mean() / 255] * 3, atol=1e-4)
    batches = list(data.load_dataset("digits", "train", 2000, augment=False, shuffle=False))
    assert len(batches) == 1
    images = batches[0][0].numpy().astype("float64")
    np.testing.assert_allclose(images.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(images.std(axis=(0, 1, 2)), 1.0, atol=1e-5)


def test_batches_labels_and_remainder():
    batches = list(data.load_dataset("digits", "train", 64))
    assert len(batches) == 23  # ceil(1437 / 64)
    assert batches[0][0].shape == (64, 32, 32, 3) and batches[-1][0].shape[0] == 1437 - 22 * 64
    assert batches[0][0].dtype == tf.float32 and batches[0][1].dtype == tf.int64
    assert len(list(data.load_dataset("digits", "train", 64, drop_remainder=True))) == 22
    test_labels = np.concatenate([y for _, y in data.load_dataset("digits", "test", 100)])
    np.testing.assert_array_equal(test_labels, data.load_digits_arrays("test")[1])


def test_label_smoothing_gives_smoothed_one_hot_rows():
    _, labels = next(iter(data.load_dataset("digits", "test", 8, label_smoothing=0.1)))
    labels = labels.numpy()
    assert labels.shape == (8, 10)
    np.testing.assert_allclose(labels.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(labels.max(1), 0.91, rtol=1e-6)
    np.testing.assert_allclose(labels.min(1), 0.01, rtol=1e-6)
    np.testing.assert_array_equal(labels.argmax(1), data.load_digits_arrays("test")[1][:8])


def _seed(i):
    return tf.constant([i, 7], tf.int64)


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_random_crop_is_a_translation_of_at_most_4_pixels(mode):
    image = tf.reshape(tf.range(1, 32 * 32 * 3 + 1, dtype=tf.float32), (32, 32, 3))
    padded = np.pad(image.numpy(), ((4, 4), (4, 4), (0, 0)), mode=mode)
    offsets = set()
    for i in range(30):
        crop = data.random_crop(image, 4, mode, _seed(i)).numpy()
        found = [(dy, dx) for dy in range(9) for dx in range(9)
                 if np.array_equal(padded[dy:dy + 32, dx:dx + 32], crop)]
        assert len(found) == 1
        offsets.add(found[0])
    assert len(offsets) > 5


def test_cutout_zeroes_one_clipped_square():
    counts = []
    for i in range(200):
        out = data.cutout(tf.ones((32, 32, 3)), 8, _seed(i)).numpy()
        zero = out[..., 0] == 0
        assert (zero == (out == 0).all(-1)).all()
        rows, cols = np.nonzero(zero.any(1))[0], np.nonzero(zero.any(0))[0]
        assert zero.sum() == len(rows) * len(cols)  # a filled rectangle
        assert np.all(np.diff(rows) == 1) and np.all(np.diff(cols) == 1)
        counts.append(zero.sum())
    assert min(counts) >= 16 and max(counts) == 64


def test_flip_only_in_crop_flip():
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, :4] = 255  # a bar on the left: crops move it at most 4 pixels
    info = data.dataset_info("digits")
    on_right = {}
    for augment in ("crop", "crop_flip"):
        fn = data._preprocess(info, augment, "constant", 0, False, 0.0)
        on_right[augment] = sum(bool((fn(image, 0, _seed(i))[0].numpy()[:, 16:] > 1).any())
                                for i in range(40))
    assert on_right["crop"] == 0
    assert 8 < on_right["crop_flip"] < 32


def test_augmentation_differs_between_epochs():
    ds = data.load_dataset("digits", "test", 360, augment="crop", shuffle=False, seed=3)
    first, second = (next(iter(ds))[0].numpy() for _ in range(2))
    assert not np.array_equal(first, second)
    plain = data.load_dataset("digits", "test", 360)
    np.testing.assert_array_equal(next(iter(plain))[0], next(iter(plain))[0])


def test_tfds_pipelines_with_mock_data():
    with tfds.testing.mock_data(num_examples=20):
        info = data.dataset_info("cifar10")
        assert (info.num_classes, info.input_shape) == (10, (32, 32, 3))
        assert info.mean == (0.4914, 0.4822, 0.4465) and info.default_augment == "crop_flip"
        batches = list(data.load_dataset("cifar10", "train", 8, cutout=16))
        assert [b[0].shape[0] for b in batches] == [8, 8, 4]
        assert batches[0][0].dtype == tf.float32
        assert data.num_examples("cifar10", "train") == 20
        assert data.dataset_info("cifar100").num_classes == 100
        x, y = next(iter(data.load_dataset("svhn_cropped", "test", 5)))
        assert x.shape == (5, 32, 32, 3) and set(y.numpy()) <= set(range(10))
        assert data.dataset_info("svhn_cropped").default_augment == "crop"
        mnist = data.dataset_info("mnist")  # any tfds image classification set by name
        assert (mnist.num_classes, mnist.input_shape, len(mnist.mean)) == (10, (28, 28, 1), 1)
        assert 0.3 < mnist.mean[0] < 0.7 and 0.2 < mnist.std[0] < 0.4  # uniform mock pixels
        x, y = next(iter(data.load_dataset("mnist", "train", 4, label_smoothing=0.2)))
        assert x.shape == (4, 28, 28, 1) and y.shape == (4, 10)


def test_offline_data_dir_without_download_fails_clearly(tmp_path):
    with pytest.raises(ValueError, match=r"download=False.*cifar10.*data_dir"):
        data.load_dataset("cifar10", "train", 8, data_dir=str(tmp_path), download=False)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"name": "no_such_set"}, r"dataset must be .*'cifar10'.*got 'no_such_set'"),
    ({"name": ""}, r"dataset must be .*got ''"),
    ({"batch_size": 0}, r"batch_size must be an integer >= 1 \(e\.g\. 32.*got 0"),
    ({"batch_size": -3}, r"batch_size .*got -3"),
    ({"batch_size": 2.5}, r"batch_size .*got 2\.5"),
    ({"batch_size": True}, r"batch_size .*got True"),
    ({"split": "validation"}, r"split for 'digits' must be 'train'.*got 'validation'"),
    ({"augment": "mixup"}, r"augment must be .*'crop_flip'.*got 'mixup'"),
    ({"cutout": -1}, r"cutout must be an integer >= 0.*got -1"),
    ({"label_smoothing": 1.0}, r"label_smoothing must be in \[0, 1\).*got 1\.0"),
    ({"pad_mode": "wrap"}, r"pad_mode must be one of .*got 'wrap'"),
])
def test_bad_arguments_raise_clear_errors(kwargs, pattern):
    arguments = {"name": "digits", "split": "train", "batch_size": 8, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        data.load_dataset(**arguments)


def test_not_an_image_classification_dataset():
    with pytest.raises(ValueError, match=r"image classification .*'imdb_reviews'"):
        data.dataset_info("imdb_reviews")

"""Input pipelines: the digits tfds builder, CIFAR-10 prepared on disk, augmentation."""

from unittest import mock

import numpy as np
import pytest
import requests
import tensorflow as tf
import tensorflow_datasets as tfds
from helpers import prepare_fake_cifar10

from keras_resnets import data
from keras_resnets.cli import main as cli_main
from keras_resnets.datasets import digits_arrays


def test_digits_builder_prepares_offline_fixed_stratified_splits(tmp_path):
    info = data.dataset_info("digits", data_dir=str(tmp_path))  # prepares it, no network
    assert (tmp_path / "digits" / "1.0.0" / "dataset_info.json").is_file()
    assert info.splits == {"train": 1257, "validation": 180, "test": 360}
    assert (info.train_split, info.validation_split, info.test_split) == \
        ("train", "validation", "test")
    expected = digits_arrays()
    total = np.zeros(10, int)
    for split, size in info.splits.items():
        ds = tfds.load("digits", split=split, data_dir=str(tmp_path), as_supervised=True)
        images, labels = (np.stack(v) for v in zip(*tfds.as_numpy(ds), strict=True))
        assert images.shape == (size, 32, 32, 3) and images.dtype == np.uint8
        assert (images[..., 0] == images[..., 2]).all() and images.max() == 255
        assert _examples(images, labels) == _examples(*expected[split])  # tfds shuffled them
        total += np.bincount(labels, minlength=10)
    assert total.sum() == 1797
    for split, size in info.splits.items():  # stratified: each class in proportion
        counts = np.bincount(expected[split][1], minlength=10)
        assert np.all(np.abs(counts - total * size / 1797) <= 1.5), split
    assert _examples(*data.load_arrays("digits", "test", data_dir=str(tmp_path))) == \
        _examples(*expected["test"])


def _examples(images, labels):
    return sorted(zip((image.tobytes() for image in images), labels.tolist(), strict=True))


def test_digits_info_and_normalization():
    info = data.dataset_info("digits")
    assert (info.num_classes, info.input_shape) == (10, (32, 32, 3))
    assert info.default_augment == "crop"
    x_train, _ = data.load_arrays("digits", "train")
    np.testing.assert_allclose(info.mean, [x_train.mean() / 255] * 3, atol=1e-4)
    batches = list(data.load_dataset("digits", "train", 2000, augment=False, shuffle=False))
    assert len(batches) == 1
    images = batches[0][0].numpy().astype("float64")
    np.testing.assert_allclose(images.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(images.std(axis=(0, 1, 2)), 1.0, atol=1e-5)


def test_batches_labels_and_remainder():
    batches = list(data.load_dataset("digits", "train", 64))
    assert len(batches) == 20  # ceil(1257 / 64)
    assert batches[0][0].shape == (64, 32, 32, 3) and batches[-1][0].shape[0] == 1257 - 19 * 64
    assert batches[0][0].dtype == tf.float32 and batches[0][1].dtype == tf.int64
    assert len(list(data.load_dataset("digits", "train", 64, drop_remainder=True))) == 19
    test_labels = np.concatenate([y for _, y in data.load_dataset("digits", "test", 100)])
    np.testing.assert_array_equal(test_labels, data.load_arrays("digits", "test")[1])
    assert data.num_examples("digits", "validation") == 180
    assert data.num_examples("digits", "train[:100]") == 100


def test_label_smoothing_gives_smoothed_one_hot_rows():
    _, labels = next(iter(data.load_dataset("digits", "test", 8, label_smoothing=0.1)))
    labels = labels.numpy()
    assert labels.shape == (8, 10)
    np.testing.assert_allclose(labels.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(labels.max(1), 0.91, rtol=1e-6)
    np.testing.assert_allclose(labels.min(1), 0.01, rtol=1e-6)
    np.testing.assert_array_equal(labels.argmax(1), data.load_arrays("digits", "test")[1][:8])


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


def test_cifar10_prepared_on_disk_goes_through_tfds(tmp_path):
    written = prepare_fake_cifar10(str(tmp_path), per_file=12)  # 60 train, 12 test images
    info = data.dataset_info("cifar10", data_dir=str(tmp_path), download=False)
    assert (info.num_classes, info.input_shape, info.default_augment) == \
        (10, (32, 32, 3), "crop_flip")
    assert info.mean == (0.4914, 0.4822, 0.4465)
    assert info.splits == {"train": 60, "test": 12}
    # no validation split in tfds: the last tenth of train (5,000 of CIFAR-10's 50,000)
    assert (info.train_split, info.validation_split) == ("train[:54]", "train[54:]")
    options = dict(data_dir=str(tmp_path), download=False)
    assert data.num_examples("cifar10", info.validation_split, **options) == 6
    assert _examples(*data.load_arrays("cifar10", "test", **options)) == \
        _examples(*written["test"])
    batches = list(data.load_dataset("cifar10", info.train_split, 16, cutout=16, **options))
    assert [b[0].shape[0] for b in batches] == [16, 16, 16, 6]
    validation = list(data.load_dataset("cifar10", info.validation_split, 16, **options))
    x, _ = validation[0]
    expected = (data.load_arrays("cifar10", info.validation_split, **options)[0] / 255.0
                - np.array(info.mean)) / np.array(info.std)
    np.testing.assert_allclose(x.numpy(), expected, atol=1e-5)  # neither augmented nor shuffled


def test_a_dataset_that_cannot_be_had_fails_in_one_clear_line(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"'cifar10' is not prepared in data_dir .*"
                                         r"download=False.*--data-dir DIR.*--dataset digits"):
        data.load_dataset("cifar10", "train", 8, data_dir=str(tmp_path), download=False)
    offline = requests.ConnectionError("Failed to resolve 'www.cs.toronto.edu'")
    with mock.patch.object(tfds.download.DownloadManager, "download_and_extract",
                           side_effect=offline), \
            mock.patch.object(data, "_unreachable_source", return_value=None):  # it answered
        with pytest.raises(ValueError) as error:
            data.dataset_info("cifar10", data_dir=str(tmp_path))
        message = str(error.value)
        assert "\n" not in message and "could not be downloaded (ConnectionError: " in message
        assert "--data-dir DIR" in message and "--dataset digits" in message
        code = cli_main(["train", "resnet20", "--dataset", "cifar10", "--epochs", "1",
                         "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "'cifar10' is not prepared" in err[0] and "--dataset digits" in err[0]


@pytest.mark.parametrize("kwargs, pattern", [
    ({"name": "no_such_set"}, r"dataset must be .*'cifar10'.*got 'no_such_set'"),
    ({"name": ""}, r"dataset must be .*got ''"),
    ({"batch_size": 0}, r"batch_size must be an integer >= 1 \(e\.g\. 32.*got 0"),
    ({"batch_size": -3}, r"batch_size .*got -3"),
    ({"batch_size": 2.5}, r"batch_size .*got 2\.5"),
    ({"batch_size": True}, r"batch_size .*got True"),
    ({"split": "valid"}, r"split must be one of \['test', 'train', 'validation'\] of "
                         r"'digits' .*got 'valid'"),
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

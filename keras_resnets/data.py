"""Input pipelines: tensorflow-datasets image classification, and the offline ``digits`` set.

``load_dataset`` returns a batched, prefetched ``tf.data.Dataset`` of
``(images, labels)``: images float32, per-channel normalized
(``(x / 255 - mean) / std``), labels int64 class ids, or one-hot float32 rows when
``one_hot=True`` or ``label_smoothing > 0`` (smoothing needs one-hot targets and a
``CategoricalCrossentropy`` loss). ``dataset_info`` tells the number of classes, the
input shape, the splits and the mean/std the pipeline uses.

``digits`` is scikit-learn's copy of the 1,797 handwritten 8x8 digits of the UCI
set (no download): upscaled bilinearly to 32x32, replicated to 3 channels and split
once, stratified with a fixed seed, into ``train`` (1,437 images) and ``test`` (360).

Example::

    train = load_dataset("cifar10", "train", 128)               # pad-crop-flip augmented
    test = load_dataset("cifar10", "test", 256)
    train = load_dataset("digits", "train", 64, cutout=8, label_smoothing=0.1)
    dataset_info("cifar100").num_classes                         # 100
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import tensorflow as tf

from keras_resnets._checks import check_choice, check_int, check_positive_int, is_number

DIGITS = "digits"
DIGITS_TEST_SIZE = 360
DIGITS_SEED = 0
AUGMENTATIONS = ("none", "crop", "crop_flip")
PAD_MODES = ("constant", "reflect")
EXAMPLES = "'digits' (offline), 'cifar10', 'cifar100', 'svhn_cropped', 'mnist'"

# Per-channel mean and std of the training images (pixels / 255), as widely used.
_KNOWN_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "svhn_cropped": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
}
# Digit images must not be mirrored: a flipped 2, 3 or 7 is not the same digit.
_NO_FLIP = ("digits", "svhn_cropped", "mnist", "emnist", "kmnist")
_STATS_SAMPLE = 10_000
_AUTO_CACHE_BYTES = 1 << 30


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a pipeline feeds a model: classes, input shape, splits, normalization."""

    name: str
    num_classes: int
    input_shape: tuple
    mean: tuple
    std: tuple
    splits: dict
    train_split: str = "train"
    test_split: str = "test"
    default_augment: str = "crop_flip"


def _check_name(name):
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"dataset must be a dataset name such as {EXAMPLES}; got {name!r}")
    return name.strip().lower()


# --- digits ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _digits_arrays():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    small = digits.images.astype("float32")[..., None] / 16.0
    big = tf.image.resize(small, (32, 32), method="bilinear").numpy()
    images = np.repeat(np.round(np.clip(big, 0.0, 1.0) * 255.0).astype("uint8"), 3, axis=-1)
    labels = digits.target.astype("int64")
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=DIGITS_TEST_SIZE, stratify=labels, random_state=DIGITS_SEED)
    return {"train": (x_train, y_train), "test": (x_test, y_test)}


def load_digits_arrays(split="train"):
    """The ``digits`` split as numpy arrays: uint8 images (N, 32, 32, 3), int64 labels."""
    arrays = _digits_arrays()
    if split not in arrays:
        raise ValueError(f"split for 'digits' must be 'train' (1,437 images) or 'test' (360); "
                         f"got {split!r}")
    return arrays[split]


# --- tensorflow-datasets ----------------------------------------------------------------


def _builder(name, data_dir):
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # tfds raises DatasetNotFoundError and friends
        raise ValueError(f"dataset must be 'digits' or a tensorflow-datasets image "
                         f"classification name ({EXAMPLES}); got {name!r} ({error.__class__.__name__})"
                         ) from None
    return builder


def _feature_keys(builder):
    import tensorflow_datasets as tfds

    features = builder.info.features
    items = features.items() if hasattr(features, "items") else ()
    images = [k for k, f in items if isinstance(f, tfds.features.Image)]
    labels = [k for k, f in items if isinstance(f, tfds.features.ClassLabel)]
    supervised = builder.info.supervised_keys
    if supervised and len(supervised) == 2 and supervised[0] in images and supervised[1] in labels:
        return supervised
    if not images or not labels:
        raise ValueError(f"dataset must be an image classification dataset with an Image and a "
                         f"ClassLabel feature ({EXAMPLES}); {builder.name!r} has "
                         f"features {list(dict(items))}")
    return images[0], labels[0]


def _tfds_raw(name, split, data_dir, download, shuffle_files=False):
    import tensorflow_datasets as tfds

    builder = _builder(name, data_dir)
    image_key, label_key = _feature_keys(builder)
    if not download and not builder.is_prepared():
        raise ValueError(
            f"download=False, but dataset {name!r} is not prepared in data_dir "
            f"{builder.data_dir!r}: prepare it on a machine with internet "
            f"(`tfds build {name} --data_dir DIR`) and copy DIR here, pass data_dir=DIR, "
            f"or allow download=True")
    ds = tfds.load(name, split=split, data_dir=data_dir, download=download,
                   shuffle_files=shuffle_files)
    return ds.map(lambda f: (f[image_key], tf.cast(f[label_key], tf.int64)),
                  num_parallel_calls=tf.data.AUTOTUNE)


@functools.lru_cache(maxsize=32)
def _computed_stats(name, data_dir, download):
    ds = _tfds_raw(name, "train", data_dir, download).take(_STATS_SAMPLE)
    total = count = square = 0.0
    for images, _ in ds.batch(1000):
        pixels = images.numpy().astype("float64").reshape(-1, images.shape[-1]) / 255.0
        total = total + pixels.sum(0)
        square = square + (pixels ** 2).sum(0)
        count += pixels.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(square / count - mean ** 2, 1e-12))
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def dataset_info(name, *, data_dir=None, download=True) -> DatasetInfo:
    """Classes, input shape, splits and normalization of ``name``.

    Mean and std: published values for CIFAR-10/100 and SVHN, computed exactly for
    ``digits``, and from up to 10,000 training images for other tfds datasets.

    Example::

        info = dataset_info("digits")   # 10 classes, (32, 32, 3), splits train 1437 / test 360
    """
    name = _check_name(name)
    if name == DIGITS:
        x_train, _ = load_digits_arrays("train")
        pixels = x_train.reshape(-1, 3).astype("float64") / 255.0
        return DatasetInfo(
            name=DIGITS, num_classes=10, input_shape=(32, 32, 3),
            mean=tuple(round(float(v), 6) for v in pixels.mean(0)),
            std=tuple(round(float(v), 6) for v in pixels.std(0)),
            splits={"train": len(x_train), "test": DIGITS_TEST_SIZE},
            default_augment="crop")
    builder = _builder(name, data_dir)
    image_key, label_key = _feature_keys(builder)
    shape = tuple(builder.info.features[image_key].shape)
    if None in shape:
        raise ValueError(f"dataset {name!r} has images of varying size {shape}; the pipeline "
                         f"needs a fixed size, e.g. 'cifar10' (32, 32, 3)")
    mean, std = _KNOWN_STATS.get(name) or _computed_stats(name, data_dir, download)
    splits = {k: v.num_examples for k, v in builder.info.splits.items()}
    return DatasetInfo(
        name=name, num_classes=int(builder.info.features[label_key].num_classes),
        input_shape=shape, mean=tuple(mean), std=tuple(std), splits=splits,
        default_augment="crop" if name in _NO_FLIP else "crop_flip")


# --- augmentation -------------------------------------------------------------------------


def _resolve_augment(augment, split, info):
    if augment is None:
        augment = split.startswith("train")
    if augment is True:
        return info.default_augment
    if augment is False:
        return "none"
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be True, False, None or one of {AUGMENTATIONS}; "
                         f"got {augment!r}")
    return augment


def random_crop(image, pad, mode, seed):
    """Pad ``pad`` pixels on each side (``"constant"`` zeros or ``"reflect"``) and crop
    back to the original size at a random offset; ``seed`` is a stateless seed ``[2]``."""
    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode=mode.upper())
    return tf.image.stateless_random_crop(padded, tf.shape(image), seed=seed)


def cutout(image, size, seed):
    """Zero a ``size`` x ``size`` square centred anywhere on the image (clipped at edges),
    as DeVries & Taylor (2017); on a normalized image zero is the mean colour."""
    shape = tf.shape(image)
    centre = tf.random.stateless_uniform((2,), seed, maxval=tf.int32.max, dtype=tf.int32)
    cy, cx = centre[0] % shape[0], centre[1] % shape[1]
    rows = tf.range(shape[0]) - (cy - size // 2)
    cols = tf.range(shape[1]) - (cx - size // 2)
    inside = ((rows >= 0) & (rows < size))[:, None] & ((cols >= 0) & (cols < size))[None, :]
    return image * tf.cast(~inside, image.dtype)[..., None]


def _preprocess(info, augment, pad_mode, cutout_size, one_hot, label_smoothing):
    mean = tf.constant(info.mean, tf.float32)
    std = tf.constant(info.std, tf.float32)

    def fn(image, label, seed=None):
        image = (tf.cast(image, tf.float32) / 255.0 - mean) / std
        if seed is not None:
            crop_seed, flip_seed, cutout_seed = tf.unstack(
                tf.random.experimental.stateless_split(seed, 3))
            if augment in ("crop", "crop_flip"):
                image = random_crop(image, 4, pad_mode, crop_seed)
            if augment == "crop_flip":
                image = tf.image.stateless_random_flip_left_right(image, flip_seed)
            if cutout_size:
                image = cutout(image, cutout_size, cutout_seed)
        if one_hot:
            label = tf.one_hot(label, info.num_classes, dtype=tf.float32)
            if label_smoothing:
                label = label * (1.0 - label_smoothing) + label_smoothing / info.num_classes
        return image, label

    return fn


def _check_options(pad_mode, cutout_size, label_smoothing):
    check_choice("pad_mode", pad_mode, PAD_MODES)
    check_int("cutout", cutout_size, 0, "0 = off, 16 for CIFAR-10, 8 for CIFAR-100")
    if not is_number(label_smoothing) or not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1) (e.g. 0.0, 0.1); "
                         f"got {label_smoothing!r}")


def load_dataset(name, split="train", batch_size=128, *, augment=None, pad_mode="constant",
                 cutout=0, label_smoothing=0.0, one_hot=False, shuffle=None, seed=None,
                 drop_remainder=False, repeat=False, cache=None, data_dir=None,
                 download=True) -> tf.data.Dataset:
    """A batched, prefetched ``tf.data`` pipeline of normalized ``(image, label)`` pairs.

    Args:
        name: ``"digits"`` or a tfds image-classification name (``"cifar10"``, ...).
        split: ``"train"``/``"test"``, or any tfds split string (``"train[:90%]"``).
        augment: ``None`` augments training splits only; ``True`` uses the dataset's
            default (``"crop_flip"``: 4-pixel pad, random crop, horizontal flip; digit
            datasets ``"crop"``, no flip); ``False``/``"none"``, ``"crop"``, ``"crop_flip"``.
        pad_mode: ``"constant"`` (zeros after normalization, i.e. the mean colour, as
            fb.resnet.torch) or ``"reflect"`` (the Wide ResNet paper).
        cutout: side of the Cutout square, 0 for none.
        label_smoothing: epsilon; gives smoothed one-hot labels.
        shuffle: shuffle examples (default: for training splits).
        cache: keep decoded images in memory: ``None`` does so when they fit in 1 GiB;
            a string caches to that file.
        data_dir, download: passed to ``tfds.load``; ``download=False`` reads only what
            ``data_dir`` already holds (machines without internet).
    """
    name = _check_name(name)
    batch_size = check_positive_int("batch_size", batch_size, "32, 64, 128")
    _check_options(pad_mode, cutout, label_smoothing)
    info = dataset_info(name, data_dir=data_dir, download=download)
    augment = _resolve_augment(augment, split, info)
    training = split.startswith("train")
    if name == DIGITS:
        images, labels = load_digits_arrays(split)
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
    else:
        ds = _tfds_raw(name, split, data_dir, download, shuffle_files=bool(training))
    size = int(ds.cardinality())
    if size < 0:
        size = info.splits.get(split, -1)
    if cache is None:
        cache = 0 <= size * int(np.prod(info.input_shape)) <= _AUTO_CACHE_BYTES
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if training if shuffle is None else shuffle:
        ds = ds.shuffle(min(size, 50_000) if size > 0 else 10_000, seed=seed,
                        reshuffle_each_iteration=True)
    one_hot = bool(one_hot or label_smoothing)
    fn = _preprocess(info, augment, pad_mode, int(cutout), one_hot, float(label_smoothing))
    if augment != "none" or cutout:
        # Stateless ops with fresh per-example seeds every epoch (stateful ops in a map
        # repeat the same draws each epoch once a global seed is set).
        seeds = tf.data.Dataset.random(seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, seeds).map(lambda pair, s: fn(*pair, s),
                                                num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if repeat:
        ds = ds.repeat()
    return ds.prefetch(tf.data.AUTOTUNE)


def num_examples(name, split, *, data_dir=None, download=True) -> int:
    """Examples in ``split`` (counted by reading it when tfds does not know)."""
    name = _check_name(name)
    if name == DIGITS:
        return len(load_digits_arrays(split)[1])
    info = dataset_info(name, data_dir=data_dir, download=download)
    if split in info.splits:
        return int(info.splits[split])
    ds = _tfds_raw(name, split, data_dir, download)
    size = int(ds.cardinality())
    return size if size >= 0 else int(ds.reduce(np.int64(0), lambda n, *_: n + 1))

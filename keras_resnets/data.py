"""Input pipelines: tensorflow-datasets image classification, and the offline ``digits`` set.

``load_dataset`` returns a batched, prefetched ``tf.data.Dataset`` of
``(images, labels)``: images float32, per-channel normalized
(``(x / 255 - mean) / std``), labels int64 class ids, or one-hot float32 rows when
``one_hot=True`` or ``label_smoothing > 0`` (smoothing needs one-hot targets and a
``CategoricalCrossentropy`` loss). ``dataset_info`` tells the number of classes, the
input shape, the splits and the mean/std the pipeline uses.

Every dataset goes through tensorflow-datasets (builder, splits, info, ``as_dataset``).
``digits`` (:mod:`keras_resnets.datasets.digits`) is scikit-learn's copy of the 1,797
handwritten digits, upscaled to 32x32x3 and split into ``train`` (1,257 images),
``validation`` (180) and ``test`` (360); tfds prepares it into ``data_dir`` without a
network. A dataset that is not prepared and cannot be downloaded raises one
``ValueError`` line naming it, ``data_dir`` and the offline ``digits``.

Each dataset has three splits (:class:`DatasetInfo`): ``train_split`` to fit,
``validation_split`` to select (``best.keras``, tuner scores) and ``test_split``,
evaluated once at the end. Where tfds has no ``validation`` split (CIFAR-10/100, SVHN)
the last 5,000 training images (at most a tenth) are held back for it.

Example::

    train = load_dataset("cifar10", "train", 128)               # pad-crop-flip augmented
    test = load_dataset("cifar10", "test", 256)
    train = load_dataset("digits", "train", 64, cutout=8, label_smoothing=0.1)
    dataset_info("cifar10").validation_split                     # 'train[45000:]'
    images, labels = load_arrays("digits", "test")               # raw uint8 pixels
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np
import tensorflow as tf

from keras_resnets._checks import check_int, check_positive_int
from keras_resnets.arrays import AUGMENTATIONS, check_augment_options

DIGITS = "digits"
VALIDATION_HOLDOUT = 5000
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
    validation_split: str = "validation"
    test_split: str = "test"
    default_augment: str = "crop_flip"


def _check_name(name):
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"dataset must be a dataset name such as {EXAMPLES}; got {name!r}")
    return name.strip().lower()


# --- tensorflow-datasets ----------------------------------------------------------------


def _builder(name, data_dir):
    import tensorflow_datasets as tfds

    import keras_resnets.datasets  # noqa: F401  (registers the "digits" builder)

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


def _prepared_builder(name, data_dir, download):
    """The builder of ``name`` with its data prepared in ``data_dir`` (downloading it if
    allowed); a dataset that cannot be had raises one line that says what to do."""
    builder = _builder(name, data_dir)
    _feature_keys(builder)  # refuse other kinds of dataset before downloading them
    if builder.is_prepared():
        return builder
    where = f"{name!r} is not prepared in data_dir {os.fspath(builder.data_dir_root)!r}"
    remedy = (f"prepare it where there is internet (`tfds build {name} --data_dir DIR`), "
              f"copy DIR here and pass --data-dir DIR (data_dir=DIR), or use the offline "
              f"--dataset digits")
    if not download:
        raise ValueError(f"dataset {where} and download=False (--no-download): {remedy}")
    unreachable = _unreachable_source(builder)
    if unreachable:
        raise ValueError(f"dataset {where} and its source cannot be reached ({unreachable}; "
                         f"no network?): {remedy}; download=False (--no-download) never "
                         f"tries the network")
    try:
        builder.download_and_prepare()
    except Exception as error:  # requests' ConnectionError, tfds' DownloadError, OSError...
        if _builder(name, data_dir).is_prepared():  # another process prepared it meanwhile
            return _builder(name, data_dir)
        reason = (str(error).strip().splitlines() or [""])[0]
        reason = reason if len(reason) <= 100 else reason[:97] + "..."
        raise ValueError(f"dataset {where} and could not be downloaded "
                         f"({type(error).__name__}: {reason}): {remedy}") from None
    return builder


def _unreachable_source(builder, timeout_s=10):
    """Why the first download URL of ``builder`` cannot be reached in one try of
    ``timeout_s`` seconds, or None: tfds retries a dead network ten times with back-off,
    which takes minutes (3 min 52 s for CIFAR-10 here) before it gives up."""
    import requests

    urls = sorted(builder.url_infos or ())
    if not urls:  # no recorded URL (a manual or custom dataset): let tfds try
        return None
    try:
        requests.head(urls[0], timeout=timeout_s, allow_redirects=False)
    except (requests.ConnectionError, requests.Timeout) as error:
        return f"{urls[0]}: {type(error).__name__}"
    return None


def _tfds_raw(name, split, data_dir, download, shuffle_files=False):
    builder = _prepared_builder(name, data_dir, download)
    image_key, label_key = _feature_keys(builder)
    ds = builder.as_dataset(split=split, shuffle_files=shuffle_files)
    return ds.map(lambda f: (f[image_key], tf.cast(f[label_key], tf.int64)),
                  num_parallel_calls=tf.data.AUTOTUNE)


@functools.lru_cache(maxsize=32)
def _computed_stats(name, split, data_dir, download):
    ds = _tfds_raw(name, split, data_dir, download).take(_STATS_SAMPLE)
    total = count = square = 0.0
    for images, _ in ds.batch(1000):
        pixels = images.numpy().astype("float64").reshape(-1, images.shape[-1]) / 255.0
        total = total + pixels.sum(0)
        square = square + (pixels ** 2).sum(0)
        count += pixels.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(square / count - mean ** 2, 1e-12))
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def _default_splits(name, splits):
    """``(train, validation, test)``: tfds' own validation split, or else the last
    ``VALIDATION_HOLDOUT`` training images (at most a tenth) held back."""
    if "train" not in splits or "test" not in splits:
        raise ValueError(f"dataset {name!r} needs 'train' and 'test' splits for the "
                         f"pipelines (e.g. 'cifar10'); it has {sorted(splits)}")
    if "validation" in splits:
        return "train", "validation", "test"
    keep = splits["train"] - min(VALIDATION_HOLDOUT, splits["train"] // 10)
    return f"train[:{keep}]", f"train[{keep}:]", "test"


def dataset_info(name, *, data_dir=None, download=True) -> DatasetInfo:
    """Classes, input shape, splits and normalization of ``name`` (prepared in
    ``data_dir`` first, downloading it if ``download``).

    Mean and std of the training split (pixels / 255): published values for
    CIFAR-10/100 and SVHN, else computed from up to 10,000 training images.

    Example::

        info = dataset_info("digits")   # 10 classes, (32, 32, 3), train / validation / test
    """
    name = _check_name(name)
    builder = _prepared_builder(name, data_dir, download)
    image_key, label_key = _feature_keys(builder)
    shape = tuple(builder.info.features[image_key].shape)
    if None in shape:
        raise ValueError(f"dataset {name!r} has images of varying size {shape}; the pipeline "
                         f"needs a fixed size, e.g. 'cifar10' (32, 32, 3)")
    splits = {k: v.num_examples for k, v in builder.info.splits.items()}
    train, validation, test = _default_splits(name, splits)
    mean, std = _KNOWN_STATS.get(name) or _computed_stats(name, train, data_dir, download)
    return DatasetInfo(
        name=name, num_classes=int(builder.info.features[label_key].num_classes),
        input_shape=shape, mean=tuple(mean), std=tuple(std), splits=splits,
        train_split=train, validation_split=validation, test_split=test,
        default_augment="crop" if name in _NO_FLIP else "crop_flip")


# --- augmentation -------------------------------------------------------------------------


def _is_training(split, info):
    """A split of training images other than the held-back validation slice."""
    return split.startswith("train") and split != info.validation_split


def _resolve_augment(augment, split, info):
    if augment is None:
        augment = _is_training(split, info)
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


def _normalizer(info):
    mean = tf.constant(info.mean, tf.float32)
    std = tf.constant(info.std, tf.float32)
    return lambda image: (tf.cast(image, tf.float32) / 255.0 - mean) / std


def _preprocess(info, augment, pad_mode, cutout_size, one_hot, label_smoothing, normalize=True):
    normalized = _normalizer(info) if normalize else lambda image: tf.cast(image, tf.float32)

    def fn(image, label, seed=None):
        image = normalized(image)
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


def load_dataset(name, split="train", batch_size=128, *, augment=None, pad_mode="constant",
                 cutout=0, label_smoothing=0.0, one_hot=False, shuffle=None, seed=None,
                 drop_remainder=False, repeat=False, cache=None, data_dir=None,
                 download=True, epoch=None, batch_augment=None) -> tf.data.Dataset:
    """A batched, prefetched ``tf.data`` pipeline of normalized ``(image, label)`` pairs.

    Args:
        name: ``"digits"`` or a tfds image-classification name (``"cifar10"``, ...).
        split: a split of :func:`dataset_info` (``info.train_split``,
            ``info.validation_split``, ``info.test_split``) or any tfds split string
            (``"train[:90%]"``).
        augment: ``None`` augments training splits (not the validation slice) only; ``True`` uses the dataset's
            default (``"crop_flip"``: 4-pixel pad, random crop, horizontal flip; digit
            datasets ``"crop"``, no flip); ``False``/``"none"``, ``"crop"``, ``"crop_flip"``.
        pad_mode: ``"constant"`` (zeros after normalization, i.e. the mean colour, as
            fb.resnet.torch) or ``"reflect"`` (the Wide ResNet paper).
        cutout: side of the Cutout square, 0 for none.
        label_smoothing: epsilon; gives smoothed one-hot labels.
        shuffle: shuffle examples (default: for training splits).
        cache: keep decoded images in memory: ``None`` does so when they fit in 1 GiB;
            a string caches to that file. The cache is filled here, in one pass.
        data_dir, download: passed to ``tfds.load``; ``download=False`` reads only what
            ``data_dir`` already holds (machines without internet).
        epoch: ``None`` reshuffles and redraws the augmentation on every pass. An int, or
            an int64 ``tf.Variable`` read as each pass starts, makes the order and the
            augmentation of a pass a function of (``seed``, epoch) only, the same in every
            process: a resumed run sees the same batches.
        batch_augment: ``fn(images, labels, seed) -> (images, labels)`` applied to each
            batch of pixels (0-255, after the crop, flip and cutout, which then pad and
            erase with black) and one-hot labels, before normalization, with a stateless
            seed drawn from (``seed``, epoch, batch position) when ``epoch`` is given:
            :func:`keras_resnets.training.augmentation.batch_augmentation` (MixUp,
            CutMix, RandAugment, RandomErasing).
    """
    name = _check_name(name)
    batch_size = check_positive_int("batch_size", batch_size, "32, 64, 128")
    check_augment_options(pad_mode, cutout, label_smoothing)
    if not isinstance(epoch, tf.Variable):
        check_int("epoch", epoch, 0, "0, 1, or a tf.Variable", allow_none=True)
    info = dataset_info(name, data_dir=data_dir, download=download)
    size = num_examples(name, split, data_dir=data_dir, download=download)
    augment = _resolve_augment(augment, split, info)
    training = _is_training(split, info)
    ds = _tfds_raw(name, split, data_dir, download,
                   shuffle_files=bool(training) and epoch is None)
    if cache is None:
        cache = 0 <= size * int(np.prod(info.input_shape)) <= _AUTO_CACHE_BYTES
    if cache:
        ds = _filled(ds.cache(cache if isinstance(cache, str) else ""))
    buffer = (min(size, 50_000) if size > 0 else 10_000) \
        if (training if shuffle is None else shuffle) else 0
    if batch_augment is not None and not callable(batch_augment):
        raise ValueError(f"batch_augment must be None or a function (images, labels, seed) "
                         f"-> (images, labels), e.g. batch_augmentation(get_recipe('modern'))"
                         f"; got {batch_augment!r}")
    one_hot = bool(one_hot or label_smoothing or batch_augment)
    fn = _preprocess(info, augment, pad_mode, int(cutout), one_hot, float(label_smoothing),
                     normalize=batch_augment is None)
    augmented = augment != "none" or bool(cutout)
    if epoch is not None:
        ds = _seeded_pass(ds, epoch, seed, buffer, fn, augmented)
    else:
        if buffer:
            ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
        if augmented:
            # Stateless ops with fresh per-example seeds every epoch (stateful ops in a map
            # repeat the same draws each epoch once a global seed is set).
            seeds = tf.data.Dataset.random(seed, rerandomize_each_iteration=True).batch(2)
            ds = tf.data.Dataset.zip(ds, seeds).map(lambda pair, s: fn(*pair, s),
                                                    num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if batch_augment is not None:
        ds = _augmented_batches(ds, batch_augment, _normalizer(info), epoch, seed)
    if epoch is not None and size >= 0:  # a pass of unknown length would hide its size
        batches = size // batch_size if drop_remainder else -(-size // batch_size)
        ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    if repeat:
        ds = ds.repeat()
    return ds.prefetch(tf.data.AUTOTUNE)


def _filled(cached):
    """``cached`` read once to its end, so that its cache is complete before anyone else
    iterates it. Keras's ``fit`` and ``evaluate`` open an iterator, read one batch and
    open a second (their symbolic build: always under a ``tf.distribute`` strategy, on
    the first ``fit`` on JAX); over a cache still being written, the second pass then
    lost examples (274 of 360 test images, 174 of 180 validation images, in 2 of 6
    two-replica MirroredStrategy runs on a loaded machine; none in 8 once filled).

    Example: ``_filled(tf.data.Dataset.range(10).cache())``."""
    cached.reduce(np.int64(0), lambda count, _: count + 1)
    return cached


def _permuted(block, seed):
    order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(block[0])[0]), seed)
    return tuple(tf.gather(t, order) for t in block)


def _seeded_pass(ds, epoch, seed, buffer, fn, augmented):
    """``ds`` shuffled (``buffer`` > 0) and mapped by ``fn`` with per-example seeds, all
    drawn from (``seed``, epoch, example index); ``epoch`` is read when a pass starts."""
    base = tf.constant([0 if seed is None else seed, 0x5EED], tf.int64)

    def one_pass(_):
        key = tf.random.experimental.stateless_fold_in(base, tf.cast(epoch, tf.int64))
        part = ds
        if buffer:  # a uniform permutation of each block of `buffer` examples
            part = part.batch(buffer).enumerate().map(
                lambda i, block: _permuted(block, tf.random.experimental.stateless_fold_in(
                    key, -1 - i))).unbatch()
        if not augmented:
            return part.map(fn, num_parallel_calls=tf.data.AUTOTUNE)
        return part.enumerate().map(
            lambda i, pair: fn(*pair, tf.random.experimental.stateless_fold_in(key, i)),
            num_parallel_calls=tf.data.AUTOTUNE)

    return tf.data.Dataset.from_tensors(0).flat_map(one_pass)


def _augmented_batches(ds, batch_augment, normalize, epoch, seed):
    """``ds``'s batches through ``batch_augment`` then normalized, one batch at a time (the
    augmentation's seed generators are set per batch): seeds from (``seed``, epoch, batch
    position) when ``epoch`` is given, else fresh ones on every pass."""
    def apply(pair, batch_seed):
        images, labels = batch_augment(*pair, batch_seed)
        return normalize(images), labels

    if epoch is None:
        seeds = tf.data.Dataset.random(seed, rerandomize_each_iteration=True).batch(2)
        return tf.data.Dataset.zip(ds, seeds).map(apply)
    base = tf.constant([0 if seed is None else seed, 0xBA7C4], tf.int64)
    return ds.enumerate().map(lambda i, pair: apply(pair, tf.random.experimental.stateless_fold_in(
        tf.random.experimental.stateless_fold_in(base, tf.cast(epoch, tf.int64)), i)))


def _split_size(builder, split):
    try:
        return int(builder.info.splits[split].num_examples)
    except (KeyError, ValueError, AssertionError) as error:
        raise ValueError(f"split must be one of {sorted(builder.info.splits)} of "
                         f"{builder.name!r} or a slice of one (e.g. 'train[:90%]', "
                         f"'train[45000:]'); got {split!r} ({error})") from None


def num_examples(name, split, *, data_dir=None, download=True) -> int:
    """Examples in ``split``, a split name or a tfds slice.

    Example: ``num_examples("cifar10", "train[:45000]")`` is 45000.
    """
    return _split_size(_prepared_builder(_check_name(name), data_dir, download), split)


def load_arrays(name, split="test", *, limit=None, data_dir=None, download=True):
    """``split`` as numpy arrays: raw uint8 images ``(N, H, W, C)`` and int64 labels,
    the first ``limit`` examples only if given. Models saved by a run take these pixels.

    Example: ``images, labels = load_arrays("digits", "test")`` (360 images).
    """
    name = _check_name(name)
    check_int("limit", limit, 1, "100, 1000", allow_none=True)
    _split_size(_prepared_builder(name, data_dir, download), split)
    ds = _tfds_raw(name, split, data_dir, download)
    if limit is not None:
        ds = ds.take(limit)
    images, labels = [], []
    for x, y in ds.batch(1024).as_numpy_iterator():
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels)


def load_digits_arrays(split="test"):
    """``load_arrays("digits", split)``: uint8 images (N, 32, 32, 3), int64 labels."""
    return load_arrays(DIGITS, split)

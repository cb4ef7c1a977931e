"""Training batches from in-memory image arrays, on any Keras backend (no tf.data).

:class:`ArrayBatches` is a ``keras.utils.PyDataset`` giving what a
:func:`keras_resnets.data.load_dataset` pipeline gives: pixels normalized as
``(x / 255 - mean) / std``, and, for training, a pad-and-crop (4 pixels), an optional
horizontal flip and Cutout, with labels one-hot and smoothed where asked. The order and
the augmentation of a pass are a function of ``(seed, epoch)`` only: set ``epoch`` at the
start of each epoch (a callback) and every run sees the same batches. This is how a
search runs where TensorFlow is not installed (the JAX GPU image).

Example::

    x, y = splits["train"]                                    # uint8 (N, 32, 32, 3), int
    mean, std = pixel_stats(x)
    train = ArrayBatches(x, y, 64, mean=mean, std=std, augment="crop", seed=0)
    model.fit(train, epochs=3, shuffle=False)                 # the batches shuffle themselves
"""

from __future__ import annotations

import keras
import numpy as np

from keras_resnets._checks import check_choice, check_int, is_number

AUGMENTATIONS = ("none", "crop", "crop_flip")
PAD_MODES = ("constant", "reflect")
CROP_PAD = 4


def check_images(images, labels, name="images") -> tuple:
    """``images`` (N, H, W, C) pixels 0-255 and ``labels`` (N,) class ids, as arrays;
    a clear error otherwise."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 4 or labels.shape != images.shape[:1] or not len(images):
        raise ValueError(f"{name} must be (N, height, width, channels) pixels with N > 0 "
                         f"and their labels (N,) class ids; got shapes {images.shape} and "
                         f"{labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError(f"{name}' labels must be class ids (integers >= 0, e.g. 0-9); got "
                         f"dtype {labels.dtype}, smallest {labels.min()}")
    return images, labels


def check_augment_options(pad_mode, cutout, label_smoothing) -> None:
    """The augmentation options that arrays and tf.data pipelines share, checked."""
    check_choice("pad_mode", pad_mode, PAD_MODES)
    check_int("cutout", cutout, 0, "0 = off, 16 for CIFAR-10, 8 for CIFAR-100")
    if not is_number(label_smoothing) or not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1) (e.g. 0.0, 0.1); "
                         f"got {label_smoothing!r}")


def pixel_stats(images) -> tuple:
    """Per-channel ``(mean, std)`` of ``images / 255`` (tuples), as a pipeline normalizes."""
    scaled = np.asarray(images, "float64") / 255.0
    axes = tuple(range(scaled.ndim - 1))
    return (tuple(float(v) for v in scaled.mean(axes)),
            tuple(float(v) for v in np.maximum(scaled.std(axes), 1e-3)))


class ArrayBatches(keras.utils.PyDataset):
    """Normalized (and, for training, augmented) batches of ``images`` and ``labels``.

    Args:
        images, labels: uint8 pixels (N, H, W, C) and class ids (N,).
        batch_size: images per batch; the last batch of a pass may be smaller.
        mean, std: per channel, of ``pixels / 255`` (see :func:`pixel_stats`).
        classes: the number of classes (one-hot width); default ``max(labels) + 1``.
        augment: ``"none"``, ``"crop"`` (pad 4 and crop back) or ``"crop_flip"``.
        pad_mode: ``"constant"`` (zeros after normalization, the mean colour) or ``"reflect"``.
        cutout: side of the Cutout square, 0 for none.
        one_hot, label_smoothing: one-hot labels, smoothed by ``label_smoothing``.
        shuffle: a new order every epoch; seed: None for a random one each run.

    Example: ``ArrayBatches(x, y, 128, mean=(0.3,), std=(0.3,), classes=10, one_hot=True)``.
    """

    def __init__(self, images, labels, batch_size, *, mean, std, classes=None, augment="none",
                 pad_mode="constant", cutout=0, one_hot=False, label_smoothing=0.0,
                 shuffle=False, seed=None):
        super().__init__()
        self.images, self.labels = check_images(images, labels)
        self.batch_size = check_int("batch_size", batch_size, 1, "64, 128")
        self.augment = check_choice("augment", augment, AUGMENTATIONS)
        check_augment_options(pad_mode, cutout, label_smoothing)
        self.pad_mode, self.cutout = pad_mode, int(cutout)
        self.classes = int(classes or self.labels.max() + 1)
        self.mean = np.asarray(mean, "float32")
        self.std = np.asarray(std, "float32")
        self.one_hot = bool(one_hot or label_smoothing)
        self.label_smoothing = float(label_smoothing)
        self.shuffle, self.seed, self.epoch = bool(shuffle), seed, 0

    def __len__(self):
        return -(-len(self.images) // self.batch_size)

    def _rng(self, *keys):
        return np.random.default_rng(None if self.seed is None else [self.seed, *keys])

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        order = (self._rng(self.epoch).permutation(len(self.images)) if self.shuffle
                 else np.arange(len(self.images)))
        chosen = order[index * self.batch_size:(index + 1) * self.batch_size]
        images = (self.images[chosen].astype("float32") / 255.0 - self.mean) / self.std
        if self.augment != "none" or self.cutout:
            images = self._augmented(images, self._rng(self.epoch, index + 1))
        labels = self.labels[chosen]
        if self.one_hot:
            smoothing = self.label_smoothing
            labels = (np.eye(self.classes, dtype="float32")[labels] * (1.0 - smoothing)
                      + smoothing / self.classes)
        return images, labels

    def _augmented(self, images, rng):
        count, height, width, _ = images.shape
        if self.augment != "none":
            pad = ((0, 0), (CROP_PAD, CROP_PAD), (CROP_PAD, CROP_PAD), (0, 0))
            padded = np.pad(images, pad, mode=self.pad_mode)
            tops, lefts = rng.integers(0, 2 * CROP_PAD + 1, (2, count))
            images = np.stack([padded[i, t:t + height, s:s + width]
                               for i, (t, s) in enumerate(zip(tops, lefts, strict=True))])
        if self.augment == "crop_flip":
            flip = rng.random(count) < 0.5
            images[flip] = images[flip, :, ::-1]
        if self.cutout:  # a square centred anywhere, clipped at the edges (as data.cutout)
            size = self.cutout
            for image, (cy, cx) in zip(images, rng.integers(0, (height, width), (count, 2)),
                                       strict=True):
                top, left = cy - size // 2, cx - size // 2
                image[max(top, 0):top + size, max(left, 0):left + size] = 0.0
        return images

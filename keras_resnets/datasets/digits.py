"""The offline ``digits`` dataset: a tensorflow-datasets builder over scikit-learn's digits.

scikit-learn ships the 1,797 handwritten 8x8 digits of the UCI set (no download).
The builder upscales them bilinearly to 32x32, replicates them to 3 channels and
splits them once, stratified with a fixed seed, into ``train`` (1,257 images),
``validation`` (180) and ``test`` (360). Preparing it writes an ordinary tfds
dataset into ``data_dir`` without a network, so ``tfds.load("digits")`` reads it
through the same code (builder, splits, info, ``as_dataset``) as ``cifar10``.

Example::

    import keras_resnets.datasets  # registers the builder with tensorflow-datasets
    ds = tfds.load("digits", split="validation", as_supervised=True)
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

SPLIT_SIZES = {"train": 1257, "validation": 180, "test": 360}
SEED = 0
IMAGE_SHAPE = (32, 32, 3)


def digits_arrays() -> dict:
    """Every split as ``{name: (uint8 images (N, 32, 32, 3), int64 labels (N,))}``,
    computed from scikit-learn's bundled copy (what the builder writes).

    Example: ``digits_arrays()["validation"][0].shape`` is ``(180, 32, 32, 3)``.
    """
    import tensorflow as tf
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    small = digits.images.astype("float32")[..., None] / 16.0
    big = tf.image.resize(small, IMAGE_SHAPE[:2], method="bilinear").numpy()
    images = np.repeat(np.round(np.clip(big, 0.0, 1.0) * 255.0).astype("uint8"), 3, axis=-1)
    labels = digits.target.astype("int64")
    x_rest, x_test, y_rest, y_test = train_test_split(
        images, labels, test_size=SPLIT_SIZES["test"], stratify=labels, random_state=SEED)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=SPLIT_SIZES["validation"], stratify=y_rest,
        random_state=SEED)
    return {"train": (x_train, y_train), "validation": (x_val, y_val), "test": (x_test, y_test)}


class Digits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's 8x8 digits as 32x32x3 uint8 images, 10 classes, fixed splits."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "train 1,257 / validation 180 / test 360, stratified, seed 0"}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description="The 1,797 handwritten digits of the UCI set bundled with "
                        "scikit-learn, upscaled bilinearly from 8x8 to 32x32 and "
                        "replicated to 3 channels.",
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=IMAGE_SHAPE),
                "label": tfds.features.ClassLabel(num_classes=10),
            }),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80",
        )

    def _split_generators(self, dl_manager):
        arrays = digits_arrays()
        return {name: self._generate_examples(*arrays[name]) for name in SPLIT_SIZES}

    def _generate_examples(self, images, labels):
        for index, (image, label) in enumerate(zip(images, labels, strict=True)):
            yield index, {"image": image, "label": int(label)}

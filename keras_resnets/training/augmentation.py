"""The modern recipe's batch augmentation, made of Keras's own layers.

:func:`batch_augmentation` strings together ``keras.layers.RandAugment``,
``keras.layers.RandomErasing`` and, per batch, one of ``keras.layers.MixUp`` or
``keras.layers.CutMix`` (each with even odds when both are on, as timm switches
between them). :func:`keras_resnets.data.load_dataset` calls it on every batch of raw
pixels (0-255) with one-hot labels and a stateless seed drawn from (seed, epoch, batch
position): each layer's seed generator is set from that seed before it draws, so a
resumed run sees the same batches.

Example::

    augment = batch_augmentation(get_recipe("modern"))
    images, labels = augment(images, one_hot_labels, tf.constant([0, 7], tf.int64))
"""

from __future__ import annotations

import keras


def batch_augmentation(recipe):
    """``fn(images, labels, seed) -> (images, labels)`` applying the recipe's Keras
    layers to a batch (pixels 0-255, one-hot labels, ``seed`` a stateless seed ``[2]``),
    or None when the recipe uses none. TensorFlow backend only (the layers run in
    ``tf.data`` with seed generators of the backend).

    Example: ``batch_augmentation(get_recipe("modern"))``.
    """
    layers = []
    if recipe.rand_augment:
        layers.append(keras.layers.RandAugment(value_range=(0, 255), num_ops=2,
                                               factor=recipe.rand_augment))
    if recipe.random_erasing:
        layers.append(keras.layers.RandomErasing(factor=recipe.random_erasing,
                                                 value_range=(0, 255)))
    mixers = []
    if recipe.mixup_alpha:
        mixers.append(keras.layers.MixUp(alpha=recipe.mixup_alpha))
    if recipe.cutmix_alpha:
        mixers.append(keras.layers.CutMix(factor=(recipe.cutmix_alpha, recipe.cutmix_alpha)))
    if not layers and not mixers:
        return None
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"recipe {recipe.name!r} augments batches with Keras layers "
                         f"(RandAugment, RandomErasing, MixUp, CutMix), which need "
                         f"KERAS_BACKEND=tensorflow to be seeded per batch; got "
                         f"{keras.backend.backend()!r} (e.g. use recipe='fast')")

    def seeded(layer, seed, index, data):
        import tensorflow as tf

        state = layer.generator.state
        state.assign(tf.cast(tf.random.experimental.stateless_fold_in(seed, index),
                             state.dtype))
        return layer(data, training=True)

    def augment(images, labels, seed):
        import tensorflow as tf

        data = {"images": images, "labels": labels}
        for index, layer in enumerate(layers):
            data = seeded(layer, seed, index, data)
        if len(mixers) == 1:
            data = seeded(mixers[0], seed, len(layers), data)
        elif mixers:  # one of the two per batch, even odds
            pick = tf.random.stateless_uniform((), seed, dtype=tf.float32) < 0.5
            data = tf.cond(pick, lambda: seeded(mixers[0], seed, len(layers), data),
                           lambda: seeded(mixers[1], seed, len(layers) + 1, data))
        return data["images"], data["labels"]

    return augment

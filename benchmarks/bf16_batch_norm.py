"""A BatchNormalization that normalizes bfloat16 activations in bfloat16 (JAX backend):
a candidate of issue 29, measured by ``bench_gpu.py --part loops`` (the ``scan_bf16_bn``
side) and ``--part bn-accuracy``, kept out of the library until a GPU run shows a gain.

Example::

    copy = with_bf16_batch_norm(model)      # same weights; its batch norms are the variant
"""

from __future__ import annotations

import functools


@functools.cache
def bf16_batch_norm():
    """The benchmark's BatchNormalization variant (a class; JAX backend), a candidate of
    issue 29, kept out of the library until the GPU measures a gain: for bfloat16 or
    float16 inputs it computes the batch statistics in float32 in one pass, folds gamma,
    beta, mean and variance into a per-channel float32 scale and shift, and applies
    ``x * scale + shift`` in the input's dtype. Keras's own layer casts such inputs to
    float32, normalizes in float32 and takes the variance in a second pass over ``x``
    (``ops.moments``: ``jnp.var`` after ``jnp.mean``). Float32 inputs, a mask and renorm
    go to Keras's layer unchanged.

    The one pass uses shifted sums (Chan, Golub & LeVeque 1983): with the moving mean
    ``K`` as the shift, ``mean = K + E[x - K]`` and ``var = E[(x - K)^2] - E[x - K]^2``,
    clamped at 0 — exact for any ``K``, and the cancellation error scales with
    ``(mean - K)^2 / var`` rather than ``mean^2 / var``. The moving statistics are updated
    in float32 exactly as Keras does (``moving * momentum + batch * (1 - momentum)``).
    The affine step has its own gradient: left to autodiff, the gradients of the
    per-channel scale and shift would be ``reduce_sum``s accumulated in bfloat16 (on the
    CPU, 131,072 ones in bfloat16 sum to 2,048); here they accumulate in float32, and the
    input's gradient ``grad * scale`` stays in the input's dtype."""
    import jax
    import jax.numpy as jnp
    import keras
    from keras import ops

    @jax.custom_vjp
    def affine(x, scale, shift):  # scale, shift: float32, broadcastable to x
        return x * scale.astype(x.dtype) + shift.astype(x.dtype)

    def affine_forward(x, scale, shift):
        return affine(x, scale, shift), (x, scale)

    def affine_backward(saved, grad):
        x, scale = saved
        axes = tuple(i for i, n in enumerate(scale.shape) if n == 1)
        grad32 = grad.astype(jnp.float32)
        return (grad * scale.astype(grad.dtype),
                jnp.sum(grad32 * x.astype(jnp.float32), axes, keepdims=True),
                jnp.sum(grad32, axes, keepdims=True))

    affine.defvjp(affine_forward, affine_backward)

    class Bf16BatchNormalization(keras.layers.BatchNormalization):
        def call(self, inputs, training=None, mask=None):
            dtype = keras.backend.standardize_dtype(inputs.dtype)
            if dtype not in ("bfloat16", "float16") or mask is not None or self.renorm:
                return super().call(inputs, training=training, mask=mask)
            shape = [1] * len(inputs.shape)
            shape[self.axis] = inputs.shape[self.axis]
            moving_mean = ops.cast(self.moving_mean, "float32")
            moving_variance = ops.cast(self.moving_variance, "float32")
            if training and self.trainable:
                centred = ops.cast(inputs, "float32") - ops.reshape(moving_mean, shape)
                shifted_mean = ops.mean(centred, axis=self._reduction_axes)
                mean_square = ops.mean(ops.square(centred), axis=self._reduction_axes)
                mean = moving_mean + shifted_mean
                variance = ops.maximum(mean_square - ops.square(shifted_mean), 0.0)
                self.moving_mean.assign(
                    moving_mean * self.momentum + mean * (1.0 - self.momentum))
                self.moving_variance.assign(
                    moving_variance * self.momentum + variance * (1.0 - self.momentum))
            else:
                mean, variance = moving_mean, moving_variance
            scale = ops.rsqrt(variance + self.epsilon)
            if self.scale:
                scale = scale * ops.cast(self.gamma, "float32")
            shift = -mean * scale
            if self.center:
                shift = shift + ops.cast(self.beta, "float32")
            outputs = affine(inputs, ops.reshape(scale, shape), ops.reshape(shift, shape))
            return ops.cast(outputs, self.compute_dtype)

    return Bf16BatchNormalization


def with_bf16_batch_norm(model):
    """A copy of ``model`` (same layers, configs and weight values; its own variables)
    whose ``keras.layers.BatchNormalization`` layers are :func:`bf16_batch_norm`'s. The
    copy's initializers draw their seeds from Python's ``random``; its state is restored,
    so that what follows (a training run with a seed) goes as it would have."""
    import random

    import keras

    variant = bf16_batch_norm()

    def clone(layer):
        if type(layer) is keras.layers.BatchNormalization:
            return variant.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    state = random.getstate()
    try:
        copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    finally:
        random.setstate(state)
    copy.set_weights(model.get_weights())
    return copy

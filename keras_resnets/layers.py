"""The package's few custom layers (and its one metric, :class:`ExampleCount`, which
training compiles into the models it saves), registered so ``.keras`` files load in
safe mode.

Example::

    x = keras.Input((32, 32, 16))
    y = ChannelPadShortcut(32, 2)(x)   # (None, 16, 16, 32)
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_resnets")
class StochasticDepth(keras.layers.Layer):
    """Drops the whole residual branch for a random subset of the batch while training.

    Each sample's branch is kept with probability ``1 - rate`` and scaled by
    ``1 / (1 - rate)``, so inference needs no rescaling (Huang et al., 2016,
    "Deep Networks with Stochastic Depth"; the per-sample form of timm's DropPath).
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"StochasticDepth rate must be in [0, 1); got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        mask = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype)
        mask = ops.cast(mask < keep, inputs.dtype)
        return inputs * mask / ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_resnets")
class ChannelPadShortcut(keras.layers.Layer):
    """Parameter-free shortcut ("option A", He et al. 2015, section 4.2).

    Subsamples the input by ``stride`` and zero-pads its channels, split evenly
    before and after, up to ``out_channels``.
    """

    def __init__(self, out_channels, stride=1, **kwargs):
        super().__init__(**kwargs)
        self.out_channels = int(out_channels)
        self.stride = int(stride)

    def call(self, inputs):
        x = inputs[:, :: self.stride, :: self.stride, :] if self.stride > 1 else inputs
        extra = self.out_channels - inputs.shape[-1]
        if extra < 0:
            raise ValueError(f"ChannelPadShortcut cannot shrink {inputs.shape[-1]} channels "
                             f"to {self.out_channels}")
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        def shrink(size):
            return None if size is None else -(-size // self.stride)

        return (input_shape[0], shrink(input_shape[1]), shrink(input_shape[2]), self.out_channels)

    def get_config(self):
        return {**super().get_config(), "out_channels": self.out_channels, "stride": self.stride}


# Fewer input channels than this made oneDNN's strided 1x1 filter gradient corrupt the heap
# (1-15 crashed, 16-29 ran; docs/onednn-crash.md).
ONEDNN_SAFE_CHANNELS = 16


def needs_subsampled_conv(kernel_size, strides, in_channels):
    """Whether a convolution is built as :class:`SubsampledConv2D`: a strided 1x1 one on
    fewer than :data:`ONEDNN_SAFE_CHANNELS` input channels (or unknown channels).

    Example: ``needs_subsampled_conv((1, 1), (2, 2), 14)`` is True; with 32 channels, False.
    """
    strided_pointwise = tuple(kernel_size) == (1, 1) and tuple(strides) != (1, 1)
    return strided_pointwise and (in_channels is None or in_channels < ONEDNN_SAFE_CHANNELS)


@keras.saving.register_keras_serializable(package="keras_resnets")
class SubsampledConv2D(keras.layers.Conv2D):
    """A 1x1 ``Conv2D`` with stride s > 1, computed as ``x[:, ::s, ::s]`` then a 1x1
    stride-1 convolution: the same function, kernel and config as ``Conv2D``.

    TensorFlow's oneDNN kernel for the gradient of a strided 1x1 convolution corrupts
    the heap when the input has fewer than 16 channels and the batch is odd (the
    projection shortcut of ``wrn-16-0.9`` on a partial last batch; docs/onednn-crash.md).
    The stride-1 convolution on the subsampled input does not go through that kernel.
    The models use it only there (:func:`needs_subsampled_conv`): elsewhere it cost up
    to 7% more CPU time (``benchmarks/results/subsampled_conv.md``).

    Example::

        y = SubsampledConv2D(29, 1, strides=2)(keras.Input((32, 32, 14)))  # (None, 16, 16, 29)
    """

    def convolution_op(self, inputs, kernel):
        rows, cols = self.strides
        if self.data_format == "channels_first":
            subsampled = inputs[:, :, ::rows, ::cols]
        else:
            subsampled = inputs[:, ::rows, ::cols, :]
        # A 1x1 kernel never reads padding: "same" and "valid" both keep ceil(size / s).
        return ops.conv(subsampled, kernel, strides=1, padding="valid",
                        data_format=self.data_format)


@keras.saving.register_keras_serializable(package="keras_resnets")
class BilinearResize(keras.layers.Layer):
    """Resizes feature maps to a fixed ``size`` (height, width) by bilinear interpolation.

    Unlike ``keras.layers.Resizing`` (an image-preprocessing layer whose ``call`` defaults
    to ``training=True``, which a functional model called without ``training`` passes on
    to every later layer, switching their BatchNorm to batch statistics), it takes no
    ``training`` argument, so ``model(x)`` is inference as in every other Keras model.
    """

    def __init__(self, size, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        self.size = tuple(int(s) for s in size)
        self.interpolation = interpolation

    def call(self, inputs):
        return ops.image.resize(inputs, self.size, interpolation=self.interpolation)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "size": self.size, "interpolation": self.interpolation}


@keras.saving.register_keras_serializable(package="keras_resnets")
class ConstantPadding2D(keras.layers.Layer):
    """Pads the height and width with a constant ``value`` (default ``-inf``).

    ``padding``: an int (every side) or ``((top, bottom), (left, right))``. With ``-inf``
    before a 'valid' max-pool it is PyTorch's ``MaxPool2d(k, s, padding=p)``: the padding
    never wins, whatever the sign of the values (zero padding wins over negative values,
    as after a BatchNorm without ReLU). TFLite converts it to the builtin PADV2.

    Example::

        y = ConstantPadding2D(1)(x)                        # (None, h + 2, w + 2, c), -inf
        y = keras.layers.MaxPooling2D(3, 2)(y)             # = torch MaxPool2d(3, 2, 1)
    """

    def __init__(self, padding=1, value=float("-inf"), **kwargs):
        super().__init__(**kwargs)
        self.padding = _padding_pairs(padding)
        self.value = float(value)

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
        return ops.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]],
                       constant_values=self.value)

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        batch, height, width, channels = input_shape
        return (batch, None if height is None else height + top + bottom,
                None if width is None else width + left + right, channels)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "value": self.value}


def _padding_pairs(padding):
    """``((top, bottom), (left, right))`` of an int or a pair of pairs, or a ValueError."""
    if isinstance(padding, int) and not isinstance(padding, bool):
        padding = ((padding, padding), (padding, padding))
    try:
        pairs = tuple(tuple(int(p) for p in pair) for pair in padding)
    except (TypeError, ValueError):
        pairs = ()
    if len(pairs) != 2 or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise ValueError(f"ConstantPadding2D padding must be an int >= 0 or "
                         f"((top, bottom), (left, right)); got {padding!r}")
    return pairs


@keras.saving.register_keras_serializable(package="keras_resnets")
class RematBlock(keras.layers.Layer):
    """Runs ``block`` (a functional ``keras.Model``) rematerialized (``keras.remat``, or
    on TensorFlow its own custom gradient, :func:`_checkpointed`): training keeps
    only the block's input and recomputes its activations in the backward pass (gradient
    checkpointing), so memory grows with the number of blocks, not of layers.

    The block runs statelessly inside the rematerialized function and its updated
    non-trainable state (BatchNorm statistics, dropout seeds) is assigned once, outside
    it: the recomputation repeats the same dropout masks and never updates a statistic
    twice, so gradients and state equal those of the plain block to round-off.

    Example::

        inputs = keras.Input((32, 32, 16))
        block = keras.Model(inputs, basic_block(inputs, 16, 1, name="b1"))
        y = RematBlock(block, name="b1")(x)
    """

    def __init__(self, block, **kwargs):
        super().__init__(**kwargs)
        self.block = block

    def build(self, input_shape):
        pass  # the block was built when it was made

    def call(self, inputs, training=None):
        block = self.block
        # copies: the recomputation must see the state the forward pass saw
        state = [ops.copy(v) for v in block.non_trainable_variables]

        weights = [v.value for v in block.trainable_variables]

        def forward(x, *arrays):
            return block.stateless_call(list(arrays[:len(weights)]), list(arrays[len(weights):]),
                                        x, training=training)

        outputs, updated = _checkpointed(forward)(inputs, *weights, *state)
        for variable, value in zip(block.non_trainable_variables, updated):
            variable.assign(value)
        return outputs

    def compute_output_spec(self, inputs, training=None):
        return self.block.compute_output_spec(inputs)

    def get_config(self):
        return {**super().get_config(), "block": keras.saving.serialize_keras_object(self.block)}

    @classmethod
    def from_config(cls, config):
        block = keras.saving.deserialize_keras_object(config.pop("block"))
        return cls(block, **config)


def _checkpointed(function):
    """``function`` with its activations recomputed in the backward pass: ``keras.remat``,
    except on TensorFlow, where ``tf.recompute_grad`` walks the whole graph traced so far
    at every block (its gradient function is a custom gradient that stops only at the
    upstream gradients), so tracing the first step of preact-ResNet-1001 took over 15
    minutes. Here the custom gradient stops at the block's own inputs, so a block costs
    the same to trace however deep it sits.

    Example: ``outputs = _checkpointed(forward)(x, *weights)``.
    """
    if keras.backend.backend() != "tensorflow":
        return keras.remat(function)
    import tensorflow as tf

    @tf.custom_gradient
    def checkpointed(*inputs):
        def backward(*upstream):
            # x - x is 0 (NaN for a NaN gradient, which is lost anyway) and depends on the
            # upstream gradient: the recomputation can neither run before the backward pass
            # nor be merged with the forward pass's identical ops
            first = tf.reshape(upstream[0], [-1])[:1]
            zero = tf.reduce_sum(first - first)
            again = [t + tf.cast(zero, t.dtype) if t.dtype.is_floating else t for t in inputs]
            with tf.GradientTape() as tape:
                tape.watch([t for t in again if t.dtype.is_floating])
                results = tf.nest.flatten(function(*again))
            pairs = [(r, g) for r, g in zip(results, upstream) if r.dtype.is_floating]
            grads = tape.gradient([r for r, _ in pairs], again,
                                  output_gradients=[g for _, g in pairs],
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return [g if t.dtype.is_floating else None for g, t in zip(grads, again)]

        return function(*inputs), backward

    return checkpointed


@keras.saving.register_keras_serializable(package="keras_resnets")
class ResizeShorterSide(keras.layers.Layer):
    """Resize so that the shorter side is ``size`` and the longer one
    ``floor(size * longer / shorter)``, as torchvision's ``Resize(size)`` does; square
    images become ``size`` x ``size``. Images (H, W, C) or batches of one size (N, H, W, C).

    Example::

        ResizeShorterSide(256)(images_427x640)   # 256 x 383
    """

    def __init__(self, size, interpolation="bilinear", antialias=True, **kwargs):
        super().__init__(**kwargs)
        self.size, self.interpolation, self.antialias = int(size), interpolation, antialias

    def call(self, images):
        height, width = ops.shape(images)[-3], ops.shape(images)[-2]
        if isinstance(height, int) and isinstance(width, int):  # a static shape
            size = ((self.size * height // width, self.size) if width <= height
                    else (self.size, self.size * width // height))
            return ops.image.resize(ops.cast(images, self.compute_dtype), size,
                                    interpolation=self.interpolation, antialias=self.antialias)
        # tf.data, or a TensorFlow graph of images of any size: what Keras's TensorFlow
        # backend does, with the size a tensor (keras.ops.image.resize wants numbers)
        import tensorflow as tf

        taller = width <= height
        size = tf.stack([tf.where(taller, self.size * height // width, self.size),
                         tf.where(taller, self.size, self.size * width // height)])
        return tf.image.resize(tf.cast(images, self.compute_dtype), size,
                               method=self.interpolation, antialias=self.antialias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-3], None, None, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "size": self.size, "interpolation": self.interpolation,
                "antialias": self.antialias}


@keras.saving.register_keras_serializable(package="keras_resnets")
class CentreCrop(keras.layers.Layer):
    """The central ``size`` x ``size`` window, its offsets rounded as torchvision's
    ``center_crop`` rounds them (``round((H - size) / 2)``, halves to even); Keras's
    ``CenterCrop`` floors them instead, one pixel off for some sizes.

    Example::

        CentreCrop(224)(images_256x383)           # rows 16..239, columns 80..303
    """

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def _offset(self, length):
        spare = length - self.size
        half = spare // 2
        return half + (spare % 2) * (half % 2)

    def call(self, images):
        top, left = self._offset(ops.shape(images)[-3]), self._offset(ops.shape(images)[-2])
        return images[..., top:top + self.size, left:left + self.size, :]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-3], self.size, self.size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="keras_resnets")
class Standardize(keras.layers.Layer):
    """``(x * scale - mean) / std`` per channel, the channels first reversed when
    ``channels="bgr"`` (keras.applications' "caffe" mode).

    Example::

        Standardize(1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))(crops)
    """

    def __init__(self, scale, mean, std, channels="rgb", **kwargs):
        super().__init__(**kwargs)
        self.scale, self.mean, self.std = float(scale), tuple(mean), tuple(std)
        self.channels = channels

    def call(self, images):
        x = ops.cast(images, self.compute_dtype)
        if self.channels == "bgr":
            x = ops.flip(x, axis=-1)
        mean = ops.convert_to_tensor(self.mean, self.compute_dtype)
        std = ops.convert_to_tensor(self.std, self.compute_dtype)
        return (x * self.scale - mean) / std

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "mean": self.mean,
                "std": self.std, "channels": self.channels}


@keras.saving.register_keras_serializable(package="keras_resnets")
class ExampleCount(keras.metrics.Sum):
    """How many examples a pass saw (with sample weights: their sum, so zero-weighted
    padding is not counted), summed over the replicas of a strategy: the proof that
    every image was evaluated exactly once.

    Example: ``model.compile(..., metrics=[ExampleCount()])``; ``evaluate`` gives
    ``examples``.
    """

    def __init__(self, name="examples", dtype="float32"):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        ones = keras.ops.ones(keras.ops.shape(y_pred)[:1], dtype=self.dtype)
        return super().update_state(ones, sample_weight=sample_weight)

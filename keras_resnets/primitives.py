"""Layer recipes that either build Keras layers or count what they would cost.

Every network in this package is written once, against the recipes below. Called
on a Keras tensor, a recipe creates its Keras layer (once) and applies it. Called
on a :class:`Probe`, it creates nothing: it works out the output shape and adds
the layer's parameters and multiply-adds to the probe's :class:`Tally`. That is
how ``count_params`` and ``count_macs`` read the very code that builds a model,
without building it.

A recipe object can be called more than once (a shared layer, as in CliqueNet):
its parameters are counted once, its multiply-adds at every call.

Example::

    conv = Conv(32, 3, name="c1")
    probe = Probe.input((32, 32, 16))
    out = conv(probe)
    out.shape, probe.tally.trainable, probe.tally.macs  # ((32, 32, 32), 4608, 4718592)
"""

from __future__ import annotations

import dataclasses
import math

# He et al. (2015) scaling, variance 2 / fan_in, drawn uniformly: the papers' "he_normal"
# (a truncated normal) has the same variance but costs TensorFlow 4-5x more CPU to draw
# (docs/benchmarks.md). Style(kernel_initializer="he_normal") restores it.
KERNEL_INITIALIZER = "he_uniform"


@dataclasses.dataclass
class Tally:
    """Running totals of a counted network."""

    trainable: int = 0
    non_trainable: int = 0
    macs: int = 0
    layers: int = 0

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable


class Probe:
    """Stands in for a Keras tensor of shape ``(height, width, channels)`` when counting;
    ``layer``: the name of the layer that made it (None for the input)."""

    __slots__ = ("shape", "tally", "layer")

    def __init__(self, shape, tally: Tally, layer=None):
        self.shape = tuple(shape)
        self.tally = tally
        self.layer = layer

    @classmethod
    def input(cls, shape) -> Probe:
        return cls(shape, Tally())


def is_probe(x) -> bool:
    if isinstance(x, (list, tuple)):
        return bool(x) and isinstance(x[0], Probe)
    return isinstance(x, Probe)


def _conv_length(size, kernel, stride, dilation, padding):
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    span = dilation * (kernel - 1) + 1
    return (size - span) // stride + 1


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


class Recipe:
    """Base class: subclasses say how to make the layer and how to count it."""

    weighted = False  # counts towards a network's depth in layers

    def __init__(self, name=None):
        self.name = name
        self._layer = None
        self._counted = False

    def make(self):
        raise NotImplementedError

    def output_shape(self, shape):
        return shape

    def params(self, shape):
        """(trainable, non_trainable) parameters for an input of ``shape``."""
        return 0, 0

    def macs(self, shape, out_shape):
        return 0

    def __call__(self, x, **call_kwargs):
        if not is_probe(x):
            if self._layer is None:
                self._layer = self.make()
            return self._layer(x, **call_kwargs)
        shape = [p.shape for p in x] if isinstance(x, (list, tuple)) else x.shape
        tally = (x[0] if isinstance(x, (list, tuple)) else x).tally
        out_shape = self.output_shape(shape)
        if not self._counted:
            trainable, frozen = self.params(shape)
            tally.trainable += trainable
            tally.non_trainable += frozen
            tally.layers += self.weighted
            self._counted = True
        tally.macs += self.macs(shape, out_shape)
        return Probe(out_shape, tally, self.name)


class Conv(Recipe):
    """``keras.layers.Conv2D`` (or ``DepthwiseConv2D`` with ``depthwise=True``)."""

    weighted = True

    def __init__(self, filters, kernel_size, strides=1, *, padding="same", groups=1,
                 dilation=1, use_bias=False, activation=None, depthwise=False,
                 depth_multiplier=1, kernel_initializer=KERNEL_INITIALIZER, dtype=None, name=None):
        super().__init__(name)
        self.filters, self.kernel = filters, _pair(kernel_size)
        self.strides, self.padding, self.groups = _pair(strides), padding, groups
        self.dilation, self.use_bias, self.activation = _pair(dilation), use_bias, activation
        self.depthwise, self.depth_multiplier = depthwise, depth_multiplier
        self.kernel_initializer, self.dtype = kernel_initializer, dtype

    def __call__(self, x, **call_kwargs):
        if self._layer is None and not is_probe(x):  # the layer depends on the input channels
            self._layer = self.make(x.shape[-1])
        return super().__call__(x, **call_kwargs)

    def make(self, in_channels=None):
        import keras

        from keras_resnets import layers as custom_layers

        common = dict(strides=self.strides, padding=self.padding, dilation_rate=self.dilation,
                      use_bias=self.use_bias, activation=self.activation, dtype=self.dtype,
                      name=self.name)
        if self.depthwise:
            return keras.layers.DepthwiseConv2D(
                self.kernel, depth_multiplier=self.depth_multiplier,
                depthwise_initializer=self.kernel_initializer, **common)
        conv = keras.layers.Conv2D
        if custom_layers.needs_subsampled_conv(self.kernel, self.strides, in_channels):
            conv = custom_layers.SubsampledConv2D
        return conv(self.filters, self.kernel, groups=self.groups,
                    kernel_initializer=self.kernel_initializer, **common)

    def out_channels(self, channels):
        return channels * self.depth_multiplier if self.depthwise else self.filters

    def output_shape(self, shape):
        h, w, c = shape
        size = [_conv_length(s, k, st, d, self.padding)
                for s, k, st, d in zip((h, w), self.kernel, self.strides, self.dilation)]
        if any(s is not None and s < 1 for s in size):
            raise ValueError(
                f"layer {self.name!r}: a {self.kernel[0]}x{self.kernel[1]} convolution with "
                f"stride {self.strides[0]} cannot be applied to a {h}x{w} feature map; "
                "the input is too small for this network's downsampling")
        return (size[0], size[1], self.out_channels(c))

    def params(self, shape):
        c = shape[2]
        out = self.out_channels(c)
        per_output = self.kernel[0] * self.kernel[1] * (1 if self.depthwise else c // self.groups)
        return per_output * out + (out if self.use_bias else 0), 0

    def macs(self, shape, out_shape):
        h, w, out = out_shape
        c = shape[2]
        per_output = self.kernel[0] * self.kernel[1] * (1 if self.depthwise else c // self.groups)
        return (h or 0) * (w or 0) * out * per_output


class SeparableConv(Recipe):
    """``keras.layers.SeparableConv2D``: depthwise kxk then pointwise 1x1, in one layer."""

    weighted = True

    def __init__(self, filters, kernel_size, strides=1, *, padding="same", dilation=1,
                 use_bias=False, name=None):
        super().__init__(name)
        self.filters, self.kernel, self.strides = filters, _pair(kernel_size), _pair(strides)
        self.padding, self.dilation, self.use_bias = padding, _pair(dilation), use_bias

    def make(self):
        import keras

        return keras.layers.SeparableConv2D(
            self.filters, self.kernel, strides=self.strides, padding=self.padding,
            dilation_rate=self.dilation, use_bias=self.use_bias, name=self.name)

    def output_shape(self, shape):
        depthwise = Conv(0, self.kernel, self.strides, padding=self.padding,
                         dilation=self.dilation, depthwise=True, name=self.name)
        h, w, _ = depthwise.output_shape(shape)
        return (h, w, self.filters)

    def params(self, shape):
        c = shape[2]
        weights = self.kernel[0] * self.kernel[1] * c + c * self.filters
        return weights + (self.filters if self.use_bias else 0), 0

    def macs(self, shape, out_shape):
        h, w, out = out_shape
        return (h or 0) * (w or 0) * shape[2] * (self.kernel[0] * self.kernel[1] + out)


class BatchNorm(Recipe):
    """``keras.layers.BatchNormalization`` on the channel axis (``scale=False``: no gamma,
    as in keras.applications InceptionV3; ``gamma_initializer="zeros"``: the layer starts
    by outputting its beta, which makes a residual branch start as zero)."""

    def __init__(self, *, epsilon=1e-5, momentum=0.9, scale=True, gamma_initializer="ones",
                 name=None):
        super().__init__(name)
        self.epsilon, self.momentum, self.scale = epsilon, momentum, scale
        self.gamma_initializer = gamma_initializer

    def make(self):
        import keras

        return keras.layers.BatchNormalization(
            axis=-1, epsilon=self.epsilon, momentum=self.momentum, scale=self.scale,
            gamma_initializer=self.gamma_initializer, name=self.name)

    def params(self, shape):
        c = shape[-1]
        return (2 if self.scale else 1) * c, 2 * c


class Act(Recipe):
    """``keras.layers.Activation`` (``relu``, ``relu6``, ``sigmoid``, ``swish``, ...)."""

    def __init__(self, activation="relu", *, dtype=None, name=None):
        super().__init__(name)
        self.activation, self.dtype = activation, dtype

    def make(self):
        import keras

        if self.activation == "relu6":
            return keras.layers.ReLU(6.0, dtype=self.dtype, name=self.name)
        return keras.layers.Activation(self.activation, dtype=self.dtype, name=self.name)


class Add(Recipe):
    def make(self):
        import keras

        return keras.layers.Add(name=self.name)

    def output_shape(self, shapes):
        return shapes[0]


class Multiply(Recipe):
    def make(self):
        import keras

        return keras.layers.Multiply(name=self.name)

    def output_shape(self, shapes):
        # The feature map, not a broadcast 1x1 gate, even where the map's size is unknown.
        return max(shapes, key=lambda s: (tuple(s[:2]) != (1, 1), (s[0] or 0) * (s[1] or 0)))


class Concat(Recipe):
    def make(self):
        import keras

        return keras.layers.Concatenate(axis=-1, name=self.name)

    def output_shape(self, shapes):
        return shapes[0][:-1] + (sum(s[-1] for s in shapes),)


class Pool(Recipe):
    """Max or average pooling (``kind="max"|"avg"``)."""

    def __init__(self, kind, pool_size, strides=None, *, padding="valid", name=None):
        super().__init__(name)
        self.kind, self.pool_size = kind, _pair(pool_size)
        self.strides = _pair(strides or pool_size)
        self.padding = padding

    def make(self):
        import keras

        cls = keras.layers.MaxPooling2D if self.kind == "max" else keras.layers.AveragePooling2D
        return cls(self.pool_size, strides=self.strides, padding=self.padding, name=self.name)

    def output_shape(self, shape):
        h, w, c = shape
        size = [_conv_length(s, k, st, 1, self.padding)
                for s, k, st in zip((h, w), self.pool_size, self.strides)]
        if any(s is not None and s < 1 for s in size):
            raise ValueError(f"layer {self.name!r}: pooling cannot be applied to a {h}x{w} "
                             "feature map; the input is too small for this network")
        return (size[0], size[1], c)


class GlobalPool(Recipe):
    """Global average or max pooling; ``keepdims`` keeps a 1x1 map."""

    def __init__(self, kind="avg", *, keepdims=False, name=None):
        super().__init__(name)
        self.kind, self.keepdims = kind, keepdims

    def make(self):
        import keras

        cls = (keras.layers.GlobalMaxPooling2D if self.kind == "max"
               else keras.layers.GlobalAveragePooling2D)
        return cls(keepdims=self.keepdims, name=self.name)

    def output_shape(self, shape):
        return (1, 1, shape[-1]) if self.keepdims else (shape[-1],)


class Dense(Recipe):
    """``keras.layers.Dense``; the classifier runs in float32 under mixed precision."""

    weighted = True

    def __init__(self, units, *, activation=None, use_bias=True, dtype=None, name=None):
        super().__init__(name)
        self.units, self.activation, self.use_bias, self.dtype = units, activation, use_bias, dtype

    def make(self):
        import keras

        return keras.layers.Dense(self.units, activation=self.activation, use_bias=self.use_bias,
                                  dtype=self.dtype, name=self.name)

    def output_shape(self, shape):
        return shape[:-1] + (self.units,)

    def params(self, shape):
        return shape[-1] * self.units + (self.units if self.use_bias else 0), 0

    def macs(self, shape, out_shape):
        return shape[-1] * self.units


class Dropout(Recipe):
    def __init__(self, rate, *, name=None):
        super().__init__(name)
        self.rate = rate

    def make(self):
        import keras

        return keras.layers.Dropout(self.rate, name=self.name)


class ZeroPad(Recipe):
    """``keras.layers.ZeroPadding2D`` with ``padding`` pixels on every side (or a pair of pairs)."""

    def __init__(self, padding, *, name=None):
        super().__init__(name)
        self.padding = ((padding, padding), (padding, padding)) if isinstance(padding, int) \
            else padding

    def make(self):
        import keras

        return keras.layers.ZeroPadding2D(self.padding, name=self.name)

    def output_shape(self, shape):
        h, w, c = shape
        (top, bottom), (left, right) = self.padding
        return (None if h is None else h + top + bottom, None if w is None else w + left + right, c)


class ConstantPad(ZeroPad):
    """Padding with a constant ``value`` (:class:`keras_resnets.layers.ConstantPadding2D`);
    ``-inf`` before a 'valid' max-pool is PyTorch's padded ``MaxPool2d``."""

    def __init__(self, padding, *, value=float("-inf"), name=None):
        super().__init__(padding, name=name)
        self.value = value

    def make(self):
        from keras_resnets import layers as custom_layers

        return custom_layers.ConstantPadding2D(self.padding, self.value, name=self.name)


class Resize(Recipe):
    """Bilinear resize to a fixed ``size`` (:class:`keras_resnets.layers.BilinearResize`)."""

    def __init__(self, size, *, interpolation="bilinear", name=None):
        super().__init__(name)
        self.size, self.interpolation = tuple(size), interpolation

    def make(self):
        from keras_resnets import layers as custom_layers

        return custom_layers.BilinearResize(self.size, interpolation=self.interpolation,
                                            name=self.name)

    def output_shape(self, shape):
        return self.size + (shape[-1],)


class StochasticDepth(Recipe):
    """Drop a residual branch per sample while training (Huang et al., 2016)."""

    def __init__(self, rate, *, name=None):
        super().__init__(name)
        self.rate = rate

    def make(self):
        from keras_resnets import layers as custom_layers

        return custom_layers.StochasticDepth(self.rate, name=self.name)


class ChannelPadShortcut(Recipe):
    """Option-A shortcut of He et al. (2015): subsample, then zero-pad the channels."""

    def __init__(self, out_channels, stride, *, name=None):
        super().__init__(name)
        self.out_channels, self.stride = out_channels, stride

    def make(self):
        from keras_resnets import layers as custom_layers

        return custom_layers.ChannelPadShortcut(self.out_channels, self.stride, name=self.name)

    def output_shape(self, shape):
        h, w, _ = shape
        return (None if h is None else -(-h // self.stride),
                None if w is None else -(-w // self.stride), self.out_channels)

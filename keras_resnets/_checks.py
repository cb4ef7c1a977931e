"""Argument checks shared by builders, counters, the tuner, training and the CLI.

Each raises a ``ValueError`` that names the argument, the rule, examples and the value.

Example::

    check_positive_int("depth", 28, "16, 28, 40")     # returns 28
    check_rate("dropout_rate", 1.5)                   # ValueError: ... got 1.5
"""

from __future__ import annotations

import numbers


def is_int(value) -> bool:
    """An integer that is not a bool (NumPy integers count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(argument, value, minimum=1, examples="", *, allow_none=False):
    """``value`` as an int >= ``minimum`` (``None`` passes when ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not is_int(value) or value < minimum:
        hint = f" (e.g. {examples})" if examples else ""
        raise ValueError(f"{argument} must be an integer >= {minimum}{hint}; got {value!r}")
    return int(value)


def check_positive_int(argument, value, examples=""):
    return check_int(argument, value, 1, examples)


MIN_STAGE_CHANNELS = 4  # the narrowest stage a width factor may make


def min_width(narrowest):
    """The smallest width factor that gives a stage of ``narrowest`` channels (at width 1)
    :data:`MIN_STAGE_CHANNELS` channels: ``min_width(16) == 0.25``."""
    return MIN_STAGE_CHANNELS / narrowest


def check_width(argument, value, narrowest=None):
    """A finite number > 0 (a width factor or multiplier); with ``narrowest`` (the
    narrowest stage's channels at width 1), one that leaves every stage at least
    :data:`MIN_STAGE_CHANNELS` channels."""
    if not is_number(value) or not 0 < value < float("inf"):
        raise ValueError(f"{argument} must be a number > 0 (e.g. 1, 2, 10); got {value!r}")
    if narrowest is not None and value < min_width(narrowest):
        raise ValueError(f"{argument} must be at least {min_width(narrowest):g}, so that every "
                         f"stage has at least {MIN_STAGE_CHANNELS} channels ({narrowest} x "
                         f"{argument}); got {value!r}, which leaves {scaled(narrowest, value)}")
    return value


def check_choice(argument, value, choices):
    if isinstance(value, bool) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{argument} must be one of {listed}; got {value!r}")
    return value


def check_rate(argument, value):
    """A probability in [0, 1)."""
    if not is_number(value) or not 0 <= value < 1:
        raise ValueError(f"{argument} must be in [0, 1) (e.g. 0.0, 0.3); got {value!r}")
    return float(value)


def check_fraction(argument, value, examples="0.5, 1.0"):
    """A number in (0, 1]."""
    if not is_number(value) or not 0 < value <= 1:
        raise ValueError(f"{argument} must be a number in (0, 1] (e.g. {examples}); "
                         f"got {value!r}")
    return float(value)


def check_bool(argument, value):
    if not isinstance(value, bool):
        raise ValueError(f"{argument} must be True or False; got {value!r}")
    return value


class UnknownOptionError(ValueError, TypeError):
    """An option a model does not take: a ``ValueError`` listing the valid ones, and a
    ``TypeError`` too, as Python's own "unexpected keyword argument" is."""


def check_options(model, options, allowed):
    """An :class:`UnknownOptionError` for options that ``model`` does not take."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        valid = ", ".join(sorted(allowed)) or "none"
        raise UnknownOptionError(f"{model} does not take {', '.join(unknown)}; its own options "
                                 f"are {valid}, besides the keras.applications arguments")


def check_imagenet_padding(model, padding, weights, alternative=""):
    """Keras's ImageNet files were trained with ``padding="keras"``: a ValueError naming
    ``model`` for ``weights="imagenet"`` with any other padding, e.g.
    ``check_imagenet_padding("ResNet", "torch", "imagenet")``; ``alternative`` ends the
    message (where other weights fit that padding)."""
    if weights == "imagenet" and padding != "keras":
        raise ValueError(f"{model} padding must be 'keras' for weights='imagenet' (Keras's "
                         f"files were trained with it); got padding={padding!r}{alternative}")


def scaled(channels, width):
    """``channels * width`` rounded, at least 1."""
    return max(1, int(round(channels * width)))


def check_keywords(model, options, function, skip=()):
    """:func:`check_options` against the keyword parameters of ``function`` (a spec
    function such as ``resnet_spec``), less ``skip``: the valid options are listed from
    the code that takes them, so they cannot drift."""
    import inspect

    allowed = [p.name for p in inspect.signature(function).parameters.values()
               if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in skip]
    check_options(model, options, allowed)


def check_input_shape(value):
    """``(height, width, channels)``: sizes ``None`` (any) or integers >= 1, channels known."""
    ok = isinstance(value, (tuple, list)) and len(value) == 3 and all(
        size is None or (is_int(size) and size >= 1) for size in value) and value[2] is not None
    if not ok:
        raise ValueError(f"input_shape must be (height, width, channels) with positive integer "
                         f"sizes (None for any height or width) and known channels, e.g. "
                         f"(32, 32, 3) or (None, None, 3); got {value!r}")
    return tuple(int(size) if size is not None else None for size in value)


def check_input_tensor(input_tensor, input_shape=None):
    """The ``(height, width, channels)`` of a Keras image tensor, which must agree with
    ``input_shape`` (checked already) wherever both are known."""
    import keras

    if not keras.backend.is_keras_tensor(input_tensor) or len(input_tensor.shape) != 4:
        raise ValueError(f"input_tensor must be a Keras tensor of images, e.g. "
                         f"keras.Input((32, 32, 3)); got {input_tensor!r}")
    tensor_shape = check_input_shape(tuple(input_tensor.shape[1:]))
    if input_shape is not None and any(a is not None and b is not None and a != b
                                       for a, b in zip(input_shape, tensor_shape)):
        raise ValueError(f"input_tensor has shape {tensor_shape}, which disagrees with "
                         f"input_shape {input_shape}; pass one of them, or shapes that agree")
    return tensor_shape


def check_name(argument, value, example):
    """A non-empty string (a model or layer name)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{argument} must be a non-empty string, e.g. {example}; "
                         f"got {value!r}")
    return value


def check_activation(argument, value):
    """``None``, a callable or the name of a Keras activation (``"softmax"``, ``"sigmoid"``)."""
    import keras

    if value is None or callable(value):
        return value
    if isinstance(value, str):
        try:
            keras.activations.get(value)
            return value
        except ValueError:
            pass
    raise ValueError(f"{argument} must be None (logits), a Keras activation name such as "
                     f"'softmax' or 'sigmoid', or a callable; got {value!r}")


def check_channels_last():
    """Refuse ``keras.config.image_data_format() == "channels_first"``: the package's
    models, layer recipes and weight files are channels-last."""
    import keras

    data_format = keras.config.image_data_format()
    if data_format != "channels_last":
        raise ValueError(
            f"keras_resnets builds channels_last models only, but "
            f"keras.config.image_data_format() is {data_format!r}. Call "
            "keras.config.set_image_data_format('channels_last') (or set "
            "\"image_data_format\": \"channels_last\" in ~/.keras/keras.json) and feed "
            "(batch, height, width, channels) images, e.g. keras.ops.transpose(x, (0, 2, 3, 1))")

"""Feature levels of a model name or of a model (timm's ``feature_info``).

A level is a stage output: the last map at one reduction, named ``C2`` (1/4 of the input)
to ``C5`` (1/32); ``features_only=True, out_indices=(...)`` builds some of them, picked
by index into the list below or by name.

Example::

    keras_resnets.feature_info("resnet50", out_indices=("C3", "C4", "C5"))
    # [{"name": "C3", "channels": 512, "reduction": 8, "layer": "conv3_block4_out"}, ...]
    backbone = keras_resnets.create_model("resnet50", features_only=True, out_indices=(1, 2, 3))
    keras_resnets.feature_info(backbone)            # the same three levels
"""

from __future__ import annotations

import math
import re

from keras_resnets import _checks, engine, registry


def feature_info(model_or_name, /, input_shape=None, out_indices=None, **options) -> list[dict]:
    """Each level's ``name``, ``channels``, ``reduction`` and ``layer`` (the Keras layer
    that outputs it).

    ``model_or_name``: a registered name (with ``input_shape``, ``out_indices`` and the
    family's options of :func:`keras_resnets.create_model`), or a model: one this package
    built (``create_model``, a family constructor, a preset), whose own levels are given,
    or a loaded ``features_only`` model, read from its outputs.
    """
    if isinstance(model_or_name, str):
        spec = registry.get_spec(model_or_name, **options)
        if input_shape is not None:
            input_shape = _checks.check_input_shape(input_shape)
        return engine.feature_info(spec, input_shape, out_indices)
    if input_shape is not None or out_indices is not None or options:
        raise ValueError("feature_info(model) reads the levels the model was built with; "
                         "pass options only with a registered name, e.g. "
                         "feature_info('resnet50', out_indices=(1, 2))")
    record = getattr(model_or_name, "keras_resnets_build", None)
    if record is not None:
        arguments = record.arguments
        return engine.feature_info(record.spec, arguments["input_shape"],
                                   arguments.get("out_indices")
                                   if arguments.get("features_only") else None)
    outputs = getattr(model_or_name, "output", None)
    if isinstance(outputs, dict) and outputs and all(re.fullmatch(r"C\d+", k) for k in outputs):
        return _read_outputs(model_or_name, outputs)
    raise ValueError(f"feature_info needs a registered name or a model built by keras_resnets "
                     f"(create_model, a family constructor, a preset) or with "
                     f"features_only=True; got {model_or_name!r} (e.g. feature_info('resnet50'))")


def _read_outputs(model, outputs) -> list[dict]:
    """The levels of a loaded ``features_only`` model: its outputs, the layers that make
    them, and the reductions its input and output sizes show (None where unknown)."""
    made_by = {}
    for layer in model.layers:
        try:
            made_by[id(layer.output)] = layer.name
        except (AttributeError, ValueError):  # a layer called more than once
            continue
    height = model.input_shape[1]
    info = []
    for name in sorted(outputs, key=lambda level: int(level[1:])):
        tensor = outputs[name]
        size = tensor.shape[1]
        reduction = 2 ** round(math.log2(height / size)) if height and size else None
        info.append({"name": name, "channels": tensor.shape[-1], "reduction": reduction,
                     "layer": made_by.get(id(tensor))})
    return info

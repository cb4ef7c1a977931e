"""Model names -> specs -> models, and the counters that read them, with every family
registered.

Each family module registers a name pattern (a regular expression) and a factory that
turns a match into a spec (:mod:`keras_resnets.families`); this module imports them all
(:data:`keras_resnets.models.FAMILY_MODULES`). ``list_models`` lists each family's named
examples, and ``create_model`` accepts every name the patterns match (``wrn-40-4``,
``resnet74``...).

Example::

    create_model("wrn-28-10", dropout_rate=0.3, classes=100)
    list_models("resnext*")
    count_params("resnet50")          # ParamCount(trainable=25583592, total=25636712)
    count_macs("wrn-28-10")           # 5248180224
"""

from __future__ import annotations

import dataclasses
from collections import namedtuple

from keras_resnets import builder, engine, presets
from keras_resnets.families import (  # noqa: F401  (read through here: every family registered)
    PaperErrors,
    TuningAxes,
    find_family,
    format_number,
    get_spec,
    list_models,
    tuning_families,
)
from keras_resnets.models import FAMILY_MODULES  # noqa: F401  (importing it registers them)
from keras_resnets.weights import IMAGENET, catalogue

ParamCount = namedtuple("ParamCount", ["trainable", "total"])


def _arguments(model_name, kwargs):
    """``(spec, the family's options, build arguments)`` of a call: the family's options
    make the spec; a catalogue tag brings the build options its weights need (timm's
    Xception: ``padding="torch"``) unless the call sets one of them itself."""
    _, match = find_family(model_name)
    weights = kwargs.get("weights")
    record = catalogue.records(match.group(0)).get(weights) if isinstance(weights, str) else None
    if record is not None and not any(key in kwargs for key, _ in record.options):
        kwargs = {**dict(record.options), **kwargs}
    spec_kwargs = {k: v for k, v in kwargs.items() if k not in builder.BUILD_ARGUMENTS}
    build_kwargs = {k: v for k, v in kwargs.items() if k in builder.BUILD_ARGUMENTS}
    return get_spec(model_name, **spec_kwargs), spec_kwargs, build_kwargs


def create_model(model_name, /, **kwargs):
    """Build a registered model: ``create_model("wrn-28-10", classes=100, name="wrn")``, or
    load a preset (:func:`keras_resnets.save_preset`) from a directory or an
    ``"hf://owner/repo"`` handle.

    Keyword arguments are the keras.applications ones (``include_top``, ``weights``,
    ``input_tensor``, ``input_shape``, ``pooling``, ``classes``, ``classifier_activation``,
    ``name``: the Keras model's name), ``drop_path_rate``, ``features_only`` (with
    ``out_indices`` to pick levels: ``(1, 2, 3)`` or ``("C3", "C4", "C5")``),
    ``zero_init_residual``, ``remat`` (gradient checkpointing of every block: less memory,
    more time per training step), and the family's own options (for example ``dropout_rate``
    for Wide ResNets). A catalogue tag brings the options its weights were trained with:
    ``create_model("xception", weights="timm/tf_in1k")`` builds ``padding="torch"``.
    """
    if presets.is_preset(model_name):
        model_name, kwargs, info = presets.preset_arguments(model_name, kwargs)
        model = create_model(model_name, **kwargs)
        model.keras_resnets_preset = info
        return model
    spec, spec_kwargs, build_kwargs = _arguments(model_name, kwargs)
    model = builder.build_model(spec, **build_kwargs)
    model.keras_resnets_build = dataclasses.replace(
        model.keras_resnets_build, model_name=model_name.strip().lower(), spec_options=spec_kwargs)
    return model


def _tally(model_name, kwargs, known_size=False):
    spec, _, build_kwargs = _arguments(model_name, kwargs)
    return builder.count_model(spec, known_size=known_size, **build_kwargs)


def count_params(model_name, /, **kwargs) -> ParamCount:
    """Trainable and total parameters (total counts BatchNorm moving statistics, as
    ``model.count_params()`` does), computed from the spec without building a model;
    the arguments of :func:`create_model`, refused exactly where it refuses them."""
    tally = _tally(model_name, kwargs)
    return ParamCount(tally.trainable, tally.total)


def count_macs(model_name, /, input_shape=None, **kwargs) -> int:
    """Multiply-adds of conv and dense layers for one image (default input size; a given
    ``input_shape`` must have a known height and width)."""
    return _tally(model_name, dict(kwargs, input_shape=input_shape), known_size=True).macs


def model_info(name) -> dict:
    """What ``keras-resnets info`` prints: counts, MACs, layers, paper, published errors
    (``{"CIFAR-10": "4.00", ...}`` as printed in ``paper_errors_source``), weights."""
    family, match = find_family(name)
    key = match.group(0)
    spec = get_spec(name)
    tally = engine.count(spec)
    return {
        "name": key,
        "family": family.name,
        "input_shape": spec.default_input_shape,
        "classes": spec.default_classes,
        "trainable_params": tally.trainable,
        "total_params": tally.total,
        "macs": tally.macs,
        "weighted_layers": tally.layers,
        "paper": family.paper,
        "paper_errors": family.paper_errors.of(key) if family.paper_errors else {},
        "paper_errors_source": family.paper_errors.source if family.paper_errors else None,
        "keras_applications_compatible": spec.keras_weights is not None,
        "imagenet_weights": spec.keras_weights in IMAGENET,
        "weights": sorted(catalogue.records(key)),
    }

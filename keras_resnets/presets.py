"""Presets: a directory that rebuilds a model exactly, to keep or to share.

``save_preset(model, directory)`` writes ``config.json`` (the registry name, the build
options, the evaluation transform, the class names, the weights file's SHA-256) and
``model.weights.h5``, each file atomically. ``create_model(directory)`` builds the same
network and loads the weights; ``create_model("hf://owner/repo")`` fetches the directory
from the Hugging Face Hub with ``huggingface_hub`` (offline, ``HF_HUB_OFFLINE=1``, from
its local cache). Upload a preset with ``huggingface_hub.upload_folder``.

This module reads and writes presets; :func:`keras_resnets.create_model` builds them
(with the arguments :func:`preset_arguments` reads), so it sits below the registry.

Example::

    model = keras_resnets.create_model("resnet18", weights="torchvision/imagenet1k_v1")
    model.fit(...)
    keras_resnets.save_preset(model, "presets/my-resnet18", class_names=["cat", "dog", ...])
    again = keras_resnets.create_model("presets/my-resnet18")
    shared = keras_resnets.create_model("hf://my-user/my-resnet18")
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

from keras_resnets import _io, families
from keras_resnets.weights import catalogue, hashes

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
FORMAT = "keras_resnets.preset"
FORMAT_VERSION = 1
HUB_PREFIX = "hf://"
HUB_REPO = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


@dataclasses.dataclass(frozen=True)
class PresetInfo:
    """What a loaded preset adds to its model (``model.keras_resnets_preset``), so that
    saving it again keeps it."""

    transform: catalogue.Transform | None
    class_names: tuple | None


def is_preset(handle) -> bool:
    """Whether ``handle`` names a preset: an ``hf://`` handle or a directory holding
    ``config.json``."""
    if not isinstance(handle, (str, os.PathLike)):
        return False
    handle = os.fspath(handle)
    return handle.startswith(HUB_PREFIX) or os.path.isfile(os.path.join(handle, CONFIG_FILE))


def _registry_options(model) -> tuple[str, dict]:
    """The registry name and the ``create_model`` options that rebuild ``model``."""
    record = getattr(model, "keras_resnets_build", None)
    if record is None:
        raise ValueError(f"save_preset needs a model built by keras_resnets (create_model, a "
                         f"family constructor or a preset); got {model!r}. Rebuild it with "
                         "create_model(name, ...) and load its weights")
    if record.model_name is not None:
        name, spec_options = record.model_name, dict(record.spec_options)
    else:  # a family constructor: its spec must be that of its registered name
        from keras_resnets import models  # noqa: F401  (importing it registers every family)

        name, spec_options = record.spec.name, {}
        try:
            same = families.get_spec(name) == record.spec
        except ValueError:
            same = False
        if not same:
            raise ValueError(f"save_preset cannot name {record.spec.name!r} in the registry: "
                             "build the model with create_model(name, **options) to save it "
                             "as a preset (e.g. create_model('wrn-28-10', dropout_rate=0.3))")
    options = {key: value for key, value in record.arguments.items() if key != "weights"}
    options = {**spec_options, **options}
    try:
        json.dumps(options)
    except TypeError as error:
        raise ValueError(f"save_preset writes the build options as JSON, and {options!r} "
                         f"holds a value that is not ({error}); pass plain values "
                         "(numbers, strings, tuples)") from None
    return name, options


def _transform(model, record_weights, preprocessing) -> catalogue.Transform | None:
    from keras_resnets.weights import transforms

    if isinstance(preprocessing, catalogue.Transform):
        return preprocessing
    if preprocessing is not None:
        return transforms.find_transform(preprocessing)
    if isinstance(record_weights, str) and (record_weights == "imagenet"
                                            or catalogue.is_tag(record_weights)):
        return transforms.find_transform(record_weights, model.keras_resnets_build.spec.name
                                         if model.keras_resnets_build.model_name is None
                                         else model.keras_resnets_build.model_name)
    info = getattr(model, "keras_resnets_preset", None)
    return info.transform if info is not None else None


def _class_names(model, class_names) -> list | None:
    if class_names is None:
        info = getattr(model, "keras_resnets_preset", None)
        return list(info.class_names) if info is not None and info.class_names else None
    if isinstance(class_names, str) or not all(isinstance(n, str) for n in class_names):
        raise ValueError(f"class_names must be a list of strings, one per class; got "
                         f"{class_names!r} (e.g. class_names=['cat', 'dog'])")
    classes = model.output_shape[-1] if model.keras_resnets_build.arguments.get(
        "include_top", True) else None
    if classes is not None and len(class_names) != classes:
        raise ValueError(f"class_names must name each of the model's {classes} classes; got "
                         f"{len(class_names)} names")
    return list(class_names)


def save_preset(model, directory, *, class_names=None, preprocessing=None) -> str:
    """Write ``model`` as a preset in ``directory`` (created if needed); returns its path.

    ``class_names``: one name per class, kept with the model. ``preprocessing``: the
    evaluation transform that goes with the weights (a catalogue tag or a
    :class:`~keras_resnets.weights.catalogue.Transform`), when the model's own ``weights=``
    was not a tag (a fine-tuned copy of ``torchvision/imagenet1k_v2`` loaded from a file,
    say); by default the tag's, or the one of the preset the model was loaded from.
    """
    name, options = _registry_options(model)
    transform = _transform(model, model.keras_resnets_build.arguments.get("weights"),
                           preprocessing)
    names = _class_names(model, class_names)
    directory = os.fspath(directory)
    weights = os.path.join(directory, WEIGHTS_FILE)
    _io.atomic_write(weights, model.save_weights)
    from keras_resnets import __version__

    _io.write_json(os.path.join(directory, CONFIG_FILE), {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "keras_resnets_version": __version__,
        "model_name": name, "options": options,
        "weights": WEIGHTS_FILE, "weights_sha256": hashes.sha256_of(weights),
        "parameters": model.count_params(),
        "preprocessing": transform.to_dict() if transform is not None else None,
        "class_names": names,
    })
    return directory


def _hub_directory(handle) -> str:
    repo = handle[len(HUB_PREFIX):]
    if not HUB_REPO.fullmatch(repo):
        raise ValueError(f"a Hugging Face preset handle reads 'hf://owner/repo'; got "
                         f"{handle!r} (e.g. 'hf://my-user/my-resnet18')")
    try:
        import huggingface_hub
    except ImportError:
        raise ValueError(f"loading {handle!r} needs huggingface_hub: "
                         "pip install 'keras-resnets[hub]'") from None
    try:
        return huggingface_hub.snapshot_download(repo_id=repo)
    except Exception as error:  # offline and not cached, no such repo, no network, ...
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise ValueError(f"cannot load preset {handle!r} from the Hugging Face Hub or its "
                         f"local cache: {type(error).__name__}: {reason}") from None


def read_config(handle) -> tuple[str, dict]:
    """The local directory of a preset and its checked ``config.json``."""
    handle = os.fspath(handle)
    directory = _hub_directory(handle) if handle.startswith(HUB_PREFIX) else handle
    path = os.path.join(directory, CONFIG_FILE)
    config = _io.read_json(path, remedy="save the preset again")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a keras_resnets preset config (no "
                         f"\"format\": {FORMAT!r}); save one with keras_resnets.save_preset")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"preset {handle!r} has format version {config['format_version']}, "
                         f"newer than this keras_resnets reads ({FORMAT_VERSION}): upgrade it")
    return directory, config


def preset_transform(handle) -> catalogue.Transform:
    """The evaluation transform saved with a preset (a ValueError if it has none)."""
    _, config = read_config(handle)
    if config.get("preprocessing") is None:
        raise ValueError(f"preset {os.fspath(handle)!r} was saved without preprocessing; "
                         "pass a catalogue tag instead, e.g. "
                         "preprocessing('torchvision/imagenet1k_v2')")
    return catalogue.Transform.from_dict(config["preprocessing"])


def _plain(value):
    """JSON lists back into the tuples the builders take (``input_shape``, ``out_indices``)."""
    return tuple(value) if isinstance(value, list) else value


def preset_arguments(handle, overrides) -> tuple[str, dict, PresetInfo]:
    """What :func:`keras_resnets.create_model` builds for a preset: its registry name, the
    saved build options (``overrides`` replace them: ``name``, ``classifier_activation``,
    ... but not ``weights``) with its checked weights file, and the :class:`PresetInfo`
    the model keeps as ``model.keras_resnets_preset``."""
    if "weights" in overrides:
        raise ValueError(f"a preset brings its own weights; got weights={overrides['weights']!r}"
                         f" for {os.fspath(handle)!r}. Load other weights afterwards with "
                         "model.load_weights(path)")
    directory, config = read_config(handle)
    weights = os.path.join(directory, config["weights"])
    hashes.check_file(weights, config.get("weights_sha256"))
    options = {key: _plain(value) for key, value in config["options"].items()}
    transform = config.get("preprocessing")
    info = PresetInfo(
        catalogue.Transform.from_dict(transform) if transform else None,
        tuple(config["class_names"]) if config.get("class_names") else None)
    return config["model_name"], {**options, **overrides, "weights": weights}, info


def preprocessing(weights, model_name=None):
    """Keras layers that resize, crop, scale and normalise RGB images in [0, 255] as
    ``weights`` were evaluated: a preset directory or ``hf://`` handle (the transform saved
    with it), or a catalogue tag or ``"imagenet"``
    (:func:`keras_resnets.weights.transforms.preprocessing`, with ``model_name`` where a
    tag's transform depends on the model)."""
    from keras_resnets.weights import transforms

    if isinstance(weights, str) and is_preset(weights):
        return transforms.transform_layers(preset_transform(weights))
    return transforms.preprocessing(weights, model_name)

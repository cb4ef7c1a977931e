"""Published weights and loading them.

``weights=`` takes ``None``, ``"imagenet"`` (keras.applications' file for a compatible
model), a catalogue tag (``"torchvision/imagenet1k_v2"``, ``"timm/a1_in1k"``:
:mod:`~keras_resnets.weights.catalogue`), a local file (``.keras``, ``.weights.h5``,
``.h5``, or a PyTorch ``.safetensors`` checkpoint read by
:mod:`~keras_resnets.weights.torch_import`) or an ``http(s)://``/``file://`` URL of one.

Example::

    model = keras_resnets.ResNet50(weights="imagenet")                   # Keras's file
    model = keras_resnets.create_model("resnet50-v1.5", weights="timm/a1_in1k")
    model = keras_resnets.ResNet18(weights="resnet18.safetensors")      # a torchvision file
"""

from __future__ import annotations

import dataclasses
import io
import os
import zipfile

from keras_resnets._io import StateFileError
from keras_resnets.weights import catalogue
from keras_resnets.weights.keras_files import (  # noqa: F401  (the public names)
    IMAGENET,
    KERAS_URL,
    MOBILENET_V2_ALPHAS,
    SizedWeightFiles,
    WeightFiles,
)

URL_PREFIXES = ("http://", "https://", "file://")
TORCH_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


def _architecture(spec):
    """What weights depend on: the spec less its name, Keras file key and initialisation."""
    return dataclasses.replace(spec.with_zero_init_residual(False), name="", keras_weights=None)


def find_record(spec, tag) -> catalogue.WeightRecord:
    """The catalogue record of ``tag`` for the architecture of ``spec``, or a ValueError
    naming the models that do have ``tag`` (a tag fits only its own architecture)."""
    from keras_resnets import registry

    owners = [(name, tags[tag]) for name, tags in catalogue.CATALOGUE.items() if tag in tags]
    for name, record in owners:
        if _architecture(registry.get_spec(name, **dict(record.options))) \
                == _architecture(spec):
            return record
    def options(record):
        return "".join(f", {k}={v!r}" for k, v in record.options)

    named = ", ".join(name + (f" ({options(record)[2:]})" if record.options else "")
                      for name, record in owners)
    same = [(name, record) for name, record in owners if name == spec.name]
    example = (f"create_model({same[0][0]!r}{options(same[0][1])}, weights={tag!r})" if same
               else f"create_model('resnet50-v1.5', weights={tag!r})")
    raise ValueError(f"weights={tag!r} are published for {named}, not for {spec.name!r} "
                     f"as built (another architecture); e.g. {example}")


def validate(spec, weights, *, include_top, classes):
    """Raise ValueError for a ``weights`` argument that cannot work, before building."""
    if weights is None:
        return
    if isinstance(weights, str) and (weights == "imagenet" or catalogue.is_tag(weights)):
        if weights == "imagenet" and spec.keras_weights is None and spec.name in IMAGENET:
            raise ValueError(
                f"weights='imagenet': Keras's {spec.name} file fits {spec.name} with its default "
                f"options only, and this one is built with other options (such as width, "
                f"se_ratio or padding='torch'); drop them, or use weights=None")
        if weights == "imagenet" and spec.keras_weights not in IMAGENET:
            raise ValueError(
                f"weights='imagenet': no published ImageNet weights for {spec.name!r}; models "
                f"with Keras's ImageNet files: {', '.join(sorted(IMAGENET))}. Use weights=None, "
                "a catalogue tag (keras_resnets.model_info(name)['weights']) or the path of a "
                "weights file")
        if weights != "imagenet":
            find_record(spec, weights)
        if include_top and classes != 1000:
            raise ValueError(f"weights={weights!r} with include_top=True needs classes=1000; "
                             f"got classes={classes}. Pass include_top=False to fine-tune")
        return
    if isinstance(weights, str) and weights.startswith(URL_PREFIXES):
        return
    if not isinstance(weights, (str, os.PathLike)) or not os.path.isfile(weights):
        raise ValueError(f"weights must be None, 'imagenet', a catalogue tag such as "
                         f"'torchvision/imagenet1k_v1', a URL or the path of an existing weights "
                         f"file (.weights.h5, .h5, .keras or a PyTorch .safetensors); "
                         f"got {weights!r}")
    if _is_torch_file(weights):
        from keras_resnets.weights import torch_import

        torch_import.check_build_options(spec, weights)


def file_parameter_count(path) -> int | None:
    """Number of stored weight values in a Keras weights file (None if not readable as HDF5)."""
    import h5py

    path = os.fspath(path)
    try:
        if path.endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                source = io.BytesIO(archive.read("model.weights.h5"))
        else:
            source = path
        total = 0
        with h5py.File(source, "r") as handle:
            def visit(name, item):
                nonlocal total
                if isinstance(item, h5py.Dataset) and "optimizer" not in name:
                    total += item.size
            handle.visititems(visit)
        return total
    except (OSError, KeyError, zipfile.BadZipFile):
        return None


def check_file(weights, expected, model_name):
    """Refuse a Keras weights file whose size shows it belongs to another architecture."""
    if not isinstance(weights, (str, os.PathLike)) or not os.path.isfile(weights) \
            or os.fspath(weights).endswith(TORCH_SUFFIXES):
        return
    stored = file_parameter_count(weights)
    if stored is not None and stored != expected:
        raise ValueError(
            f"weights file {os.fspath(weights)!r} holds {stored:,} values but {model_name!r} "
            f"has {expected:,} parameters: it belongs to another architecture (or another "
            "include_top/classes setting)")


def download(url, file_name, file_hash=None):
    """``keras.utils.get_file`` into ~/.keras/models, or a ValueError naming the URL and
    how to pass the file by hand (instead of Keras's bare "URL fetch failure")."""
    import keras

    try:
        return keras.utils.get_file(file_name, url, cache_subdir="models", file_hash=file_hash)
    except Exception as error:  # get_file raises plain Exception on network errors
        raise ValueError(
            f"could not download {url} ({error}). Without a network, fetch the file elsewhere "
            f"and pass its local path: weights='/path/to/{file_name}'") from error


def _is_torch_file(path):
    return os.fspath(path).endswith(TORCH_SUFFIXES)


def load(model, spec, weights, *, include_top):
    """Load ``weights`` (``"imagenet"``, a tag, a URL or a path) into ``model``."""
    if weights == "imagenet":
        file_name, url, md5 = IMAGENET[spec.keras_weights].resolve(
            include_top, tuple(model.input_shape[1:3]))
        weights = download(url, file_name, md5)
    elif isinstance(weights, str) and catalogue.is_tag(weights):
        record = find_record(spec, weights)
        if record.layout == "keras":
            return load(model, spec, "imagenet", include_top=include_top)
        weights = download(record.url, record.file_name, record.sha256)
    elif isinstance(weights, str) and weights.startswith(URL_PREFIXES):
        weights = download(weights, os.path.basename(weights.split("?")[0]))
    if _is_torch_file(weights):
        from keras_resnets.weights import torch_import

        torch_import.check_build_options(spec, weights)  # again: a URL's file is here now
        torch_import.load(model, weights)
        return
    try:
        model.load_weights(weights)
    except (OSError, zipfile.BadZipFile) as error:  # truncated, damaged, not HDF5 or zip
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise StateFileError(f"weights file {os.fspath(weights)!r} cannot be read ({reason}); "
                             f"it is damaged or not a Keras weights file: save or download "
                             f"it again") from None
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"weights file {os.fspath(weights)!r} does not fit {model.name!r}: "
                         f"{error}") from error

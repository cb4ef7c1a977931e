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
from typing import TYPE_CHECKING

from keras_resnets._io import StateFileError
from keras_resnets.weights import catalogue, hashes
from keras_resnets.weights.keras_files import (  # noqa: F401  (the public names)
    IMAGENET,
    KERAS_URL,
    MOBILENET_V2_ALPHAS,
    SizedWeightFiles,
    WeightFiles,
)

if TYPE_CHECKING:
    from keras_resnets.engine import NetworkSpec

URL_PREFIXES = ("http://", "https://", "file://")
TORCH_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")


@dataclasses.dataclass(frozen=True)
class Weights:
    """A ``weights=`` argument resolved once, before anything is built.

    ``keras_key``: keras.applications' file of that key (the file for the input size is
    chosen when loading); otherwise ``url`` (downloaded as ``file_name``, checked against
    ``sha256`` when known) or a local ``path``. ``record``: the catalogue record of a tag.
    ``spec``: for a URL, the spec its PyTorch file is checked against once downloaded (a
    local file is checked in :func:`resolve`).

    Example::

        resolve(get_spec("resnet18"), "torchvision/imagenet1k_v1", include_top=True,
                classes=1000, spec_of=get_spec).url   # a Hugging Face hub URL
    """

    argument: str | os.PathLike
    keras_key: str | None = None
    url: str | None = None
    file_name: str | None = None
    sha256: str | None = None
    path: str | os.PathLike | None = None
    record: catalogue.WeightRecord | None = None
    spec: NetworkSpec | None = None


def _architecture(spec):
    """What weights depend on: the spec less its Keras file key and initialisation."""
    return dataclasses.replace(spec.with_zero_init_residual(False), keras_weights=None)


def _options(record):
    return ", ".join(f"{k}={v!r}" for k, v in record.options)


def find_record(spec, tag, spec_of) -> catalogue.WeightRecord:
    """The catalogue record of ``tag`` for ``spec`` (the catalogue is keyed by registry
    names, which are the specs' names), or a ValueError naming the models that have
    ``tag``. ``spec_of(name, **options)`` gives the spec a record was published for: a
    tag fits only that architecture (``ResNet50V2(weights="timm/a1h_in1k")`` needs
    ``stride_at_end=False, padding="torch"``)."""
    record = catalogue.records(spec.name).get(tag)
    if record is not None and _architecture(spec_of(spec.name, **dict(record.options))) \
            == _architecture(spec):
        return record
    owners = [tags[tag] for tags in catalogue.CATALOGUE.values() if tag in tags]
    named = ", ".join(r.model + (f" ({_options(r)})" if r.options else "") for r in owners)
    example = (f"create_model({record.model!r}, {_options(record)}, weights={tag!r})"
               if record is not None else f"create_model('resnet50-v1.5', weights={tag!r})")
    raise ValueError(f"weights={tag!r} are published for {named}, not for {spec.name!r} "
                     f"as built (another architecture); e.g. {example}")


def resolve(spec, weights, *, include_top, classes, spec_of) -> Weights | None:
    """``weights`` as one :class:`Weights` record, or a ValueError for an argument that
    cannot work with ``spec`` (checked before building); ``spec_of`` as
    :func:`find_record` takes it."""
    if weights is None:
        return None
    if isinstance(weights, str) and (weights == "imagenet" or catalogue.is_tag(weights)):
        if weights == "imagenet" and spec.keras_weights is None and spec.name in IMAGENET:
            raise ValueError(
                f"weights='imagenet': Keras's {spec.name} file fits {spec.name} with its default "
                f"options only, and this one is built with other options (such as width, "
                f"se_ratio or padding='torch'); drop them, or use weights=None")
        record = None if weights == "imagenet" else find_record(spec, weights, spec_of)
        if (record is None or record.layout == "keras") and spec.keras_weights not in IMAGENET:
            raise ValueError(
                f"weights='imagenet': no published ImageNet weights for {spec.name!r}; models "
                f"with Keras's ImageNet files: {', '.join(sorted(IMAGENET))}. Use weights=None, "
                "a catalogue tag (keras_resnets.model_info(name)['weights']) or the path of a "
                "weights file")
        if include_top and classes != 1000:
            raise ValueError(f"weights={weights!r} with include_top=True needs classes=1000; "
                             f"got classes={classes}. Pass include_top=False to fine-tune")
        if record is None or record.layout == "keras":
            return Weights(weights, keras_key=spec.keras_weights, record=record)
        return Weights(weights, url=record.url, file_name=record.file_name,
                       sha256=record.sha256, record=record)
    if isinstance(weights, str) and weights.startswith(URL_PREFIXES):
        return Weights(weights, url=weights, spec=spec,
                       file_name=os.path.basename(weights.split("?")[0]))
    if not isinstance(weights, (str, os.PathLike)) or not os.path.isfile(weights):
        raise ValueError(f"weights must be None, 'imagenet', a catalogue tag such as "
                         f"'torchvision/imagenet1k_v1', a URL or the path of an existing weights "
                         f"file (.weights.h5, .h5, .keras or a PyTorch .safetensors); "
                         f"got {weights!r}")
    if _is_torch_file(weights):
        from keras_resnets.weights import torch_import

        torch_import.check_build_options(spec, weights)  # before any layer is built
    return Weights(weights, path=weights)


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


def check_file(weights: Weights, expected, model_name):
    """Refuse a local Keras weights file whose size shows it belongs to another
    architecture (``expected``: the model's parameter count)."""
    if weights.path is None or _is_torch_file(weights.path):
        return
    stored = file_parameter_count(weights.path)
    if stored is not None and stored != expected:
        raise ValueError(
            f"weights file {os.fspath(weights.path)!r} holds {stored:,} values but "
            f"{model_name!r} has {expected:,} parameters: it belongs to another architecture "
            "(or another include_top/classes setting)")


def download(url, file_name, file_hash=None):
    """``keras.utils.get_file`` into ``$KERAS_HOME/models`` (``~/.keras/models`` by
    default; the variable is read at each call), then checked against ``file_hash`` or
    else the torch.hub hash prefix in the URL's file name
    (:func:`keras_resnets.weights.hashes.check_file`). A failed download is a ValueError
    naming the URL and how to pass the file by hand (not Keras's bare "URL fetch failure")."""
    import keras

    keras_home = os.environ.get("KERAS_HOME")
    if keras_home:  # get_file would fall back to /tmp/.keras for a directory not yet made
        os.makedirs(os.path.join(os.path.expanduser(keras_home), "models"), exist_ok=True)
    try:
        path = keras.utils.get_file(file_name, url, cache_subdir="models",
                                    cache_dir=keras_home or None)
    except Exception as error:  # get_file raises plain Exception on network errors
        raise ValueError(
            f"could not download {url} ({error}). Without a network, fetch the file elsewhere "
            f"and pass its local path: weights='/path/to/{file_name}'") from error
    hashes.check_file(path, file_hash or hashes.torch_hub_prefix(url.split("?")[0]))
    return path


def _is_torch_file(path):
    return os.fspath(path).endswith(TORCH_SUFFIXES)


def load(model, weights: Weights, *, include_top):
    """Load resolved ``weights`` (:func:`resolve`) into ``model``."""
    if weights.keras_key is not None:
        file_name, url, md5 = IMAGENET[weights.keras_key].resolve(
            include_top, tuple(model.input_shape[1:3]))
        path = download(url, file_name, md5)
    elif weights.url is not None:
        path = download(weights.url, weights.file_name, weights.sha256)
    else:
        path = weights.path
    if _is_torch_file(path):
        from keras_resnets.weights import torch_import

        if weights.spec is not None:  # a URL's file, here now: checked as a local one is
            torch_import.check_build_options(weights.spec, path)
        torch_import.load(model, path)
        return
    try:
        model.load_weights(path)
    except (OSError, zipfile.BadZipFile) as error:  # truncated, damaged, not HDF5 or zip
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise StateFileError(f"weights file {os.fspath(path)!r} cannot be read ({reason}); "
                             f"it is damaged or not a Keras weights file: save or download "
                             f"it again") from None
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"weights file {os.fspath(path)!r} does not fit {model.name!r}: "
                         f"{error}") from error

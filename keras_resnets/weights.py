"""Published weight files and loading them.

The ImageNet files are Keras's own (keras.applications): for a layer-for-layer
compatible model they load as they are. They are downloaded once with
``keras.utils.get_file`` and checked against their published MD5 hashes.

Example::

    model = keras_resnets.ResNet50(weights="imagenet")           # Keras's file
    model = keras_resnets.WideResNet(16, 4, weights="wrn.weights.h5")
"""

from __future__ import annotations

import dataclasses
import io
import os
import warnings
import zipfile

import keras

KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclasses.dataclass(frozen=True)
class WeightFiles:
    """A model's ImageNet files: with the classifier (top) and without it (notop)."""

    folder: str
    top: str
    top_md5: str
    notop: str
    notop_md5: str

    def resolve(self, include_top, input_shape=None):
        file_name, md5 = (self.top, self.top_md5) if include_top else (self.notop, self.notop_md5)
        return file_name, f"{KERAS_URL}{self.folder}/{file_name}", md5


@dataclasses.dataclass(frozen=True)
class SizedWeightFiles:
    """Files trained at several square input sizes (MobileNetV2): the one for the model's
    input size, else the ``default_size`` one with a warning, as keras.applications does.
    Keras publishes no MD5 hashes for these."""

    folder: str
    stem: str
    sizes: tuple = (96, 128, 160, 192, 224)
    default_size: int = 224

    def resolve(self, include_top, input_shape=None):
        rows = self.default_size
        if input_shape is not None and input_shape[0] == input_shape[1] \
                and input_shape[0] in self.sizes:
            rows = input_shape[0]
        else:
            warnings.warn(f"no {self.stem} ImageNet file for input shape {input_shape}; loading "
                          f"the one trained at {rows}x{rows} (files exist for "
                          f"{', '.join(map(str, self.sizes))})", stacklevel=3)
        file_name = f"{self.stem}_{rows}{'' if include_top else '_no_top'}.h5"
        return file_name, f"{KERAS_URL}{self.folder}/{file_name}", None


def _resnet_files(name, top_md5, notop_md5):
    stem = f"{name}_weights_tf_dim_ordering_tf_kernels"
    return WeightFiles("resnet", f"{stem}.h5", top_md5, f"{stem}_notop.h5", notop_md5)


IMAGENET = {
    "resnet50": _resnet_files("resnet50", "2cb95161c43110f7111970584f804107",
                              "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": _resnet_files("resnet101", "f1aeb4b969a6efcfb50fad2f0c20cfc5",
                               "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": _resnet_files("resnet152", "100835be76be38e30d865e96f2aaae62",
                               "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": _resnet_files("resnet50v2", "3ef43a0b657b3be2300d5770ece849e0",
                                "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": _resnet_files("resnet101v2", "6343647c601c52e1368623803854d971",
                                 "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": _resnet_files("resnet152v2", "a49b44d1979771252814e80f8ec446f9",
                                 "ed17cf2e0169df9d443503ef94b23b33"),
}
"""Keras's ImageNet files by ``spec.keras_weights`` key; other families add theirs."""

MOBILENET_V2_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
"""The MobileNetV2 width multipliers Keras has ImageNet files for (1.3 and 1.4 at 224 only)."""
IMAGENET.update({
    f"mobilenetv2_{alpha}": SizedWeightFiles(
        "mobilenet_v2", f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}",
        sizes=(224,) if alpha > 1 else (96, 128, 160, 192, 224))
    for alpha in MOBILENET_V2_ALPHAS
})
IMAGENET["xception"] = WeightFiles(
    "xception", "xception_weights_tf_dim_ordering_tf_kernels.h5",
    "0a58e3b7378bc2990ea3b43d5981f1f6", "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "b0042744bf5b25fce3cb969f33bebb97")
IMAGENET["inceptionv3"] = WeightFiles(
    "inception_v3", "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
    "9a0d58056eeedaa3f26cb7ebd46da564",
    "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "bcbd6486424b2319ff4ef7d526e38f63")
IMAGENET.update({
    f"densenet{depth}": WeightFiles(
        "densenet", f"densenet{depth}_weights_tf_dim_ordering_tf_kernels.h5", top_md5,
        f"densenet{depth}_weights_tf_dim_ordering_tf_kernels_notop.h5", notop_md5)
    for depth, top_md5, notop_md5 in (
        (121, "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
        (169, "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
        (201, "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
    )
})


def validate(spec, weights, *, include_top, classes):
    """Raise ValueError for a ``weights`` argument that cannot work, before building."""
    if weights is None:
        return
    if weights == "imagenet":
        if spec.keras_weights not in IMAGENET:
            raise ValueError(
                f"weights='imagenet': no published ImageNet weights for {spec.name!r}; models "
                f"with Keras's ImageNet files: {', '.join(sorted(IMAGENET))}. Use weights=None "
                "or the path of a weights file")
        if include_top and classes != 1000:
            raise ValueError(f"weights='imagenet' with include_top=True needs classes=1000; "
                             f"got classes={classes}. Pass include_top=False to fine-tune")
        return
    if not isinstance(weights, (str, os.PathLike)) or not os.path.isfile(weights):
        raise ValueError(f"weights must be None, 'imagenet' or the path of an existing weights "
                         f"file (.weights.h5, .h5 or .keras); got {weights!r}")


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
    """Refuse a weights file whose size shows it belongs to another architecture."""
    if weights is None or weights == "imagenet":
        return
    stored = file_parameter_count(weights)
    if stored is not None and stored != expected:
        raise ValueError(
            f"weights file {os.fspath(weights)!r} holds {stored:,} values but {model_name!r} "
            f"has {expected:,} parameters: it belongs to another architecture (or another "
            "include_top/classes setting)")


def load(model, spec, weights, *, include_top):
    """Load ``weights`` ("imagenet" or a path) into ``model`` built from ``spec``."""
    if weights == "imagenet":
        file_name, url, md5 = IMAGENET[spec.keras_weights].resolve(
            include_top, tuple(model.input_shape[1:3]))
        weights = keras.utils.get_file(file_name, url, cache_subdir="models", file_hash=md5)
    try:
        model.load_weights(weights)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"weights file {os.fspath(weights)!r} does not fit {model.name!r}: "
                         f"{error}") from error

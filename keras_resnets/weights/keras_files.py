"""Keras's own ImageNet files (keras.applications), by ``spec.keras_weights`` key.

For a layer-for-layer compatible model they load as they are; they are downloaded once
with ``keras.utils.get_file`` and checked against their published MD5 hashes.

Example::

    IMAGENET["resnet50"].resolve(include_top=True)   # (file name, URL, MD5)
"""

from __future__ import annotations

import dataclasses
import warnings

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

KERAS_MODES = {**{key: "caffe" for key in ("resnet50", "resnet101", "resnet152")},
               **{key: "torch" for key in IMAGENET if key.startswith("densenet")}}
"""keras.applications' preprocessing mode per file key (``"tf"`` for the others)."""

"""keras_resnets: the residual family of CNNs for Keras 3.

Example::

    import keras_resnets
    model = keras_resnets.WideResNet(28, 10)            # WRN-28-10 of the paper
    model = keras_resnets.create_model("resnet56")
    keras_resnets.count_params("wrn-28-10").trainable   # 36479194, no model built

The names below are imported on first use, so ``import keras_resnets`` (and the
``keras-resnets`` command's ``list`` and ``info``) run without importing Keras or
TensorFlow. The package's custom layers are registered with Keras as soon as Keras is
imported, before or after this package, so ``keras.saving.load_model`` reads files that
use them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

__version__ = "0.1.0"

_FAMILY_EXPORTS = {
    "cliquenet": ("CliqueNet", "CliqueNetFromLayout", "CliqueNetS0", "CliqueNetS1",
                  "CliqueNetS2", "CliqueNetS3"),
    "deeplab": ("DeepLabV3",),
    "densenet": ("DenseNet", "DenseNet121", "DenseNet161", "DenseNet169", "DenseNet201",
                 "DenseNet264"),
    "inception_v3": ("InceptionV3",),
    "mobilenet_v2": ("MobileNetV2",),
    "resnet": ("ResNet", "ResNet18", "ResNet34", "ResNet50", "ResNet101", "ResNet152",
               "ResNet200", "ResNet18V2", "ResNet34V2", "ResNet50V2", "ResNet101V2",
               "ResNet152V2", "ResNet200V2"),
    "resnext": ("ResNeXt", "ResNeXt29", "ResNeXt50", "ResNeXt101"),
    "wide_resnet": ("WideResNet", "WideResNet50_2", "WideResNet101_2"),
    "xception": ("Xception",),
}
# public name -> the module that defines it
_EXPORTS = {name: f"models.{module}" for module, names in _FAMILY_EXPORTS.items()
            for name in names}
_EXPORTS.update({"build_model": "engine", "deep_graph_recursion": "engine",
                 "load_model": "saving"})
_EXPORTS.update(dict.fromkeys(("preprocess_input", "decode_predictions"),
                              "weights.preprocessing"))
_EXPORTS.update(dict.fromkeys(("create_model", "list_models", "count_params", "count_macs",
                               "get_spec", "model_info"), "registry"))
_SUBMODULES = ("blocks", "layers", "engine", "registry", "primitives", "models", "weights",
               "saving", "data", "export", "training", "tuning", "cli")

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"keras_resnets.{_EXPORTS[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"keras_resnets.{name}")
    else:
        raise AttributeError(f"module 'keras_resnets' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))


class _RegisterLayersAfterKeras:
    """An import hook that imports :mod:`keras_resnets.layers` (which registers the
    custom layers) right after ``keras`` itself is imported, then removes itself."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            importlib.import_module("keras_resnets.layers")

        spec.loader.exec_module = exec_module
        return spec


if "keras" in sys.modules:
    importlib.import_module("keras_resnets.layers")
else:
    sys.meta_path.insert(0, _RegisterLayersAfterKeras())

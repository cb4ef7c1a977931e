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

import functools
import importlib
import importlib.util
import sys

__version__ = "0.1.0"

# public name -> the module that defines it (the families' builders: their ``__all__``)
_EXPORTS = {"build_model": "builder", "deep_graph_recursion": "engine",
            "load_model": "saving", "feature_info": "features", "save_preset": "presets",
            "preprocessing": "presets"}
_EXPORTS.update(dict.fromkeys(("preprocess_input", "decode_predictions"),
                              "weights.preprocessing"))
_EXPORTS.update(dict.fromkeys(("create_model", "list_models", "count_params", "count_macs",
                               "get_spec", "model_info"), "registry"))
_SUBMODULES = ("blocks", "layers", "engine", "families", "builder", "registry", "primitives",
               "models", "weights", "saving", "features", "presets", "data", "datasets",
               "normalization", "export", "tflite_check", "examples_data", "training", "tuning",
               "cli")


@functools.cache
def _exports() -> dict[str, str]:
    """Every public name -> its module; reading it imports the family modules (plain
    Python: no Keras, no TensorFlow)."""
    models = importlib.import_module("keras_resnets.models")
    table = {name: module.__name__ for module in models.FAMILY_MODULES
             for name in module.__all__}
    table.update({name: f"keras_resnets.{module}" for name, module in _EXPORTS.items()})
    return table


def __getattr__(name):
    if name in _SUBMODULES:
        value = importlib.import_module(f"keras_resnets.{name}")
    elif name == "__all__":
        value = list(_exports())
    elif not name.startswith("_") and name in _exports():  # "_checks": the import system's
        value = getattr(importlib.import_module(_exports()[name]), name)
    else:
        raise AttributeError(f"module 'keras_resnets' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_exports()) | set(_SUBMODULES))


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

"""Names of a package imported from their modules on first use (PEP 562), so that
importing the package does not import what those modules need (Keras Tuner, TensorFlow).

Example::

    __getattr__, LAZY_NAMES = lazy_names(__name__, {"trainer": ("train", "TrainResult")})
"""

from __future__ import annotations

import importlib


def lazy_names(package, modules) -> tuple:
    """``(__getattr__, names)`` for ``package``: each name of ``modules`` (``{module:
    names}``, modules relative to the package) is read from its module when first asked."""
    module_of = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name):
        if name not in module_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module_of[name]}"), name)

    return __getattr__, list(module_of)

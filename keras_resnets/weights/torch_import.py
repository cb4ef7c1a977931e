"""Load timm and torchvision checkpoints (safetensors) into our models, without PyTorch.

The file is read with the ``safetensors`` package's NumPy API. Each Keras layer with
weights is matched to a PyTorch module by name (a layout's rules, in
:mod:`keras_resnets.weights.torch_layouts`: torchvision's ResNet / Wide ResNet / ResNeXt,
DenseNet, MobileNetV2 and InceptionV3 names, which timm shares, and timm's
``legacy_xception`` and ``resnetv2_50``), and the tensors are converted: conv kernels OIHW -> HWIO (grouped convs alike), depthwise kernels
(C*m, 1, kh, kw) -> (kh, kw, C, m), dense (out, in) -> (in, out), BatchNorm weight, bias,
running mean and variance. Every tensor must be used and every weight filled, or nothing
is loaded and the error names what is missing or left over. A timm
separable conv (``conv1`` depthwise, ``pointwise``) fills one ``SeparableConv2D``.

BatchNorm epsilon: PyTorch uses 1e-5; the keras.applications-compatible styles use
1.001e-5 (ResNet, DenseNet) or 1e-3. Where they differ, gamma is rescaled by
``sqrt((var + eps_keras) / (var + eps_torch))`` (computed in float64), so
``gamma' / sqrt(var + eps_keras) == gamma / sqrt(var + eps_torch)``: the normalisation is
the checkpoint's to float32 rounding. A BatchNorm without gamma (``bn_scale=False``) gets
its variance shifted by the difference instead. A layout states its checkpoints' epsilon
(torchvision's InceptionV3: 1e-3, as ours) and the tensors our models have no use for
(InceptionV3's ``AuxLogits.*``, the auxiliary classifier used only in training): those
are dropped by name; any other unused tensor is an error.

Example::

    model = keras_resnets.ResNet18(weights="resnet18.safetensors")   # a torchvision file
    model.save_weights("resnet18.weights.h5")                        # plain Keras from now on
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable

import keras
import numpy as np

from keras_resnets.weights import torch_layouts as L

TORCH_EPSILON = 1e-5
CONVERT_HINT = ("convert a pickled PyTorch checkpoint once, where PyTorch is installed: "
                "safetensors.torch.save_file(torch.load('model.pth'), 'model.safetensors')")


@dataclasses.dataclass(frozen=True)
class TorchLayout:
    """How one family names its modules: ``marker`` is a key only its files have,
    ``module(layer_name)`` the PyTorch module of a Keras layer (None: no counterpart),
    ``head`` the classifier's module, dropped without the top; ``epsilon`` the checkpoint's
    BatchNorm epsilon, ``dropped`` prefixes of tensors our models have no counterpart for;
    ``options`` the build options (``(("padding", "torch"),)``) without which the weights
    load but give other outputs (or do not fit)."""

    name: str
    marker: str
    module: Callable
    head: str
    epsilon: float = TORCH_EPSILON
    dropped: tuple = ()
    options: tuple = ()


TORCH_PADDING = (("padding", "torch"),)


LAYOUTS = (
    TorchLayout("resnet", "layer1.0.conv1.weight", L.resnet_module, "fc"),
    TorchLayout("mobilenet_v2", "features.1.conv.0.0.weight", L.mobilenet_v2_module,
                "classifier.1", options=TORCH_PADDING),
    TorchLayout("densenet", "features.denseblock1.denselayer1.conv1.weight", L.densenet_module,
                "classifier"),
    TorchLayout("inception_v3", "Mixed_5b.branch1x1.conv.weight", L.inception_v3_module, "fc",
                epsilon=1e-3, dropped=("AuxLogits.",), options=TORCH_PADDING),
    TorchLayout("xception", "block1.rep.0.pointwise.weight", L.xception_module, "fc",
                options=TORCH_PADDING),
    TorchLayout("resnetv2", "stages.0.blocks.0.norm1.running_var", L.resnetv2_module, "head.fc",
                options=(("stride_at_end", False), *TORCH_PADDING)),
)
"""The checkpoint layouts the loader knows (torchvision's names, which timm shares)."""


def read(path, keys_only=False) -> dict[str, np.ndarray] | set[str]:
    """The tensors of a safetensors file as NumPy arrays (no PyTorch needed); with
    ``keys_only``, their names only (nothing else is read)."""
    try:
        from safetensors import safe_open
        from safetensors.numpy import load_file
    except ImportError as error:
        raise ImportError("reading PyTorch checkpoints needs the safetensors package: "
                          "pip install 'keras_resnets[torch-weights]'") from error
    try:
        if keys_only:
            with safe_open(os.fspath(path), "np") as handle:
                return set(handle.keys())
        return load_file(os.fspath(path))
    except Exception as error:  # safetensors raises its own error types
        raise ValueError(f"weights file {os.fspath(path)!r} is not a safetensors file "
                         f"({error}); {CONVERT_HINT}") from error


def detect(tensors) -> TorchLayout:
    """The layout whose marker key the checkpoint has."""
    for layout in LAYOUTS:
        if layout.marker in tensors:
            return layout
    sample = ", ".join(sorted(tensors)[:5])
    raise ValueError(f"unknown checkpoint layout (first keys: {sample}); known layouts: "
                     f"{', '.join(f'{x.name} ({x.marker})' for x in LAYOUTS)}")


def _batch_norm(layer, prefix, take, torch_epsilon=TORCH_EPSILON):
    gamma, beta = take(f"{prefix}.weight"), take(f"{prefix}.bias")
    mean = take(f"{prefix}.running_mean")
    var = take(f"{prefix}.running_var").astype(np.float64)
    epsilon = float(layer.epsilon)
    if layer.scale:
        gamma = gamma.astype(np.float64) * np.sqrt((var + epsilon) / (var + torch_epsilon))
    elif epsilon != torch_epsilon or not np.allclose(gamma, 1.0):
        if not np.allclose(gamma, 1.0):
            raise ValueError(f"{layer.name}: the checkpoint's {prefix}.weight (gamma) is not 1 "
                             "but this BatchNorm has no scale; build the model with a style "
                             "whose bn_scale=True (InceptionV3: padding='torch')")
        var = var + torch_epsilon - epsilon
    values = ([gamma] if layer.scale else []) + ([beta] if layer.center else []) + [mean, var]
    return values


def _convert(layer, prefix, take, torch_epsilon=TORCH_EPSILON):
    if isinstance(layer, keras.layers.BatchNormalization):
        return _batch_norm(layer, prefix, take, torch_epsilon)
    if isinstance(layer, keras.layers.SeparableConv2D):  # timm's SeparableConv2d module
        depthwise = take(f"{prefix}.conv1.weight")
        multiplier = layer.depthwise_kernel.shape[3]
        kernels = [depthwise.reshape(-1, multiplier, *depthwise.shape[2:]).transpose(2, 3, 0, 1),
                   take(f"{prefix}.pointwise.weight").transpose(2, 3, 1, 0)]
        return kernels + ([take(f"{prefix}.pointwise.bias")] if layer.use_bias else [])
    weight = take(f"{prefix}.weight")
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        channels, multiplier = layer.kernel.shape[2], layer.kernel.shape[3]
        kernel = weight.reshape(channels, multiplier, *weight.shape[2:]).transpose(2, 3, 0, 1)
    elif isinstance(layer, keras.layers.Conv2D):
        kernel = weight.transpose(2, 3, 1, 0)
    elif isinstance(layer, keras.layers.Dense):
        kernel = (weight[:, :, 0, 0] if weight.ndim == 4 else weight).T
    else:
        raise ValueError(f"{layer.name}: no PyTorch conversion for a {type(layer).__name__}")
    return [kernel] + ([take(f"{prefix}.bias")] if layer.use_bias else [])


def assign(model, tensors):
    """Fill every weight of ``model`` from ``tensors`` (a state dict of NumPy arrays), or
    raise ValueError naming the missing and left-over tensors; nothing is set on error.
    A model without the classifier (``include_top=False``, ``features_only=True``) leaves
    the checkpoint's classifier out."""
    layout = detect(tensors)
    used, missing, mismatched, values = set(), [], [], {}
    has_head = any(layout.module(layer.name) == layout.head for layer in model.layers)

    def take(key):
        if key not in tensors:
            raise KeyError(key)
        used.add(key)
        return tensors[key]

    for layer in model.layers:
        if not layer.weights:
            continue
        module = layout.module(layer.name)
        if module is None:
            missing.append(f"{layer.name} (no {layout.name} counterpart)")
            continue
        try:
            arrays = _convert(layer, module, take, layout.epsilon)
        except KeyError as error:
            missing.append(f"{layer.name} <- {error.args[0]}")
            continue
        for weight, array in zip(layer.weights, arrays, strict=True):
            if tuple(weight.shape) != array.shape:
                mismatched.append(f"{layer.name}/{weight.name} {tuple(weight.shape)} <- "
                                  f"{module} {array.shape}")
        values[layer.name] = arrays
    left = sorted(k for k in tensors if k not in used and not k.endswith("num_batches_tracked")
                  and (has_head or not k.startswith(layout.head + "."))
                  and not k.startswith(layout.dropped))
    if missing or left or mismatched:
        parts = [f"{label} ({len(items)}): {', '.join(items[:8])}"
                 + (", ..." if len(items) > 8 else "")
                 for label, items in (("missing", missing), ("left over", left),
                                      ("shape mismatch", mismatched)) if items]
        raise ValueError(f"the {layout.name} checkpoint does not fit {model.name!r}: "
                         + "; ".join(parts))
    for name, arrays in values.items():
        layer = model.get_layer(name)
        layer.set_weights([np.asarray(a, dtype=w.dtype) for w, a in
                           zip(layer.weights, arrays, strict=True)])


def check_build_options(spec, path):
    """Refuse ``spec`` when the checkpoint at ``path`` cannot give its outputs: built
    without the options the checkpoint's layout needs (such a file loads but computes
    something else, or does not fit), or a keras.applications v1 bottleneck ResNet for a
    torchvision one (v1.5). Only the tensors' names are read, before any layer is built."""
    layout = detect(read(path, keys_only=True))
    where = f"weights file {os.fspath(path)!r} is a PyTorch {layout.name} checkpoint"
    depth = re.fullmatch(r"resnet(50|101|152)", spec.name) if layout.name == "resnet" else None
    if depth:
        raise ValueError(f"{where}: torchvision's and timm's ResNet-{depth[1]} are v1.5 (the "
                         f"stride on the 3x3 convolution, no conv biases), not {spec.name!r} "
                         f"(keras.applications' v1): use create_model('resnet{depth[1]}-v1.5', "
                         f"weights=...)")
    built = {"padding": spec.style.padding, "stride_at_end": spec.stride_at_end}
    if all(built.get(key) == value for key, value in layout.options):
        return
    needed = ", ".join(f"{key}={value!r}" for key, value in layout.options)
    raise ValueError(f"{where}, which fits {spec.name!r} built with {needed} only (PyTorch's "
                     f"symmetric padding and layout; without them the outputs differ): "
                     f"create_model({spec.name!r}, {needed}, weights=...)")


def load(model, path):
    """Load a timm/torchvision safetensors checkpoint into ``model`` (see :func:`assign`)."""
    assign(model, read(path))

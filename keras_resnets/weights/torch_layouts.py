"""Keras layer name -> PyTorch module name, for the layouts of
:mod:`keras_resnets.weights.torch_import` that timm alone publishes.

Each function returns the module whose tensors fill a Keras layer, or ``None`` where the
layer has no counterpart (the loader then names it as missing).

Example::

    xception_module("block3_sepconv2_bn")        # 'block2.rep.5'  (timm legacy_xception)
    resnetv2_module("conv3_block1_0_conv")       # 'stages.1.blocks.0.downsample.conv'
"""

from __future__ import annotations

import re

_XCEPTION_FIXED = {"block1_conv1": "conv1", "block1_conv1_bn": "bn1", "block1_conv2": "conv2",
                   "block1_conv2_bn": "bn2", "block14_sepconv1": "conv3",
                   "block14_sepconv1_bn": "bn3", "block14_sepconv2": "conv4",
                   "block14_sepconv2_bn": "bn4", "predictions": "fc"}


def xception_module(name):
    """timm's ``legacy_xception`` (Cadene's port): our ``block{n}`` (n = 2..13) is its
    ``block{n-1}``; a block's ``rep`` is ``[ReLU,] SeparableConv2d, BatchNorm2d, ReLU, ...``
    (its first block starts without the ReLU), the shortcut ``skip`` and ``skipbn``; a
    separable conv is one module (``conv1`` depthwise, ``pointwise``)."""
    if name in _XCEPTION_FIXED:
        return _XCEPTION_FIXED[name]
    match = re.fullmatch(r"block(\d+)_(?:sepconv(\d)(_bn)?|0_(conv|bn))", name)
    if not match or not 2 <= int(match[1]) <= 13:
        return None
    block = int(match[1]) - 1
    if match[4]:
        return f"block{block}.{'skip' if match[4] == 'conv' else 'skipbn'}"
    index = 3 * (int(match[2]) - 1) + (block > 1) + bool(match[3])
    return f"block{block}.rep.{index}"


def resnetv2_module(name):
    """timm's ``resnetv2_50``/``101``/``152`` (BatchNorm, pre-activation bottlenecks):
    ``stem.conv``, ``stages.{i}.blocks.{j}.{norm1,conv1,norm2,conv2,norm3,conv3}``,
    ``downsample.conv`` (no norm: it takes the pre-activated input), ``norm``, ``head.fc``
    (a 1x1 conv, read as our dense classifier)."""
    fixed = {"conv1_conv": "stem.conv", "post_bn": "norm", "predictions": "head.fc"}
    if name in fixed:
        return fixed[name]
    match = re.fullmatch(r"conv(\d)_block(\d+)_(preact_bn|\d_conv|\d_bn)", name)
    if not match:
        return None
    part = {"preact_bn": "norm1", "1_conv": "conv1", "1_bn": "norm2", "2_conv": "conv2",
            "2_bn": "norm3", "3_conv": "conv3", "0_conv": "downsample.conv"}.get(match[3])
    return part and f"stages.{int(match[1]) - 2}.blocks.{int(match[2]) - 1}.{part}"

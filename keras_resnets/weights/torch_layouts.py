"""Keras layer name -> PyTorch module name, for each layout of
:mod:`keras_resnets.weights.torch_import`: torchvision's ResNet / Wide ResNet / ResNeXt,
DenseNet, MobileNetV2 and InceptionV3 names (timm shares them), timm's ``legacy_xception``
and ``resnetv2_50``.

Each function returns the module whose tensors fill a Keras layer, or ``None`` where the
layer has no counterpart (the loader then names it as missing).

Example::

    xception_module("block3_sepconv2_bn")        # 'block2.rep.5'  (timm legacy_xception)
    resnetv2_module("conv3_block1_0_conv")       # 'stages.1.blocks.0.downsample.conv'
"""

from __future__ import annotations

import re


def resnet_module(name):
    fixed = {"conv1_conv": "conv1", "conv1_bn": "bn1", "predictions": "fc"}
    if name in fixed:
        return fixed[name]
    match = re.fullmatch(r"conv(\d)_block(\d+)_(\d)_(conv|bn)", name)
    if not match:
        return None
    stage, block, index, kind = int(match[1]), int(match[2]), int(match[3]), match[4]
    base = f"layer{stage - 1}.{block - 1}."
    if index == 0:
        return base + ("downsample.0" if kind == "conv" else "downsample.1")
    return base + f"{kind}{index}"


def densenet_module(name):
    fixed = {"conv1_conv": "features.conv0", "conv1_bn": "features.norm0",
             "bn": "features.norm5", "predictions": "classifier"}
    if name in fixed:
        return fixed[name]
    match = re.fullmatch(r"conv(\d)_block(\d+)_(\d)_(conv|bn)", name)
    if match:
        part = {("0", "bn"): "norm1", ("1", "conv"): "conv1", ("1", "bn"): "norm2",
                ("2", "conv"): "conv2"}.get((match[3], match[4]))
        block = f"features.denseblock{int(match[1]) - 1}.denselayer{match[2]}"
        return part and f"{block}.{part}"
    match = re.fullmatch(r"pool(\d)_(conv|bn)", name)
    if match:
        return f"features.transition{int(match[1]) - 1}.{'conv' if match[2] == 'conv' else 'norm'}"
    return None


def mobilenet_v2_module(name):
    fixed = {"Conv1": "features.0.0", "bn_Conv1": "features.0.1", "Conv_1": "features.18.0",
             "Conv_1_bn": "features.18.1", "predictions": "classifier.1",
             "expanded_conv_depthwise": "features.1.conv.0.0",
             "expanded_conv_depthwise_BN": "features.1.conv.0.1",
             "expanded_conv_project": "features.1.conv.1",
             "expanded_conv_project_BN": "features.1.conv.2"}
    if name in fixed:
        return fixed[name]
    match = re.fullmatch(r"block_(\d+)_(expand|depthwise|project)(_BN)?", name)
    if not match:
        return None
    part = {"expand": ("0.0", "0.1"), "depthwise": ("1.0", "1.1"), "project": ("2", "3")}
    return f"features.{int(match[1]) + 1}.conv.{part[match[2]][bool(match[3])]}"


# InceptionV3: our modules mixed0..mixed10 are torchvision's Mixed_5b..Mixed_7c; within a
# module, our "b{branch}_{step}[_{sub}]" layers are its branch names, per module kind.
_INCEPTION_STEM = {"conv2d_1a": "Conv2d_1a_3x3", "conv2d_2a": "Conv2d_2a_3x3",
                   "conv2d_2b": "Conv2d_2b_3x3", "conv2d_3b": "Conv2d_3b_1x1",
                   "conv2d_4a": "Conv2d_4a_3x3"}
_INCEPTION_KINDS = {
    "A": {"b0_1": "branch1x1", "b1_1": "branch5x5_1", "b1_2": "branch5x5_2",
          "b2_1": "branch3x3dbl_1", "b2_2": "branch3x3dbl_2", "b2_3": "branch3x3dbl_3",
          "b3_2": "branch_pool"},
    "B": {"b0_1": "branch3x3", "b1_1": "branch3x3dbl_1", "b1_2": "branch3x3dbl_2",
          "b1_3": "branch3x3dbl_3"},
    "C": {"b0_1": "branch1x1", "b1_1": "branch7x7_1", "b1_2_1": "branch7x7_2",
          "b1_2_2": "branch7x7_3", "b2_1": "branch7x7dbl_1", "b2_2_1": "branch7x7dbl_2",
          "b2_2_2": "branch7x7dbl_3", "b2_3_1": "branch7x7dbl_4", "b2_3_2": "branch7x7dbl_5",
          "b3_2": "branch_pool"},
    "D": {"b0_1": "branch3x3_1", "b0_2": "branch3x3_2", "b1_1": "branch7x7x3_1",
          "b1_2_1": "branch7x7x3_2", "b1_2_2": "branch7x7x3_3", "b1_3": "branch7x7x3_4"},
    "E": {"b0_1": "branch1x1", "b1_1": "branch3x3_1", "b1_2_b0_1": "branch3x3_2a",
          "b1_2_b1_1": "branch3x3_2b", "b2_1": "branch3x3dbl_1", "b2_2": "branch3x3dbl_2",
          "b2_3_b0_1": "branch3x3dbl_3a", "b2_3_b1_1": "branch3x3dbl_3b", "b3_2": "branch_pool"},
}
_INCEPTION_MODULES = tuple(zip(("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"),
                               "AAABCCCCDEE", strict=True))


def inception_v3_module(name):
    if name == "predictions":
        return "fc"
    match = re.fullmatch(r"(conv2d_\d[ab])_(conv|bn)", name)
    if match:
        stem = _INCEPTION_STEM.get(match[1])
        return stem and f"{stem}.{match[2]}"
    # Keras names the first expanded filter bank of mixed9/mixed10 "mixed9_0"/"mixed9_1"
    match = re.fullmatch(r"mixed9_([01])_(b[01]_1)_(conv|bn)", name)
    if match:
        name = f"mixed{9 + int(match[1])}_b1_2_{match[2]}_{match[3]}"
    match = re.fullmatch(r"mixed(\d+)_(b\d[_\w]*?)_(conv|bn)", name)
    if not match or int(match[1]) >= len(_INCEPTION_MODULES):
        return None
    suffix, kind = _INCEPTION_MODULES[int(match[1])]
    branch = _INCEPTION_KINDS[kind].get(match[2])
    return branch and f"Mixed_{suffix}.{branch}.{match[3]}"



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

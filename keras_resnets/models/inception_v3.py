"""InceptionV3 (Szegedy et al., 2016): parallel branches and factorized convolutions.

Layer for layer identical to keras.applications ``InceptionV3`` (same order and weight
shapes, the ``mixed*`` concatenations named as in Keras), so Keras's ImageNet files load.
The network is a table on the staged engine: the ``"inception"`` stem (``conv2d_1a`` ...
``maxpool_3a``), a stage each for the rest of the stem (``conv2d_3b``, ``conv2d_4a``,
``maxpool_5a``: plain ``"conv_bn_act"`` and ``"pool"`` kinds) and one ``"inception"``
stage per module (``mixed0`` ... ``mixed10``), whose typed options are the branches table
of :data:`MODULES`; the 7x7 branches are :class:`~keras_resnets.blocks.inception.Factorized`
pairs (1x7 + 7x1). ``InceptionV3(padding="torch")`` is torchvision's ``inception_v3``
instead (BatchNorm with gamma, average pools counting their padding), whose checkpoints
:mod:`~keras_resnets.weights.torch_import` loads.

Example::

    model = InceptionV3(input_shape=(96, 96, 3), classes=10)
    keras_resnets.count_params("inceptionv3")   # ParamCount(trainable=23817352, total=23851784)
"""

from __future__ import annotations

import dataclasses

from keras_resnets import blocks as B
from keras_resnets._checks import check_choice, check_imagenet_padding, check_options
from keras_resnets.blocks.inception import Factorized, InceptionOptions, Split
from keras_resnets.blocks.plain import ConvBNActOptions, PoolOptions
from keras_resnets.builder import build_model
from keras_resnets.engine import NetworkSpec, Stage, Stem
from keras_resnets.families import PaperErrors, register_family

__all__ = ["InceptionV3"]  # what keras_resnets exports


def _modules():
    """``(name, output channels, stride, branches)`` of the eleven modules; a branch is a
    tuple of steps as :func:`~keras_resnets.blocks.inception_block` takes them."""
    table = []
    for i, pool_filters in enumerate((32, 64, 64)):  # 35x35 modules (Figure 5)
        table.append((f"mixed{i}", 224 + pool_filters, 1, (
            ((64, 1),), ((48, 1), (64, 5)), ((64, 1), (96, 3), (96, 3)),
            ("avg", (pool_filters, 1)))))
    table.append(("mixed3", 768, 2, (
        ((384, 3, 2, "valid"),), ((64, 1), (96, 3), (96, 3, 2, "valid")), (("max", 3, 2),))))
    for i, c in enumerate((128, 160, 160, 192), 4):  # 17x17 modules (Figure 6)
        table.append((f"mixed{i}", 768, 1, (
            ((192, 1),),
            ((c, 1), Factorized(192, 7, c, "1xn")),
            ((c, 1), Factorized(c, 7, c, "nx1"), Factorized(192, 7, c, "nx1")),
            ("avg", (192, 1)))))
    table.append(("mixed8", 1280, 2, (
        ((192, 1), (320, 3, 2, "valid")),
        ((192, 1), Factorized(192, 7, 192, "1xn"), (192, 3, 2, "valid")),
        (("max", 3, 2),))))
    for i in range(2):  # 8x8 modules (Figure 7): expanded filter banks, 1x3 and 3x1
        bank = (((384, (1, 3)),), ((384, (3, 1)),))
        table.append((f"mixed{9 + i}", 2048, 1, (
            ((320, 1),),
            ((384, 1), Split(bank, f"mixed9_{i}")),
            ((448, 1), (384, 3), Split(bank)),
            ("avg", (192, 1)))))
    return tuple(table)


MODULES = _modules()
PADDINGS = ("keras", "torch")


def inception_v3_spec(padding="keras") -> NetworkSpec:
    """The spec behind :func:`InceptionV3`: stem of five convs and two max-pools ->
    eleven inception modules -> head. ``padding="torch"``: torchvision's variant (BatchNorm
    with gamma, average pools that count their zero padding)."""
    check_choice("padding", padding, PADDINGS)
    style = B.KERAS_INCEPTION_STYLE
    if padding == "torch":
        style = dataclasses.replace(style, padding="torch", bn_scale=True)
    stages = (
        Stage(1, 80, 1, kind="conv_bn_act", options=ConvBNActOptions(1, "valid"),
              name="conv2d_3b"),
        Stage(1, 192, 1, kind="conv_bn_act", options=ConvBNActOptions(3, "valid"),
              name="conv2d_4a"),
        Stage(1, None, 2, kind="pool", options=PoolOptions("max", 3), name="maxpool_5a"),
        *(Stage(1, filters, stride, kind="inception", options=InceptionOptions(branches),
                name=name) for name, filters, stride, branches in MODULES),
    )
    return NetworkSpec(name="inceptionv3", stages=stages,
                       stem=Stem("inception", (32, 32, 64), pool_name="maxpool_3a"),
                       style=style, default_input_shape=(299, 299, 3),
                       keras_weights="inceptionv3" if padding == "keras" else None)


def InceptionV3(*, padding="keras", weights=None, **kwargs):
    """InceptionV3, layer for layer as keras.applications ``InceptionV3`` (299x299
    inputs, at least 75x75).

    Takes the keras.applications arguments (``include_top``, ``weights`` (``None``,
    ``"imagenet"``, a catalogue tag or a file), ``input_tensor``, ``input_shape``,
    ``pooling``, ``classes``, ``classifier_activation``, ``name``) plus ``features_only``
    (outputs ``C2``-``C5``) and ``remat`` (gradient checkpointing of every module).
    InceptionV3 has no residual branches: ``drop_path_rate``
    other than 0 raises a ``ValueError``, as in every family without them.

    ``padding``: ``"keras"`` (keras.applications' network: BatchNorm without gamma, 'same'
    average pools that leave the padding out of the mean, as Keras's files were trained)
    or ``"torch"`` (torchvision's ``inception_v3``: BatchNorm with gamma, branch average
    pools that count their zero padding, ``avg_pool2d(x, 3, 1, 1)``), so torchvision's
    checkpoints give its logits::

        model = InceptionV3(padding="torch", weights="torchvision/imagenet1k_v1")
        x = keras_resnets.preprocess_input(images, "inceptionv3", "torchvision/imagenet1k_v1")
    """
    check_imagenet_padding("InceptionV3", padding, weights, ". torchvision's weights: "
                           "padding='torch', weights='torchvision/imagenet1k_v1'")
    return build_model(inception_v3_spec(padding), weights=weights, **kwargs)


def _from_name(match, **options):
    check_options("InceptionV3", options, ("padding",))
    return inception_v3_spec(**options)


register_family(
    "inceptionv3", r"inceptionv3", _from_name,
    ["inceptionv3"],
    "Szegedy, Vanhoucke, Ioffe, Shlens, Wojna: Rethinking the Inception Architecture for "
    "Computer Vision, CVPR 2016 (arXiv:1512.00567)",
    PaperErrors("Szegedy et al. 2016, Table 3, single crop", ("ImageNet top-1",),
                {"inceptionv3": ("21.2",)}))

"""InceptionV3 (Szegedy et al., 2016): parallel branches and factorized convolutions.

Layer for layer identical to keras.applications ``InceptionV3`` (same order and weight
shapes, the ``mixed*`` concatenations named as in Keras), so Keras's ImageNet files load.
Its modules are :func:`keras_resnets.blocks.inception_block` calls whose 7x7 branches
are :func:`keras_resnets.blocks.factorized_conv` pairs (1x7 + 7x1).

Example::

    model = InceptionV3(input_shape=(96, 96, 3), classes=10)
    keras_resnets.count_params("inceptionv3")   # ParamCount(trainable=23817352, total=23851784)
"""

from __future__ import annotations

import dataclasses
import functools

from keras_resnets import blocks as B
from keras_resnets import primitives as P
from keras_resnets.engine import LegacySpec, build_model
from keras_resnets.registry import register_family

STEM = (
    # TF-slim names; (filters, kernel, stride, padding) or max-pooling
    ("conv2d_1a", (32, 3, 2, "valid")),
    ("conv2d_2a", (32, 3, 1, "valid")),
    ("conv2d_2b", (64, 3, 1, "same")),
    ("maxpool_3a", ("max", 3, 2)),
    ("conv2d_3b", (80, 1, 1, "valid")),
    ("conv2d_4a", (192, 3, 1, "valid")),
    ("maxpool_5a", ("max", 3, 2)),
)


def _factorized(filters, mid_filters, order, style):
    return functools.partial(B.factorized_conv, filters=filters, kernel_size=7,
                             mid_filters=mid_filters, order=order, style=style)


def _expanded(filters, style, fixed_name=None):
    """InceptionV3's expanded filter bank: 1x3 and 3x1 side by side, concatenated (named
    ``fixed_name`` where Keras names it)."""
    def step(x, *, name):
        return B.inception_block(x, [[(filters, (1, 3))], [(filters, (3, 1))]],
                                 name=fixed_name or name, style=style)
    return step


def modules(style):
    """``(name, branches)`` of the eleven modules, as
    :func:`~keras_resnets.blocks.inception_block` takes them."""
    table = []
    for i, pool_filters in enumerate((32, 64, 64)):  # 35x35 modules (Figure 5)
        table.append((f"mixed{i}", [[(64, 1)], [(48, 1), (64, 5)], [(64, 1), (96, 3), (96, 3)],
                                    ["avg", (pool_filters, 1)]]))
    table.append(("mixed3", [[(384, 3, 2, "valid")], [(64, 1), (96, 3), (96, 3, 2, "valid")],
                             [("max", 3, 2)]]))
    for i, c in enumerate((128, 160, 160, 192), 4):  # 17x17 modules (Figure 6)
        table.append((f"mixed{i}", [
            [(192, 1)],
            [(c, 1), _factorized(192, c, "1xn", style)],
            [(c, 1), _factorized(c, c, "nx1", style), _factorized(192, c, "nx1", style)],
            ["avg", (192, 1)]]))
    table.append(("mixed8", [[(192, 1), (320, 3, 2, "valid")],
                             [(192, 1), _factorized(192, 192, "1xn", style),
                              (192, 3, 2, "valid")],
                             [("max", 3, 2)]]))
    for i in range(2):  # 8x8 modules (Figure 7)
        table.append((f"mixed{9 + i}", [
            [(320, 1)],
            [(384, 1), _expanded(384, style, f"mixed9_{i}")],
            [(448, 1), (384, 3), _expanded(384, style)],
            ["avg", (192, 1)]]))
    return table


@dataclasses.dataclass(frozen=True)
class InceptionV3Spec(LegacySpec):
    """Stem of five convs and two max-pools -> eleven inception modules -> head."""

    name: str = "inceptionv3"
    style: B.Style = B.KERAS_INCEPTION_STYLE
    default_input_shape: tuple = (299, 299, 3)
    default_classes: int = 1000
    keras_weights: str | None = "inceptionv3"

    def features(self, x, *, drop_path_rate=0.0):
        for name, step in STEM:
            if step[0] == "max":
                x = P.Pool("max", step[1], step[2], name=name)(x)
            else:
                filters, kernel, stride, padding = step
                x = B.conv_bn_act(x, filters, kernel, stride, padding=padding, name=name,
                                  style=self.style)
            if name == "maxpool_3a":
                outputs = {"C2": x}
        for name, branches in modules(self.style):
            x = B.inception_block(x, branches, name=name, style=self.style)
            if name in ("mixed2", "mixed7"):
                outputs[{"mixed2": "C3", "mixed7": "C4"}[name]] = x
        outputs["C5"] = x
        return outputs, x


def InceptionV3(**kwargs):
    """InceptionV3, layer for layer as keras.applications ``InceptionV3`` (299x299
    inputs, at least 75x75).

    Takes the keras.applications arguments (``include_top``, ``weights`` (``None``,
    ``"imagenet"`` or a file), ``input_tensor``, ``input_shape``, ``pooling``, ``classes``,
    ``classifier_activation``, ``name``) plus ``features_only`` (outputs ``C2``-``C5``).
    InceptionV3 has no residual connections, so ``drop_path_rate`` has no effect.
    """
    return build_model(InceptionV3Spec(), **kwargs)


register_family(
    "inceptionv3", r"inceptionv3", lambda match, **options: InceptionV3Spec(**options),
    ["inceptionv3"],
    "Szegedy, Vanhoucke, Ioffe, Shlens, Wojna: Rethinking the Inception Architecture for "
    "Computer Vision, CVPR 2016 (arXiv:1512.00567)",
    # ImageNet top-1 error (%), single crop, Szegedy et al. 2016, Table 3 (Inception-v3).
    {"inceptionv3": "21.2"})

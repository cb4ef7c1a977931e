"""Inception modules and factorized convolutions (Szegedy et al., 2015, 2016).

Example::

    y = factorized_conv(x, 192, 7, name="mixed4_b1")   # 1x7 then 7x1
"""

from __future__ import annotations

from keras_resnets import primitives as P
from keras_resnets.blocks.common import DEFAULT_STYLE, Style, conv_bn_act

KERAS_INCEPTION_STYLE = Style(bn_epsilon=1e-3, bn_momentum=0.99, bn_scale=False)
"""keras.applications InceptionV3: as Xception, and BatchNorm without a scale (gamma)."""

POOL_KINDS = ("avg", "max")
FACTORIZED_ORDERS = ("1xn", "nx1")


def factorized_conv(x, filters, kernel_size=7, *, name, style=DEFAULT_STYLE, mid_filters=None,
                    order="1xn", activation="relu"):
    """Factorized convolution (Szegedy et al., 2016, InceptionV3): a 1xn then an nx1
    convolution in place of one nxn (``order="nx1"``: nx1 first), each followed by BN
    and the activation; layers ``{name}_1_*`` and ``{name}_2_*``.

    Between ``C`` channels it costs ``2n / n**2`` of the nxn: 28.6% for n=7, 67% for n=3.
    ``mid_filters`` is the width between the two convolutions (default ``filters``).
    """
    if order not in FACTORIZED_ORDERS:
        raise ValueError(f"{name}: order must be one of {FACTORIZED_ORDERS}; got {order!r}")
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
        raise ValueError(f"{name}: kernel_size must be a positive integer n (the 1xn/nx1 "
                         f"pair replaces an nxn, e.g. 3 or 7); got {kernel_size!r}")
    n = kernel_size
    first, second = ((1, n), (n, 1)) if order == "1xn" else ((n, 1), (1, n))
    x = conv_bn_act(x, mid_filters or filters, first, name=f"{name}_1", style=style,
                    activation=activation)
    return conv_bn_act(x, filters, second, name=f"{name}_2", style=style, activation=activation)


def _inception_step(x, step, *, name, style, activation):
    if callable(step):
        return step(x, name=name)
    if isinstance(step, list):
        return inception_block(x, step, name=name, style=style, activation=activation)
    if isinstance(step, str):
        step = (step,)
    if isinstance(step, tuple) and 1 <= len(step) <= 4 and step[0] in POOL_KINDS:
        size = step[1] if len(step) > 1 else 3
        stride = step[2] if len(step) > 2 else 1
        padding = step[3] if len(step) > 3 else ("same" if stride == 1 else "valid")
        return P.Pool(step[0], size, stride, padding=padding, name=f"{name}_pool")(x)
    if (isinstance(step, tuple) and 2 <= len(step) <= 4 and isinstance(step[0], int)
            and not isinstance(step[0], bool)):
        stride = step[2] if len(step) > 2 else 1
        padding = step[3] if len(step) > 3 else "same"
        return conv_bn_act(x, step[0], step[1], stride, padding=padding, name=name, style=style,
                           activation=activation)
    raise ValueError(
        f"{name}: an inception branch step must be (filters, kernel[, stride[, padding]]), "
        "'avg'/'max' or (kind, size[, stride[, padding]]) pooling, a list of branches or a "
        f"callable f(x, name=...); got {step!r}")


def inception_block(x, branches, *, name, style=DEFAULT_STYLE, activation="relu"):
    """Inception module (Szegedy et al., 2015, 2016): parallel branches with different
    kernel sizes, concatenated along the channels.

    ``branches`` is a list of branches; a branch is a list of steps applied in turn:

    - ``(filters, kernel)``, ``(filters, kernel, stride)`` or
      ``(filters, kernel, stride, padding)``: conv -> BN -> activation, ``kernel`` an int
      or ``(rows, cols)`` such as ``(1, 7)``, padding ``"same"`` unless given;
    - ``"avg"`` or ``"max"``: 3x3 pooling, stride 1, ``"same"``; or
      ``(kind, size[, stride[, padding]])``, padding ``"valid"`` by default when strided;
    - a list of branches: a nested inception block (InceptionV3's expanded filter banks);
    - a callable ``f(x, name=...)``, e.g. ``functools.partial(factorized_conv, filters=192)``.

    Layers of branch ``i``, step ``j`` are named ``{name}_b{i}_{j}_*``; the concatenation
    is ``name``. Example (InceptionV3's first module, 35x35x192 -> 35x35x256)::

        inception_block(x, [[(64, 1)], [(48, 1), (64, 5)], [(64, 1), (96, 3), (96, 3)],
                            ["avg", (32, 1)]], name="mixed0")
    """
    if not isinstance(branches, (list, tuple)) or not branches:
        raise ValueError(f"{name}: branches must be a non-empty list of branches (lists of "
                         f"steps); got {branches!r}")
    outputs = []
    for i, branch in enumerate(branches):
        if not isinstance(branch, (list, tuple)) or not branch:
            raise ValueError(f"{name}: branch {i} must be a non-empty list of steps, e.g. "
                             f"[(48, 1), (64, 5)]; got {branch!r}")
        y = x
        for j, step in enumerate(branch, 1):
            y = _inception_step(y, step, name=f"{name}_b{i}_{j}", style=style,
                                activation=activation)
        outputs.append(y)
    return P.Concat(name=name)(outputs)

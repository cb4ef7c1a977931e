"""Inception modules and factorized convolutions (Szegedy et al., 2015, 2016).

An inception module is also a block kind of the engine (``"inception"``): its typed
options, :class:`InceptionOptions`, hold the branches table, whose steps are plain data
(tuples, :class:`Factorized`, :class:`Split`), so a network's spec describes every module.

Example::

    y = factorized_conv(x, 192, 7, name="mixed4_b1")   # 1x7 then 7x1
    options = InceptionOptions((((64, 1),), ((48, 1), (64, 5)), ("avg", (32, 1))))
"""

from __future__ import annotations

import dataclasses

from keras_resnets import _checks as C
from keras_resnets import primitives as P
from keras_resnets.blocks.common import DEFAULT_STYLE, Style, channels, conv_bn_act, spatial

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
    C.check_choice("order", order, FACTORIZED_ORDERS)
    n = C.check_positive_int("kernel_size", kernel_size, "3, 7")
    first, second = ((1, n), (n, 1)) if order == "1xn" else ((n, 1), (1, n))
    x = conv_bn_act(x, mid_filters or filters, first, name=f"{name}_1", style=style,
                    activation=activation)
    return conv_bn_act(x, filters, second, name=f"{name}_2", style=style, activation=activation)


@dataclasses.dataclass(frozen=True)
class Factorized:
    """An inception branch step: :func:`factorized_conv` (1xn then nx1, or nx1 first with
    ``order="nx1"``), ``mid_filters`` between the two (default ``filters``)."""

    filters: int
    kernel_size: int = 7
    mid_filters: int | None = None
    order: str = "1xn"

    def __post_init__(self):
        C.check_positive_int("filters", self.filters, "192")
        C.check_positive_int("kernel_size", self.kernel_size, "3, 7")
        C.check_int("mid_filters", self.mid_filters, 1, "160", allow_none=True)
        C.check_choice("order", self.order, FACTORIZED_ORDERS)


@dataclasses.dataclass(frozen=True)
class Split:
    """An inception branch step that is itself parallel branches, concatenated and named
    ``name`` (default: the step's own name); InceptionV3's expanded filter banks
    (``mixed9_0``: a 1x3 and a 3x1 side by side)."""

    branches: tuple
    name: str | None = None


def _inception_step(x, step, *, name, style, activation):
    if isinstance(step, Factorized):
        return factorized_conv(x, step.filters, step.kernel_size, name=name, style=style,
                               mid_filters=step.mid_filters, order=step.order,
                               activation=activation)
    if isinstance(step, Split):
        return inception_block(x, branches=step.branches, name=step.name or name, style=style,
                               activation=activation)
    if callable(step):
        return step(x, name=name)
    if isinstance(step, list):
        return inception_block(x, branches=step, name=name, style=style, activation=activation)
    if isinstance(step, str):
        step = (step,)
    if isinstance(step, tuple) and 1 <= len(step) <= 4 and step[0] in POOL_KINDS:
        size = step[1] if len(step) > 1 else 3
        stride = step[2] if len(step) > 2 else 1
        padding = step[3] if len(step) > 3 else ("same" if stride == 1 else "valid")
        if step[0] == "avg" and padding == "same" and stride == 1 and style.padding == "torch":
            # PyTorch's avg_pool2d(x, k, 1, k // 2) counts the zero padding (count_include_pad)
            pad = tuple((k // 2, k // 2) for k in (size if isinstance(size, (tuple, list))
                                                   else (size, size)))
            x = P.ZeroPad(pad, name=f"{name}_pad")(x)
            padding = "valid"
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


def inception_block(x, filters=None, stride=None, *, name, branches, style=DEFAULT_STYLE,
                    activation="relu"):
    """Inception module (Szegedy et al., 2015, 2016): parallel branches with different
    kernel sizes, concatenated along the channels.

    ``branches`` is a list of branches; a branch is a list of steps applied in turn:

    - ``(filters, kernel)``, ``(filters, kernel, stride)`` or
      ``(filters, kernel, stride, padding)``: conv -> BN -> activation, ``kernel`` an int
      or ``(rows, cols)`` such as ``(1, 7)``, padding ``"same"`` unless given;
    - ``"avg"`` or ``"max"``: 3x3 pooling, stride 1, ``"same"``; or
      ``(kind, size[, stride[, padding]])``, padding ``"valid"`` by default when strided
      (with ``style.padding == "torch"`` a 'same' average pool counts its zero padding, as
      PyTorch's ``avg_pool2d(x, 3, 1, 1)``: a ``{name}_pad`` layer, then a 'valid' pool);
    - :class:`Factorized`: a 1xn + nx1 pair (:func:`factorized_conv`);
    - a list of branches or a :class:`Split`: a nested inception block (InceptionV3's
      expanded filter banks);
    - a callable ``f(x, name=...)``, e.g. ``functools.partial(factorized_conv, filters=192)``.

    Branches and the steps of a branch may be lists or tuples (only a *step* that is a list
    means nested branches).

    Layers of branch ``i``, step ``j`` are named ``{name}_b{i}_{j}_*``; the concatenation
    is ``name``. The branches fix the width and the strides: ``filters`` and ``stride``,
    when given (the ``"inception"`` block kind's stage states them for the engine), are
    checked against them. Example (InceptionV3's first module, 35x35x192 -> 35x35x256)::

        inception_block(x, branches=[[(64, 1)], [(48, 1), (64, 5)],
                                     [(64, 1), (96, 3), (96, 3)], ["avg", (32, 1)]],
                        name="mixed0")
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
    y = P.Concat(name=name)(outputs)
    if filters is not None and channels(y) != filters:
        raise ValueError(f"{name}: the branches concatenate to {channels(y)} channels, but "
                         f"the stage states {filters}")
    before, after = spatial(x)[0], spatial(y)[0]
    if stride is not None and before is not None and after is not None \
            and (after < before) != (stride > 1):
        raise ValueError(f"{name}: the branches take {before} rows to {after}, but the stage "
                         f"states stride {stride}")
    return y


@dataclasses.dataclass(frozen=True)
class InceptionOptions:
    """The typed options of the ``"inception"`` block kind: the module's ``branches`` (as
    :func:`inception_block` takes them; tuples keep a spec hashable) and the activation
    after every convolution."""

    branches: tuple
    activation: str = "relu"

    def __post_init__(self):
        if not isinstance(self.branches, (list, tuple)) or not self.branches or not all(
                isinstance(branch, (list, tuple)) and branch for branch in self.branches):
            raise ValueError(f"branches must be a non-empty sequence of branches, each a "
                             f"non-empty sequence of steps (e.g. (((64, 1),), ((48, 1), "
                             f"(64, 5)))); got {self.branches!r}")
        if not isinstance(self.activation, str):
            raise ValueError(f"activation must be an activation name such as 'relu'; "
                             f"got {self.activation!r}")


"""Squeeze-and-excitation (Hu et al., 2018).

Example::

    y = squeeze_excite(x, 0.25, name="block1")   # layers block1_se_*
"""

from __future__ import annotations

from keras_resnets import primitives as P
from keras_resnets.blocks.common import channels


def squeeze_excite(x, se_ratio, *, name):
    """Squeeze-and-excitation (Hu et al., 2018): channel weights from global context."""
    c = channels(x)
    s = P.GlobalPool("avg", keepdims=True, name=f"{name}_se_pool")(x)
    s = P.Conv(max(1, int(c * se_ratio)), 1, activation="relu", use_bias=True,
               name=f"{name}_se_reduce")(s)
    s = P.Conv(c, 1, activation="sigmoid", use_bias=True, name=f"{name}_se_expand")(s)
    return P.Multiply(name=f"{name}_se_scale")([x, s])

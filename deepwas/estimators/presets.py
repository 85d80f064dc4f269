"""Presets of :class:`FunctionalPrior` with a different default ``model``.

Each preset has exactly FunctionalPrior's parameters (scikit-learn reads them from the
constructor signature, so ``clone``, ``get_params`` and ``GridSearchCV(param_grid={"model":
[...]})`` work on presets too); only the default of ``model`` differs.
"""
from __future__ import annotations

import types

from ._base import FunctionalPrior

__all__ = ["ConstantPrior", "GLMPrior", "TransformerPrior"]


def _init_with_default_model(model):
    base = FunctionalPrior.__init__
    init = types.FunctionType(base.__code__, base.__globals__, "__init__",
                              (model,) + base.__defaults__[1:], base.__closure__)
    init.__kwdefaults__ = dict(base.__kwdefaults__)
    init.__doc__ = base.__doc__
    init.__qualname__ = "__init__"
    return init


class ConstantPrior(FunctionalPrior):
    """:class:`FunctionalPrior` with ``model="constant"``: ``f = c (p(1-p))^alpha``.

    One learned number (plus alpha when ``learn_alpha``); ``sum f`` over the variants is the
    heritability they carry. See :class:`FunctionalPrior` for the parameters.
    """

    __init__ = _init_with_default_model("constant")


class GLMPrior(FunctionalPrior):
    """:class:`FunctionalPrior` with ``model="glm"`` (paper App. A.2).

    ``log f = alpha log(p(1-p)) + intercept + w_func . mean(C_func) + w_pred . C_pred``.
    See :class:`FunctionalPrior` for the parameters.
    """

    __init__ = _init_with_default_model("glm")


class TransformerPrior(FunctionalPrior):
    """:class:`FunctionalPrior` with ``model="transformer"`` (Enformer-style network).

    The default size is "small" (CPU-friendly); ``model_params={"size": "paper"}`` gives the
    paper's network (dim 1536, 2 layers, 256 -> 32 positions). See :class:`FunctionalPrior`.
    """

    __init__ = _init_with_default_model("transformer")

"""Presets of :class:`FunctionalPrior` with a different default ``model``.

Each preset has exactly FunctionalPrior's parameters (scikit-learn reads them from the
constructor signature, so ``clone``, ``get_params`` and ``GridSearchCV(param_grid={"model":
[...]})`` work on presets too); only the default of ``model`` differs.

Each preset's ``__init__`` is an ordinary function that passes its arguments on to
``FunctionalPrior.__init__``; its public signature (``__signature__``, which
:func:`inspect.signature` and so scikit-learn read) is FunctionalPrior's, read with
:func:`inspect.signature` (which follows decorators' ``__wrapped__``), with the one default
replaced. Writing the 25 parameters out three more times would make four copies to keep in
step; this keeps one.
"""
from __future__ import annotations

import functools
import inspect

from ._base import FunctionalPrior

__all__ = ["ConstantPrior", "GLMPrior", "TransformerPrior"]


def _preset_init(model):
    base = inspect.signature(FunctionalPrior.__init__)
    params = [p.replace(default=model) if p.name == "model" else p
              for p in base.parameters.values()]
    signature = base.replace(parameters=params)

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.pop("self")
        FunctionalPrior.__init__(self, **arguments)

    functools.update_wrapper(__init__, FunctionalPrior.__init__, assigned=("__doc__",),
                             updated=())
    __init__.__signature__ = signature
    return __init__


class ConstantPrior(FunctionalPrior):
    """:class:`FunctionalPrior` with ``model="constant"``: ``f = c (p(1-p))^alpha``.

    One learned number (plus alpha when ``learn_alpha``); ``sum f`` over the variants is the
    heritability they carry. See :class:`FunctionalPrior` for the parameters.
    """

    __init__ = _preset_init("constant")


class GLMPrior(FunctionalPrior):
    """:class:`FunctionalPrior` with ``model="glm"`` (paper App. A.2).

    ``log f = alpha log(p(1-p)) + intercept + w_func . mean(C_func) + w_pred . C_pred``.
    See :class:`FunctionalPrior` for the parameters.
    """

    __init__ = _preset_init("glm")


class TransformerPrior(FunctionalPrior):
    """:class:`FunctionalPrior` with ``model="transformer"`` (Enformer-style network).

    The default size is "tiny" (CPU-friendly); ``model_params={"size": "paper"}`` gives the
    paper's network (dim 1536, 2 layers, 256 -> 32 positions). See :class:`FunctionalPrior`.
    """

    __init__ = _preset_init("transformer")

"""Torch prior modules mapping variant features to log prior variances (no LD here).

* :class:`PriorModule` -- ``log f = alpha log(p(1-p)) + bound(network(features))``;
* networks: :class:`ConstantNet`, :class:`GLMNet`, :class:`TransformerNet`;
* :class:`ResidualNet` -- a flexible network added to a linear one (the default transformer);
* :func:`build_prior` -- a :class:`PriorModule` from a model name and feature sizes.
"""
from .base import PriorModule, soft_clamp, count_parameters
from .constant import ConstantNet
from .glm import GLMNet, LINKS
from .residual import ResidualNet
from .transformer import DEFAULT_SIZE, TransformerNet, TRANSFORMER_PRESETS

__all__ = ["DEFAULT_SIZE", "PriorModule", "ConstantNet", "GLMNet", "TransformerNet", "ResidualNet",
           "TRANSFORMER_PRESETS",
           "LINKS", "build_network", "build_prior", "count_parameters", "soft_clamp", "NETWORKS",
           "transformer_size"]

NETWORKS = {"constant": ConstantNet, "glm": GLMNet, "transformer": TransformerNet}


def build_network(model, d_func=0, width=0, d_pred=0, **params):
    """A network by name.

    Parameters
    ----------
    model : {"constant", "glm", "transformer"}
    d_func, width, d_pred : int
        Feature sizes.
    **params
        Passed to the network's constructor. For the transformer, ``size`` names a preset of
        :data:`TRANSFORMER_PRESETS` ("tiny", "small", "paper"; default :data:`DEFAULT_SIZE`)
        whose values explicit keywords override; other models ignore ``size`` (so one
        ``model_params`` can serve a grid search over models). ``residual`` (default True) makes the
        transformer a :class:`ResidualNet`: a GLM plus the transformer, whose output starts
        at 0 (``residual=False``: the transformer alone).
    """
    if model not in NETWORKS:
        raise ValueError(f"unknown model {model!r}; expected one of {sorted(NETWORKS)}")
    if model == "transformer":
        size = transformer_size(params)
        params.pop("size", None)
        residual = params.pop("residual", True)
        if size not in TRANSFORMER_PRESETS:
            raise ValueError(f"unknown transformer size {size!r}; "
                             f"expected one of {sorted(TRANSFORMER_PRESETS)}")
        params = {**TRANSFORMER_PRESETS[size], **params}
        if residual:
            return ResidualNet(GLMNet(d_func, width, d_pred),
                               TransformerNet(d_func=d_func, width=width, d_pred=d_pred, **params))
    else:
        params.pop("size", None)
        params.pop("residual", None)
    return NETWORKS[model](d_func=d_func, width=width, d_pred=d_pred, **params)


def transformer_size(model_params):
    """The :data:`TRANSFORMER_PRESETS` size a transformer built with ``model_params`` starts
    from (explicit ``dim``, ``depth``... keywords override its values)."""
    return (model_params or {}).get("size", DEFAULT_SIZE)


def build_prior(model, d_func=0, width=0, d_pred=0, *, alpha=0.7, learn_alpha=False,
                log_f_bounds=(-30.0, 0.0), **params):
    """A :class:`PriorModule` around :func:`build_network` (``model`` may also be an nn.Module).

    A network with ``link="identity"`` (S-LDSC's linear model) gets ``alpha = 0``: f has no
    frequency term.
    """
    import torch.nn as nn
    net = (model if isinstance(model, nn.Module)
           else build_network(model, d_func, width, d_pred, **params))
    if getattr(net, "link", "exp") == "identity":
        # S-LDSC's linear model: f = sum_c tau_c a_c, no frequency term
        if learn_alpha:
            raise ValueError("the identity link has no frequency term: learn_alpha must be False")
        alpha = 0.0
    return PriorModule(net, alpha=alpha, learn_alpha=learn_alpha, log_f_bounds=log_f_bounds,
                       d_func=d_func, width=width, d_pred=d_pred)

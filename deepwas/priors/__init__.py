"""Torch prior modules mapping variant features to log prior variances (no LD here).

* :class:`PriorModule` -- ``log f = alpha log(p(1-p)) + bound(network(features))``;
* networks: :class:`ConstantNet`, :class:`GLMNet`, :class:`TransformerNet`;
* :class:`ResidualNet` -- a flexible network added to a linear one (the default transformer);
* :class:`MemberMean` -- the mean of several flexible networks (a residual transformer with
  ``members`` > 1);
* :func:`build_prior` -- a :class:`PriorModule` from a model name and feature sizes.
"""
from .base import PriorModule, soft_clamp, count_parameters
from .constant import ConstantNet
from .glm import GLMNet, LINKS
from .ensemble import MemberMean
from .residual import ResidualNet
from .transformer import DEFAULT_SIZE, TransformerNet, TRANSFORMER_PRESETS

__all__ = ["DEFAULT_SIZE", "PriorModule", "ConstantNet", "GLMNet", "TransformerNet", "ResidualNet",
           "MemberMean",
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
        at 0 (``residual=False``: the transformer alone). ``members`` (default 1): with more,
        the flexible part is a :class:`MemberMean` of that many transformers, each from its
        own initialisation (residual transformers only).
    """
    if model not in NETWORKS:
        raise ValueError(f"unknown model {model!r}; expected one of {sorted(NETWORKS)}")
    if model == "transformer":
        size = transformer_size(params)
        params.pop("size", None)
        residual = params.pop("residual", True)
        members = _members(params.pop("members", 1), residual)
        if size not in TRANSFORMER_PRESETS:
            raise ValueError(f"unknown transformer size {size!r}; "
                             f"expected one of {sorted(TRANSFORMER_PRESETS)}")
        params = {**TRANSFORMER_PRESETS[size], **params}
        if residual:
            linear = GLMNet(d_func, width, d_pred)
            # built in order from the generator: member 0 starts where a one-member prior does
            nets = [TransformerNet(d_func=d_func, width=width, d_pred=d_pred, **params)
                    for _ in range(members)]
            return ResidualNet(linear, nets[0] if members == 1 else MemberMean(nets))
    else:
        for key in ("size", "residual", "members"):
            params.pop(key, None)
    return NETWORKS[model](d_func=d_func, width=width, d_pred=d_pred, **params)


def _members(members, residual):
    """``members`` of ``model_params``, checked: an integer >= 1; more than 1 only for a
    residual transformer (whose members the estimator trains one by one and keeps by their
    validation gain)."""
    try:
        ok = not isinstance(members, bool) and float(members).is_integer() and int(members) >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"members must be an integer >= 1, got {members!r}")
    if int(members) > 1 and not residual:
        raise ValueError("members > 1 needs the residual transformer (residual=True): the "
                         "members are trained one by one on top of its GLM part")
    return int(members)


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

"""The generalised linear prior of the paper (App. A.2), with a choice of link."""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["GLMNet", "LINKS", "log_link", "inverse_log_link"]

#: links of the linear predictor ``eta`` to the prior variance ``f``
LINKS = ("exp", "softplus", "identity")

#: below this the identity and softplus links are evaluated through their asymptote (log f
#: = eta for softplus) or clipped (identity): the prior's soft bound sits at log f = -30 anyway
_LOG_FLOOR = -30.0


def log_link(eta, link):
    """``log f`` for a linear predictor ``eta`` under ``link``.

    * ``"exp"``: ``eta`` (``f = exp(eta)``, the paper's GLM);
    * ``"softplus"``: ``log softplus(eta)`` (graphREML), computed as ``eta`` below -30 where
      ``softplus(eta) = exp(eta)`` to float precision;
    * ``"identity"``: ``log max(eta, exp(-30))`` (S-LDSC's linear model). A prior variance
      cannot be negative in the likelihood, so a negative ``eta`` is clipped to ``e^-30``
      (~1e-13, zero to every practical purpose) and its gradient is 0 there; S-LDSC lets the
      per-SNP heritability go negative, this model does not.
    """
    if link == "exp":
        return eta
    if link == "softplus":
        safe = eta.clamp_min(_LOG_FLOOR)
        return torch.where(eta < _LOG_FLOOR, eta, torch.log(F.softplus(safe)))
    if link == "identity":
        return torch.log(eta.clamp_min(math.exp(_LOG_FLOOR)))
    raise ValueError(f"unknown link {link!r}; expected one of {LINKS}")


def inverse_log_link(log_f, link):
    """The ``eta`` with ``log_link(eta, link) == log_f`` (a float; ``log_f > -30``)."""
    log_f = float(log_f)
    if link == "exp":
        return log_f
    if link == "softplus":
        f = math.exp(log_f)
        return f + math.log(-math.expm1(-f))      # log(expm1(f)), stable for small and large f
    if link == "identity":
        return math.exp(log_f)
    raise ValueError(f"unknown link {link!r}; expected one of {LINKS}")


class GLMNet(nn.Module):
    """``eta = intercept + w_func @ mean_positions(C_func) + w_pred @ C_pred``, ``f = link(eta)``.

    Each track is averaged over the ``avg_width`` positions at the centre of the window
    (all ``width`` positions by default), giving one value per track; the average and the
    scalar predictors enter linearly. Weights start at zero, so an untrained GLM is the
    constant prior.

    Parameters
    ----------
    d_func, width, d_pred : int
        Feature sizes (0 when absent).
    avg_width : int, optional
        Number of central positions averaged (default: all).
    link : {"exp", "softplus", "identity"}, default="exp"
        How the linear predictor gives the prior variance (:func:`log_link`): ``exp`` (the
        paper), ``softplus`` (graphREML) or ``identity`` (S-LDSC: ``f = sum_c tau_c a_c``).
        With ``identity`` the prior uses no frequency term (alpha = 0) and does not
        standardise the features, so the weights are S-LDSC's coefficients tau (per-SNP
        heritability per unit of annotation) and the intercept is the coefficient of the
        all-ones ``base`` annotation; negative ``f`` is clipped to ~1e-13 (see
        :func:`log_link`).
    """

    def __init__(self, d_func=0, width=0, d_pred=0, avg_width=None, link="exp"):
        super().__init__()
        if link not in LINKS:
            raise ValueError(f"unknown link {link!r}; expected one of {LINKS}")
        self.d_func, self.width, self.d_pred = int(d_func), int(width), int(d_pred)
        self.avg_width = None if avg_width is None else int(avg_width)
        self.link = link
        self.func_weight = nn.Parameter(torch.zeros(self.d_func))
        self.pred_weight = nn.Parameter(torch.zeros(self.d_pred))
        self.intercept = nn.Parameter(torch.zeros(()))
        if link == "identity":
            # eta = unit * (intercept + weights . features): the parameters stay of order 1
            # while f is of order h2 / M (~1e-7), which keeps L-BFGS's gradient tolerance
            # meaningful; set by set_log_f, the coefficients are ``coefficients()``
            self.register_buffer("unit", torch.ones(()))

    @torch.no_grad()
    def set_log_f(self, log_f):
        """Set the intercept so that a GLM with zero weights has ``log f = log_f``."""
        if self.link == "identity":
            self.unit.fill_(math.exp(float(log_f)))
            self.intercept.fill_(1.0)
        else:
            self.intercept.fill_(inverse_log_link(log_f, self.link))

    def coefficients(self):
        """``(intercept, func_weight, pred_weight)`` as float64 numpy arrays on the scale of the
        linear predictor: with the identity link, S-LDSC's tau (the intercept is the ``base``
        annotation's)."""
        unit = float(self.unit) if self.link == "identity" else 1.0
        return tuple(p.detach().cpu().double().numpy() * unit
                     for p in (self.intercept, self.func_weight, self.pred_weight))

    def track_means(self, func):
        w = func.shape[-1]
        if self.avg_width is not None and self.avg_width < w:
            start = (w - self.avg_width) // 2
            func = func[..., start:start + self.avg_width]
        return func.mean(-1)

    def forward(self, func=None, pred=None, n=None):
        """The linear predictor ``eta``, shape (n,)."""
        out = None
        if self.d_func and func is not None:
            out = self.track_means(func) @ self.func_weight
        if self.d_pred and pred is not None:
            t = pred @ self.pred_weight
            out = t if out is None else out + t
        if out is None:
            if n is None:
                raise ValueError("GLMNet got no features and no n")
            out = self.intercept.expand(int(n))
        else:
            out = out + self.intercept
        return out * self.unit if self.link == "identity" else out

    def extra_repr(self):
        return f"link={self.link!r}"

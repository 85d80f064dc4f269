"""The prior wrapper shared by all networks: features -> log f.

A *network* maps standardised features to one raw number per variant; :class:`PriorModule`
turns that into the log prior variance

    log f_m = alpha * log(p_m (1 - p_m)) + bound(network(C_func,m, C_pred,m))

with ``p_m`` the allele frequency, ``alpha`` fixed (0.7) or learnable, and ``bound`` a smooth
clamp to ``log_f_bounds`` that is the identity well inside the interval (so the exponent can
neither overflow nor underflow ``f`` to 0, and gradients never vanish abruptly). Nothing here
knows about LD or windows.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .glm import log_link

__all__ = ["PriorModule", "soft_clamp", "inverse_soft_clamp", "count_parameters", "FREQ_EPS"]

#: allele frequencies are clipped to [FREQ_EPS, 1 - FREQ_EPS] before log(p(1-p)).
FREQ_EPS = 1e-4


def soft_clamp(x, lo, hi):
    """Smooth clamp: ``lo + softplus(x - lo) - softplus(x - hi)``.

    Increasing, strictly inside ``(lo, hi)``, and equal to ``x`` to within
    ``exp(-(x-lo)) + exp(-(hi-x))`` well inside the interval; it saturates smoothly outside.
    The gradient ``sigmoid(x-lo) - sigmoid(x-hi)`` is never exactly zero.
    """
    return lo + F.softplus(x - lo) - F.softplus(x - hi)


def inverse_soft_clamp(y, lo, hi, iters=60):
    """The ``x`` with ``soft_clamp(x, lo, hi) == y`` for ``lo < y < hi`` (float64 Newton)."""
    if not lo < y < hi:
        raise ValueError(f"soft_clamp takes values in ({lo}, {hi}), got {y}")
    t = torch.tensor(float(y), dtype=torch.float64)
    x = t.clone()
    for _ in range(iters):
        step = (soft_clamp(x, lo, hi) - t) / (torch.sigmoid(x - lo) - torch.sigmoid(x - hi))
        x = x - step
        if abs(float(step)) < 1e-15 * max(1.0, abs(float(x))):
            break
    return float(x)


def count_parameters(module, trainable_only=True):
    """Number of (trainable) scalar parameters of a torch module."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only))


class PriorModule(nn.Module):
    """Features -> log prior effect variance, ``log f``.

    Parameters
    ----------
    network : nn.Module
        Called as ``network(func, pred)`` with ``func`` of shape (n, d_func, width) or None and
        ``pred`` of shape (n, d_pred) or None (both already standardised); returns shape (n,).
        It must expose a scalar parameter ``intercept`` added to its output.
    alpha : float, default=0.7
        Exponent of the frequency term ``(p(1-p))**alpha``.
    learn_alpha : bool, default=False
        Make ``alpha`` a trainable parameter.
    log_f_bounds : tuple of float, default=(-30.0, 0.0)
        Soft bounds of the network's exponent (``f <= 1``: the variance of a standardised
        effect can never exceed the phenotype's; ``exp(-30) ~ 1e-13`` keeps float32 away from 0).
    d_func, width, d_pred : int
        Feature sizes; fix the shapes of the standardisation buffers.

    Notes
    -----
    The standardisation (``func_mean``, ``func_scale``, ``pred_mean``, ``pred_scale``) lives in
    buffers so a saved module is self-contained; they are set by the estimator from training
    windows only (:meth:`set_standardisation`). So are ``func_keep`` and ``pred_keep``, the
    features the network sees (:meth:`set_feature_mask`: the estimator drops constant and,
    for the GLM, collinear ones before its fit).
    """

    def __init__(self, network, *, alpha=0.7, learn_alpha=False, log_f_bounds=(-30.0, 0.0),
                 d_func=0, width=0, d_pred=0):
        super().__init__()
        self.network = network
        lo, hi = (float(b) for b in log_f_bounds)
        if not lo < hi:
            raise ValueError(f"log_f_bounds must be increasing, got {log_f_bounds}")
        self.lo, self.hi = lo, hi
        if learn_alpha:
            self.alpha = nn.Parameter(torch.tensor(float(alpha)))
        else:
            self.register_buffer("alpha", torch.tensor(float(alpha)))
        self.d_func, self.width, self.d_pred = int(d_func), int(width), int(d_pred)
        self.register_buffer("func_mean", torch.zeros(self.d_func))
        self.register_buffer("func_scale", torch.ones(self.d_func))
        self.register_buffer("pred_mean", torch.zeros(self.d_pred))
        self.register_buffer("pred_scale", torch.ones(self.d_pred))
        # 1 for a feature the network sees, 0 for one dropped before the fit (constant or
        # collinear: set_feature_mask); a dropped feature enters as 0
        self.register_buffer("func_keep", torch.ones(self.d_func))
        self.register_buffer("pred_keep", torch.ones(self.d_pred))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # models saved before feature masks existed: every feature kept
        for name in ("func_keep", "pred_keep"):
            state_dict.setdefault(prefix + name, torch.ones_like(getattr(self, name)))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def link(self):
        """The network's link (``"exp"`` unless it has a ``link`` attribute; :mod:`.glm`)."""
        return getattr(self.network, "link", "exp")

    @torch.no_grad()
    def set_standardisation(self, func_mean=None, func_scale=None, pred_mean=None, pred_scale=None):
        """Store per-track / per-predictor mean and scale (zero scales are replaced by 1).

        A network with the identity link keeps its features as they are (mean 0, scale 1), so
        its weights are per-unit-of-feature coefficients (S-LDSC's tau).
        """
        if self.link == "identity":
            return
        for name, val in (("func_mean", func_mean), ("func_scale", func_scale),
                          ("pred_mean", pred_mean), ("pred_scale", pred_scale)):
            if val is None:
                continue
            buf = getattr(self, name)
            t = torch.as_tensor(val, dtype=buf.dtype).reshape(buf.shape)
            if name.endswith("scale"):
                t = torch.where(t > 0, t, torch.ones_like(t))
            buf.copy_(t)

    @torch.no_grad()
    def set_feature_mask(self, func_keep=None, pred_keep=None):
        """Which tracks / predictors the network sees (bool or 0/1 arrays); the others enter
        as 0, so a linear network's weight on them has no gradient and stays 0."""
        for name, val in (("func_keep", func_keep), ("pred_keep", pred_keep)):
            if val is not None:
                buf = getattr(self, name)
                buf.copy_(torch.as_tensor(val, dtype=buf.dtype).reshape(buf.shape))

    @torch.no_grad()
    def set_intercept(self, value):
        """Set the network's intercept (initialisation at a chosen scale of f)."""
        self.network.intercept.fill_(float(value))

    @torch.no_grad()
    def set_log_scale(self, value):
        """Set the intercept so that a network whose other terms are 0 gives exactly ``value``
        after the soft bound (the bound's curvature would otherwise shift a value near it)."""
        x = inverse_soft_clamp(float(value), self.lo, self.hi)
        if hasattr(self.network, "set_log_f"):       # networks with a link (GLMNet)
            self.network.set_log_f(x)
        else:
            self.set_intercept(x)

    def log_freq_term(self, freq):
        """``log(p(1-p))`` with ``p`` clipped to ``[FREQ_EPS, 1-FREQ_EPS]``; 0 when freq is None."""
        if freq is None:
            return None
        p = freq.clamp(FREQ_EPS, 1.0 - FREQ_EPS)
        return torch.log(p) + torch.log1p(-p)

    def standardise(self, func, pred):
        dtype = self.func_mean.dtype
        if func is not None and self.d_func:
            func = (func.to(dtype) - self.func_mean[None, :, None]) / self.func_scale[None, :, None]
            func = func * self.func_keep[None, :, None]
        if pred is not None and self.d_pred:
            pred = (pred.to(dtype) - self.pred_mean) / self.pred_scale * self.pred_keep
        return func, pred

    def network_output(self, func, pred, n=None):
        """The network's output on the log f scale (link applied), before the soft bound."""
        func, pred = self.standardise(func, pred)
        out = self.network(func, pred) if n is None else self.network(func, pred, n=n)
        if self.link != "exp":
            out = log_link(out, self.link)
        return out

    def exponent(self, func, pred, n=None):
        """Bounded network output (the log f before the frequency term), shape (n,)."""
        return soft_clamp(self.network_output(func, pred, n), self.lo, self.hi)

    def forward(self, func=None, pred=None, freq=None, n=None):
        """log f, shape (n,). ``n`` is needed only when there are no features at all."""
        if n is None:
            for a in (func, pred, freq):
                if a is not None:
                    n = a.shape[0]
                    break
        e = self.exponent(func, pred, n=n)
        lpq = self.log_freq_term(freq)
        if lpq is not None:
            e = e + self.alpha.to(e.dtype) * lpq.to(e.dtype)
        return e

    def extra_repr(self):
        return (f"log_f_bounds=({self.lo}, {self.hi}), d_func={self.d_func}, width={self.width}, "
                f"d_pred={self.d_pred}")

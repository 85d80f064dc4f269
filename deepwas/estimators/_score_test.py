"""What the score test (:mod:`deepwas.score_test`) needs from a fitted estimator: its ``f``,
the likelihood settings of its fit and the log-link directions of its own parameters."""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch.func import functional_call, jacfwd

from ..fitting._features import FEATURE_CHUNK, features_to_tensors, freq_array

__all__ = ["nuisance_directions", "NUISANCE_CHOICES"]

NUISANCE_CHOICES = ("auto", "all", "intercept", "none")


def _nuisance_names(est, prior, nuisance):
    if nuisance not in NUISANCE_CHOICES:
        raise ValueError(f"nuisance must be one of {NUISANCE_CHOICES}, got {nuisance!r}")
    if nuisance == "auto":
        # a linear prior's parameters are few and all fitted; a neural prior's are too many
        # for the per-block regression (and its scores nearly collinear), so its overall scale
        nuisance = "all" if est._model_name() in ("constant", "glm") else "intercept"
    if nuisance == "none":
        return []
    if nuisance == "intercept":
        # by identity: a residual transformer's intercept is its GLM part's
        target = prior.network.intercept
        return [n for n, p in prior.named_parameters() if p is target]
    return [n for n, _ in prior.named_parameters()]


def nuisance_directions(est, stats, nuisance="auto"):
    """``d log f_m / d theta_j`` of the fitted prior's parameters at the fit, for every row of
    ``stats.variants``: ``(D, names)``, ``D`` of shape (n_variants, P), float64.

    ``nuisance``: "all" (every parameter), "intercept" (the network's intercept:
    the overall scale of ``f``), "none", or "auto" ("all" for the constant and GLM priors,
    "intercept" for neural ones).
    """
    prior = copy.deepcopy(est.prior_).double().eval()
    names = _nuisance_names(est, prior, nuisance)
    if not names:
        return np.zeros((stats.n_variants, 0)), []
    params = dict(prior.named_parameters())
    shapes = [params[n].shape for n in names]
    sizes = [int(np.prod(s)) for s in shapes]
    theta = torch.cat([params[n].detach().reshape(-1) for n in names])
    col_names = [n if k == 1 else f"{n}[{i}]" for n, k in zip(names, sizes) for i in range(k)]
    dims = (est.n_func_, est.width_, est.n_pred_)
    freq = freq_array(stats.variants["freq"].to_numpy(), stats.n_variants, "score_test")
    n = stats.n_variants
    out = np.empty((n, theta.numel()))
    chunk = 1024 if dims[0] else FEATURE_CHUNK
    for lo in range(0, n, chunk):
        idx = np.arange(lo, min(n, lo + chunk))
        feats = stats.get_features(idx) if (dims[0] or dims[2]) else None
        func, pred = features_to_tensors(feats, dims, "cpu")
        fq = None if freq is None else torch.as_tensor(freq[idx], dtype=torch.float64)

        def log_f(x, func=func, pred=pred, fq=fq, m=len(idx)):
            parts = torch.split(x, sizes)
            sub = {nm: p.reshape(s) for nm, p, s in zip(names, parts, shapes)}
            return functional_call(prior, sub, (func, pred, fq), {"n": m})

        with torch.no_grad():
            out[idx] = jacfwd(log_f)(theta).numpy()
    return out, col_names

"""Posterior mean effects ``E[beta | beta_hat]`` under a fitted prior, from the window factors.

Window ``k`` with factors ``G`` (m x r) and ``y`` (r) (:mod:`deepwas.windows`) sees
``y ~ N(G^T beta_E, s I_r)`` with ``beta_E ~ N(0, F)``, ``F = diag(f)``, ``s = sigma^2 / N``
(with the LD mismatch model, after the whitening of :func:`deepwas.likelihood.whitened`).
The posterior mean of the extended set's effects is, in Woodbury form::

    E[beta_E | y] = F G (G^T F G + s I_r)^{-1} y

an r x r Cholesky and two m x r products: no m x m matrix. It equals the dense
``F R_EI (R_IE F R_EI + s R_II)^+ beta_hat_I``. Each variant takes its value from the window
where it is core (the windows' cores partition the variants); a variant that is core in no
window gets NaN. Windows on a sparse precision block use ``F (F + s S)^-1 u`` instead
(:func:`deepwas.solvers.sparse.sparse_posterior_mean`).
"""
from __future__ import annotations

import numpy as np
import torch

from .likelihood import whitened
from .solvers.sparse import sparse_posterior_mean

__all__ = ["posterior_mean"]


def posterior_mean(stats, f, sigma2=None, mismatch=0.0):
    """Posterior mean of the standardised effects of ``stats.variants``.

    Parameters
    ----------
    stats : SummaryStats
    f : array-like, shape (stats.n_variants,)
        Prior variances (``est.predict_f(stats)``).
    sigma2 : float, optional
        Residual variance (default ``stats.sigma2``).
    mismatch : float, default=0.0
        LD mismatch variance ``kappa`` (windows built with ``ld_regularisation="mismatch"``).

    Returns
    -------
    ndarray, shape (stats.n_variants,)
        float64, per standardised genotype (multiply by ``1 / sqrt(2 p (1 - p))`` for effects
        per allele copy).
    """
    f = np.asarray(f, dtype=np.float64)
    if f.shape != (stats.n_variants,):
        raise ValueError(f"f must have shape ({stats.n_variants},), got {f.shape}")
    if np.any(f < 0) or not np.all(np.isfinite(f)):
        raise ValueError("f must be finite and non-negative")
    s = (stats.sigma2 if sigma2 is None else float(sigma2)) / float(stats.n)
    out = np.full(stats.n_variants, np.nan)
    for k, (core, ext) in enumerate(stats.windows):
        wt = stats.window_tensors(k, device="cpu", dtype=torch.float64)
        at = np.searchsorted(ext, core)
        if getattr(wt, "precision", False):
            out[core] = sparse_posterior_mean(wt.ldlt, wt.W, wt.u, f[ext], s)[at]
            continue
        G, y = whitened(wt, mismatch)
        fe = torch.as_tensor(f[ext])
        FG = fe[:, None] * G
        C = G.T @ FG
        C.diagonal().add_(s)
        L = torch.linalg.cholesky(C)
        mean = FG @ torch.cholesky_solve(y[:, None], L)[:, 0]
        out[core] = mean.numpy()[at]
    return out

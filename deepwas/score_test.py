"""Score test of new annotations on a fitted prior, from one gradient pass over the windows.

A candidate annotation ``a`` enters the fitted prior's log-link with a coefficient ``tau_a``::

    f_m(tau_a) = f_m exp(tau_a a_m)

(for a GLM with the exp link, a new column; for any other prior, a multiplicative term on
its ``f``). The score of ``tau_a`` at 0 is

    U_a = d loglik / d tau_a = sum_m a_m f_m g_m,     g_m = d loglik / d f_m

with ``loglik`` the exact marginal likelihood summed over windows and ``g_m`` summed over
the windows whose extended set holds ``m``. The per-variant gradient ``f_m g_w,m`` of each
window ``w`` is computed once (autograd through :func:`deepwas.likelihood.window_gain`) and
multiplied into all candidates at once, so 1,000 candidates cost one gradient pass plus a
(variants x candidates) product.

**Nuisance parameters.** The prior's own parameters ``theta`` were fitted; the test must be
conditional on them (a candidate correlated with a model feature would otherwise look
enriched through the feature). Their scores are the same sums with ``a`` replaced by the
directions ``d log f_m / d theta_j`` (for a GLM with the exp link: the standardised features
and the all-ones intercept column; for a neural prior: at least the intercept, the overall
scale of ``f``). The efficient score is ``U_a - B U_theta`` with ``B`` the regression of the
candidate's per-block scores on the nuisance per-block scores across jackknife blocks::

    B = (sum_k u_theta,k u_theta,k^T)^-1 sum_k u_theta,k u_a,k^T

the outer-product (OPG) estimate of ``I_theta,theta^-1 I_theta,a``: the per-block scores are
sums of nearly independent terms whose cross-products estimate the information, so the
projection needs no second derivatives (out of reach for a neural prior) and is the same
code for every prior. ``U_theta`` is close to 0 at the fit, and ``- B U_theta`` corrects for
what is not (a ridge penalty or a stopped fit): it is the score at the nuisance moved one
Newton step (OPG curvature) towards its unpenalised optimum.

**Variance.** Block jackknife over the blocks of :func:`deepwas.jackknife.plan_blocks` (the
blocks of ``partitioned_h2``): with ``r_k = u_a,k - B u_theta,k`` and ``T = sum_k r_k``, the
leave-one-block-out totals are ``T - r_k`` and the jackknife variance is
``(n - 1) / n sum_k (r_k - mean r)^2``, times ``n / (n - P)`` for the ``P`` nuisance
directions the residuals were fitted on (as a regression's residual variance is divided by
its residual degrees of freedom). ``z = T / SE`` is referred to a t distribution with
``n - P - 1`` degrees of freedom (two-sided; N(0, 1) for S-LDSC's 200 blocks), as
``partitioned_h2``'s ``Enrichment_p`` is to one with ``n``: with few blocks (one per LD
region) the jackknife variance is itself noisy.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import stats as sps

from .likelihood import window_gain

__all__ = ["variant_gradient", "block_scores", "efficient_scores", "score_table",
           "SCORE_COLUMNS", "MIN_VARIANTS"]

#: columns of :func:`score_table`
SCORE_COLUMNS = ["Category", "n_variants", "score", "score_std_error", "z", "p", "direction",
                 "status"]

#: candidates covering fewer variants (non-zero values) are not tested
MIN_VARIANTS = 200


def _window_gradients(stats, f, sigma2, mismatch):
    """``(k, ext, d gain_k / d f_ext)`` of each window, float64 numpy."""
    f = torch.as_tensor(np.asarray(f, dtype=np.float64))
    for k, (_, ext) in enumerate(stats.windows):
        if k + 1 < len(stats) and hasattr(stats, "prefetch"):
            stats.prefetch(k + 1)
        fe = f[torch.as_tensor(ext)].clone().requires_grad_(True)
        gain = window_gain(stats, k, fe, linalg="cholesky", sigma2=sigma2, mismatch=mismatch)
        (g,) = torch.autograd.grad(gain, fe)
        yield k, ext, g.numpy()


def variant_gradient(stats, f, *, sigma2=None, mismatch=0.0):
    """``g_m = d loglik / d f_m`` of the exact marginal likelihood, summed over windows.

    Parameters
    ----------
    stats : SummaryStats
    f : array-like, shape (stats.n_variants,)
        Prior variances (all positive).
    sigma2 : float, optional
        Residual variance (default ``stats.sigma2``).
    mismatch : float, default 0.0
        LD mismatch variance ``kappa`` (:func:`deepwas.likelihood.marginal_loglik`).

    Returns
    -------
    ndarray, shape (stats.n_variants,)
        0 for variants in no window.
    """
    f = np.asarray(f, dtype=np.float64)
    g = np.zeros(stats.n_variants)
    for _, ext, gw in _window_gradients(stats, f, sigma2, mismatch):
        np.add.at(g, ext, gw)
    return g


def block_scores(stats, f, directions, labels, n_blocks, unit="windows", *, sigma2=None,
                 mismatch=0.0):
    """Per-block scores ``u[k, j] = sum_m D_mj f_m g_m`` over the terms of block ``k``.

    One gradient pass over the windows for all columns of ``directions``.

    Parameters
    ----------
    stats : SummaryStats
    f : array-like, shape (stats.n_variants,)
    directions : ndarray, shape (stats.n_variants, K)
        ``d log f_m / d tau_j`` of each tested term: candidate annotations (0 where a
        candidate does not apply) and the nuisance directions.
    labels : ndarray of int
        Block of each window (``unit="windows"``: a window's whole gradient goes to its
        block) or of each variant (``"variants"``: each variant's summed gradient goes to
        its block), from :func:`deepwas.jackknife.plan_blocks`.
    n_blocks : int
    unit : {"windows", "variants"}
    sigma2, mismatch
        As in :func:`variant_gradient`.

    Returns
    -------
    ndarray, shape (n_blocks, K)
    """
    D = np.asarray(directions, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != stats.n_variants:
        raise ValueError(f"directions must have shape ({stats.n_variants}, K), got {D.shape}")
    if unit not in ("windows", "variants"):
        raise ValueError(f"unit must be 'windows' or 'variants', got {unit!r}")
    labels = np.asarray(labels)
    f = np.asarray(f, dtype=np.float64)
    out = np.zeros((int(n_blocks), D.shape[1]))
    if unit == "variants":
        fg = f * variant_gradient(stats, f, sigma2=sigma2, mismatch=mismatch)
        np.add.at(out, labels, D * fg[:, None])
        return out
    for k, ext, g in _window_gradients(stats, f, sigma2, mismatch):
        out[labels[k]] += (f[ext] * g) @ D[ext]
    return out


def efficient_scores(u_cand, u_nuis=None):
    """Score, jackknife SE and z of each candidate given per-block scores (module docstring).

    Parameters
    ----------
    u_cand : ndarray, shape (n, C)
        Per-block scores of the candidates.
    u_nuis : ndarray, shape (n, P), optional
        Per-block scores of the fitted prior's parameters, projected out.

    Returns
    -------
    score, se, z : ndarray, shape (C,)
    df : int
        Degrees of freedom of ``z``'s reference t distribution, ``n - P - 1``.
    explained : ndarray of bool, shape (C,)
        Candidates whose per-block scores the nuisance scores explain (residual variance
        below 1e-6 of the raw one (the soft bound of ``log f`` keeps a model
        feature's own score a hair off its direction), e.g. a model feature tested again):
        their z is NaN.
    """
    u = np.asarray(u_cand, dtype=np.float64)
    n = u.shape[0]
    if n < 2:
        raise ValueError(f"the jackknife needs at least 2 blocks, got {n}")
    r, P = u, 0
    if u_nuis is not None and np.size(u_nuis):
        un = np.asarray(u_nuis, dtype=np.float64)
        # scale the nuisance columns so that lstsq's cut-off treats them alike
        sc = np.sqrt((un ** 2).sum(0))
        sc = np.where(sc > 0, sc, 1.0)
        B, _, P, _ = np.linalg.lstsq(un / sc, u, rcond=1e-10)
        r = u - (un / sc) @ B
    if P >= n:
        raise ValueError(f"{P} nuisance parameters for {n} jackknife blocks: the projection "
                         "leaves no residual; use more blocks or nuisance='intercept'")
    score = r.sum(0)
    # residuals of a regression on P columns are smaller by (n - P) / n on average
    var = (n - 1) / n * ((r - r.mean(0)) ** 2).sum(0) * n / (n - P)
    raw = (n - 1) / n * ((u - u.mean(0)) ** 2).sum(0)
    explained = ~(var > 1e-6 * raw)
    se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(explained, np.nan, score / se)
    return score, se, z, n - P - 1, explained


def score_table(names, n_variants, score, se, z, df, explained, min_variants=MIN_VARIANTS):
    """The per-candidate table: :data:`SCORE_COLUMNS`.

    ``status`` is "tested", "too few variants" (fewer than ``min_variants`` non-zero
    values: score, SE, z and p NaN) or "explained by the model" (its scores lie in the span
    of the model's own: e.g. one of its features).
    """
    n_variants = np.asarray(n_variants)
    few = n_variants < int(min_variants)
    status = np.where(few, "too few variants",
                      np.where(explained, "explained by the model", "tested"))
    bad = status != "tested"
    nan = lambda x: np.where(bad, np.nan, x)  # noqa: E731
    z = nan(z)
    p = 2 * sps.t.sf(np.abs(z), max(int(df), 1))
    direction = np.where(bad, "", np.where(z > 0, "enriched", "depleted"))
    return pd.DataFrame({"Category": list(names), "n_variants": n_variants.astype(np.int64),
                         "score": nan(score), "score_std_error": nan(se), "z": z, "p": p,
                         "direction": direction, "status": status})

"""Block jackknife of a fitted prior's parameters over contiguous blocks of windows.

Two ways to get the leave-one-block-out parameters ``theta_(-k)``:

* ``"pseudo"`` -- graphREML's one-Newton-step pseudo-jackknife. With per-window gradients
  ``g_w`` and Hessians ``H_w`` of the training objective at the fitted ``theta``, summed per
  block (``g_k``, ``H_k``) and over all blocks (``g``, ``H``)::

      theta_(-k) = theta - (H - H_k)^{-1} (g - g_k)

  one Newton step on the objective without block ``k`` (``g = 0`` at the optimum, so this is
  ``theta + (H - H_k)^{-1} g_k``). The Hessians are central differences of exact autograd
  gradients, ``2 P + 1`` gradient passes over the windows for ``P`` parameters: cheap for
  the constant and GLM priors, out of reach for a neural prior.
* ``"refit"`` -- the objective without block ``k`` maximised again by full-batch L-BFGS,
  started from ``theta`` (warm start). ``n_blocks`` fits: for a constant or GLM prior a few
  iterations each; for a neural prior ``n_blocks`` times the cost of its fit.

Pseudovalues ``n theta_hat - (n - 1) theta_(-k)`` of any statistic, their covariance over
``n`` (:func:`jackknife_cov`), give its standard error around the full-data estimate.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
import torch

__all__ = ["jackknife_blocks", "jackknife_cov", "leave_out_priors", "JACKKNIFE_METHODS"]

JACKKNIFE_METHODS = ("pseudo", "refit", "none")


def jackknife_blocks(n_windows, n_blocks):
    """Block label (0 .. n - 1) of each window: contiguous runs of windows in genome order.

    With fewer windows than ``n_blocks``, one block per window and a ``UserWarning`` saying so.

    Returns
    -------
    labels : ndarray of int, shape (n_windows,)
    n : int
        The number of blocks used.
    """
    n_blocks = int(n_blocks)
    if n_blocks < 2:
        raise ValueError(f"n_blocks must be at least 2, got {n_blocks}")
    if n_windows < 2:
        raise ValueError("a block jackknife needs at least 2 windows")
    if n_windows < n_blocks:
        warnings.warn(f"{n_windows} windows for n_blocks={n_blocks} jackknife blocks: using one "
                      f"block per window ({n_windows} blocks)", UserWarning, stacklevel=3)
        n_blocks = n_windows
    labels = np.empty(n_windows, dtype=np.int64)
    for b, idx in enumerate(np.array_split(np.arange(n_windows), n_blocks)):
        labels[idx] = b
    return labels, n_blocks


def jackknife_cov(estimate, leave_out):
    """Covariance of the pseudovalues over ``n``: ``cov(n est - (n-1) est_(-k)) / n``.

    Parameters
    ----------
    estimate : array-like, shape (q,)
        Full-data estimate.
    leave_out : array-like, shape (n, q)
        Leave-one-block-out estimates.

    Returns
    -------
    ndarray, shape (q, q)
    """
    est = np.atleast_1d(np.asarray(estimate, dtype=np.float64))
    loo = np.asarray(leave_out, dtype=np.float64).reshape(-1, est.size)
    n = loo.shape[0]
    pseudo = n * est[None, :] - (n - 1) * loo
    return np.atleast_2d(np.cov(pseudo, rowvar=False, ddof=1)) / n


class _Objective:
    """Per-window loss of a fitted estimator's training objective on ``stats``, as a function of
    a copy of its prior (float64)."""

    def __init__(self, est, stats):
        from .estimators._features import WindowFeatures, freq_array
        from .estimators._ldsr import LDSRBlocks
        from .estimators._objective import WindowObjective

        self.stats = stats
        sizes = (est.n_func_, est.width_, est.n_pred_)
        freq = freq_array(stats.variants["freq"].to_numpy(), stats.n_variants, "jackknife")
        self.fetch = WindowFeatures(stats, sizes, freq, "cpu")
        sigma2 = float(stats.sigma2) if est.sigma2 is None else float(est.sigma2_)
        mismatch = float(est.ld_mismatch_) if stats.ld_model.has_mismatch else 0.0
        self.blocks = None
        ldsr_h2 = n_var = None
        if est.solver == "ldsr":
            self.blocks = LDSRBlocks(stats)
            ldsr_h2 = (float(np.clip(est.ldsr_h2_, 1e-3, 1.0)) if est.ldsr_h2 == "auto"
                       else float(est.ldsr_h2))
            n_var = float(stats.n_variants)
        self.make = lambda ids: WindowObjective(stats, est.solver, ids, sigma2, torch.float64,
                                                blocks=self.blocks, ldsr_h2=ldsr_h2,
                                                n_variants=n_var, mismatch=mismatch)
        self.objective = self.make(np.arange(len(stats)))
        self.est = est

    def close(self):
        self.fetch.clear()
        if self.blocks is not None:
            self.blocks.free()


def _params(prior):
    return list(prior.parameters())


def _flat(prior):
    return np.concatenate([p.detach().double().reshape(-1).numpy() for p in _params(prior)])


def _set(prior, x):
    i = 0
    with torch.no_grad():
        for p in _params(prior):
            p.copy_(torch.as_tensor(x[i:i + p.numel()], dtype=p.dtype).reshape(p.shape))
            i += p.numel()


def _window_grads(prior, obj, x):
    """Per-window gradients of the loss at ``x``, shape (n_windows, P)."""
    _set(prior, x)
    out = []
    for k in range(len(obj.stats)):
        for p in _params(prior):
            p.grad = None
        func, pred, freq, n = obj.fetch(k)
        obj.objective(k, prior(func, pred, freq, n=n), False).backward()
        out.append(np.concatenate([(p.grad if p.grad is not None else torch.zeros_like(p))
                                   .double().reshape(-1).numpy() for p in _params(prior)]))
    return np.array(out)


def _pseudo(prior, obj, labels, n_blocks, step):
    x0 = _flat(prior)
    P = x0.size
    g = _window_grads(prior, obj, x0)
    H = np.zeros((len(g), P, P))
    for j in range(P):
        e = np.zeros(P)
        e[j] = step
        H[:, :, j] = (_window_grads(prior, obj, x0 + e) - _window_grads(prior, obj, x0 - e)) \
            / (2 * step)
    H = 0.5 * (H + H.transpose(0, 2, 1))
    gk = np.array([g[labels == b].sum(0) for b in range(n_blocks)])
    Hk = np.array([H[labels == b].sum(0) for b in range(n_blocks)])
    gt, Ht = g.sum(0), H.sum(0)
    out = []
    for b in range(n_blocks):
        out.append(x0 - np.linalg.lstsq(Ht - Hk[b], gt - gk[b], rcond=None)[0])
    _set(prior, x0)
    return np.array(out)


def _refit(prior, obj, labels, n_blocks):
    from .estimators._full_batch import fit_lbfgs

    x0 = _flat(prior)
    est = obj.est
    out = []
    for b in range(n_blocks):
        ids = np.flatnonzero(labels != b)
        p = copy.deepcopy(prior)
        fit_lbfgs(p, obj.make(ids), obj.fetch, ids, np.array([], dtype=np.int64),
                  tol=float(est.tol), max_iter=int(est.max_iter))
        out.append(_flat(p.double()))
    _set(prior, x0)
    return np.array(out)


def leave_out_priors(est, stats, labels, n_blocks, method="pseudo", step=1e-3):
    """The fitted prior and its leave-one-block-out parameters.

    Parameters
    ----------
    est : FunctionalPrior
        Fitted.
    stats : SummaryStats
        Data whose windows form the blocks (the training data, for standard errors of the fit).
    labels : ndarray of int
        Block of each window (:func:`jackknife_blocks`).
    n_blocks : int
    method : {"pseudo", "refit"}
    step : float, default=1e-3
        Central-difference step of the Hessian (parameters are of order 1).

    Returns
    -------
    prior : PriorModule
        A float64 copy of ``est.prior_`` (at the fitted parameters).
    theta : ndarray, shape (P,)
    leave_out : ndarray, shape (n_blocks, P)
    set_params : callable
        ``set_params(prior, x)`` loads a parameter vector into ``prior``.
    """
    if method not in ("pseudo", "refit"):
        raise ValueError(f"method must be 'pseudo' or 'refit', got {method!r}")
    prior = copy.deepcopy(est.prior_).double().eval()
    for p in prior.parameters():
        p.requires_grad_(True)
    obj = _Objective(est, stats)
    try:
        if method == "pseudo":
            loo = _pseudo(prior, obj, labels, n_blocks, float(step))
        else:
            loo = _refit(prior, obj, labels, n_blocks)
    finally:
        obj.close()
    return prior, _flat(prior), loo, _set

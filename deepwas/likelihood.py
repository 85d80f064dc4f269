"""The DeepWAS marginal likelihood of summary statistics, window by window.

For window i with factors (G, z, q, logdet_R, r) and s = sigma^2 / N (DESIGN section 1)::

    log p(beta_hat_(i)) = null_i + gain_i(f)
    null_i = -1/2 [ q/s + r log s + logdet_R + r log(2 pi) ]

``null_i`` is a theta-free constant evaluated in float64; ``gain_i`` comes from a solver in
:mod:`deepwas.solvers` in the dtype and on the device of ``f``. Windows whose LD is a sparse
precision block (LDGMs with the exact LD model; :mod:`deepwas.precision_windows`) have the same
``null_i`` and ``gain_i`` and are always solved by sparse LDL^T (:mod:`deepwas.solvers.sparse`),
whatever ``linalg`` says: exact, and faster than either dense solver on them.

Mismatch variance (:mod:`deepwas.ld_model`, windows built with ``ld_regularisation=
"mismatch"``): the covariance of ``y`` becomes ``G^T F G + s diag(nu)``, ``nu = 1 + kappa d``
(``d = 1/lam``). Whitening ``G~ = G diag(nu)^{-1/2}``, ``y~ = nu^{-1/2} y`` gives back the
form above with ``q = y~^T y~`` and ``logdet_R + sum log nu`` in the null term, so every solver
runs unchanged on the whitened factors. The gain is then relative to the null model with the
same mismatch term (no longer exactly the individual-level log-likelihood ratio).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .solvers.exact import exact_gain
from .solvers.sparse import sparse_gain
from .utils.validation import check_sigma2

__all__ = ["marginal_loglik", "window_gain", "null_loglik", "whitened", "LINALG_CHOICES",
           "likelihood_increase_percent"]

LINALG_CHOICES = ("cholesky", "iterative", "auto")


def null_loglik(wt, s, mismatch=0.0):
    """Log-likelihood of a window under f = 0 (float); ``mismatch`` is ``kappa``."""
    r = wt.rank
    q, logdet = wt.q, wt.logdet_R
    if mismatch:
        nu = 1.0 + mismatch * _d(wt).double()
        q = float(((wt.y.double() ** 2) / nu).sum())
        logdet += float(torch.log(nu).sum())
    return -0.5 * (q / s + r * math.log(s) + logdet + r * math.log(2 * math.pi))


def _d(wt):
    if wt.d is None:
        raise ValueError("a mismatch variance needs windows built with "
                         "ld_regularisation='mismatch' (these use "
                         "'none' or 'truncate')")
    return wt.d


def whitened(wt, mismatch):
    """``(G~, y~)`` of a window for mismatch ``kappa`` (module docstring); as is for 0."""
    if not mismatch:
        return wt.G, wt.y
    w = torch.rsqrt(1.0 + mismatch * _d(wt))
    return wt.G * w, wt.y * w


def _resolve_linalg(linalg, m, r, device):
    if linalg not in LINALG_CHOICES:
        raise ValueError(f"linalg must be one of {LINALG_CHOICES}, got {linalg!r}")
    if linalg == "auto":
        try:
            from .solvers import choose_linalg
        except ImportError:
            return "cholesky"
        return choose_linalg(m, r, device)
    return linalg


def window_gain(stats, k, f_ext, *, linalg="cholesky", sigma2=None, config=None, info=None,
                mismatch=0.0):
    """Gain over the null of window ``k`` for prior variances on its extended set.

    Parameters
    ----------
    stats : SummaryStats
    k : int
        Window index within ``stats``.
    f_ext : torch.Tensor, shape (m,)
        Prior variances of the window's extended variants (``stats.windows[k][1]``); its
        dtype and device set where the computation runs.
    linalg : {"cholesky", "iterative", "auto"}
    sigma2 : float, optional
        Residual variance; defaults to ``stats.sigma2``.
    config : optional
        Settings of the iterative solver.
    info : list, optional
        When given, a dict of solver diagnostics for this window is appended.
    mismatch : float, default 0.0
        The mismatch variance ``kappa`` (module docstring); needs windows built with
        ``ld_regularisation="mismatch"``.

    Returns
    -------
    torch.Tensor
        Scalar, differentiable in ``f_ext``.
    """
    wt = stats.window_tensors(k, device=f_ext.device, dtype=f_ext.dtype)
    s = (stats.sigma2 if sigma2 is None else sigma2) / stats.n
    if getattr(wt, "precision", False):
        return _precision_gain(wt, k, f_ext, s, mismatch, info)
    G, y = whitened(wt, mismatch)
    how = _resolve_linalg(linalg, G.shape[0], wt.rank, f_ext.device)
    if how == "iterative":
        from .solvers.iterative import iterative_gain

        gain, inf = iterative_gain(G, y, f_ext, s, config=config)
    else:
        gain, inf = exact_gain(G, y, f_ext, s), {}
    if info is not None:
        info.append(dict(inf, linalg=how, window=int(k), m=int(wt.G.shape[0]), rank=int(wt.rank)))
    return gain


def _precision_gain(wt, k, f_ext, s, mismatch, info):
    """A window on a sparse precision block: exact, by sparse LDL^T, whatever ``linalg``
    says (faster than either dense solver there, and exact)."""
    if mismatch:
        raise ValueError("the sparse precision path has no mismatch variance: its windows are "
                         "built with ld_regularisation='none'")
    gain = sparse_gain(wt.ldlt, wt.W, wt.u, wt.q, wt.logdet_P, f_ext, s)
    if info is not None:
        info.append(dict(linalg="sparse", window=int(k), m=wt.m, rank=int(wt.rank)))
    return gain


def _check_f(f, n):
    if f.ndim != 1 or f.shape[0] != n:
        raise ValueError(f"f must have shape ({n},) (one value per stats.variants row), "
                         f"got {tuple(f.shape)}")
    if not bool(torch.isfinite(f).all()):
        raise ValueError("f contains NaN or inf values")
    if bool((f < 0).any()):
        raise ValueError(f"f must be non-negative (prior variances); min is {float(f.min()):.3g}")


def marginal_loglik(stats, f, *, relative_to_null=False, per_window=False, linalg="cholesky",
                    sigma2=None, config=None, return_info=False, dtype=None, device=None,
                    mismatch=0.0):
    """Log marginal likelihood of the summary statistics (Eq. 3), summed over windows.

    Parameters
    ----------
    stats : SummaryStats
    f : array-like or torch.Tensor, shape (stats.n_variants,)
        Prior effect variances aligned with ``stats.variants``. A tensor keeps its dtype and
        device and gives a differentiable tensor result; anything else is evaluated in float64
        (or ``dtype``) and returns floats.
    relative_to_null : bool, default False
        Return the gain over the null model f = 0 (log-likelihood ratio), which equals the
        individual-level log-likelihood ratio of the phenotype.
    per_window : bool, default False
        One value per window instead of the sum.
    linalg : {"cholesky", "iterative", "auto"}, default "cholesky"
    sigma2 : float, optional
        Residual variance; defaults to ``stats.sigma2``.
    config : optional
        Settings of the iterative solver.
    return_info : bool, default False
        Also return a list of per-window solver diagnostics.
    dtype, device : optional
        For non-tensor ``f``: where to compute (default float64 on the CPU).
    mismatch : float, default 0.0
        The LD mismatch variance ``kappa`` (relative to ``sigma^2 / N``; see
        :mod:`deepwas.ld_model`); a fitted prior's is ``ld_mismatch_``. Needs windows built
        with ``ld_regularisation="mismatch"``.

    Returns
    -------
    float, ndarray or torch.Tensor
        (and the diagnostics list when ``return_info``).
    """
    if linalg not in LINALG_CHOICES:
        raise ValueError(f"linalg must be one of {LINALG_CHOICES}, got {linalg!r}")
    as_tensor = isinstance(f, torch.Tensor)
    if not as_tensor:
        f = torch.as_tensor(np.asarray(f, dtype=np.float64), dtype=dtype or torch.float64,
                            device=device)
    _check_f(f, stats.n_variants)
    s2 = stats.sigma2 if sigma2 is None else check_sigma2(float(sigma2))
    s = s2 / stats.n
    info = [] if return_info else None
    values = []
    windows = stats.windows
    for k, (_, ext) in enumerate(windows):
        if k + 1 < len(windows) and hasattr(stats, "prefetch"):
            stats.prefetch(k + 1)          # loads in the background while window k computes
        gain = window_gain(stats, k, f[torch.as_tensor(ext, device=f.device)], linalg=linalg,
                           sigma2=s2, config=config, info=info, mismatch=mismatch)
        if not relative_to_null:
            gain = gain + null_loglik(stats.window_tensors(k, f.device, f.dtype), s, mismatch)
        values.append(gain)
    out = torch.stack(values) if per_window else torch.stack(values).sum()
    if not as_tensor:
        out = out.detach().cpu().numpy() if per_window else float(out)
    return (out, info) if return_info else out


def likelihood_increase_percent(score):
    """The paper's "% likelihood increase per person": ``100 * expm1(score)``.

    Parameters
    ----------
    score : float or array-like
        Held-out log-likelihood gain over the null model, in nats per person
        (:meth:`deepwas.FunctionalPrior.score`).

    Returns
    -------
    float or ndarray
    """
    out = 100.0 * np.expm1(np.asarray(score, dtype=np.float64))
    return float(out) if out.ndim == 0 else out

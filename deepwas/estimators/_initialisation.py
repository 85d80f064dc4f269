"""Statistics of initialisation: the starting h2 and the maximum-likelihood sigma2.

Both come from the constant prior ``f_m = h2 (p_m(1-p_m))^alpha / sum_j (p_j(1-p_j))^alpha``
(sum over the training variants), whose exact log-likelihood on the training windows is a
function of two numbers only.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..likelihood import null_loglik, window_gain
from ..utils.validation import SIGMA2_MAX

__all__ = ["log_sum_pq", "ConstantPriorLikelihood", "initial_h2", "ml_h2_sigma2",
           "ml_h2_mismatch", "init_window_ids"]

#: search interval of h2 (log scale) for the initial value
H2_BOUNDS = (1e-5, 1.0)
#: tolerance of the initial h2 search, in log h2 (0.1 % of h2: far below its sampling error)
H2_XATOL = 1e-3


def log_sum_pq(prior, freq_t, n_variants):
    """``log sum_m (p(1-p))^alpha`` over the given variants (``log n`` without frequencies)."""
    if freq_t is None:
        return math.log(n_variants)
    with torch.no_grad():
        lpq = prior.log_freq_term(freq_t.double()) * float(prior.alpha.detach())
        return float(torch.logsumexp(lpq, 0))


def init_window_ids(train_ids, init_windows):
    """All training windows, or ``init_windows`` of them spread evenly over the genome."""
    ids = np.asarray(train_ids)
    if init_windows is not None and len(ids) > init_windows:
        ids = ids[np.linspace(0, len(ids) - 1, init_windows).round().astype(int)]
    return ids


class ConstantPriorLikelihood:
    """``(log h2, sigma2, with_null) -> log-likelihood`` of the constant prior on some windows.

    Parameters
    ----------
    stats : SummaryStats
    ids : array of int
        Windows (indices into ``stats``).
    prior : PriorModule
        Supplies the frequency term.
    fetch : WindowFeatures
        ``fetch.freq_of(k) -> (freq, n)`` of window ``k`` (no features are read).
    dtype : torch.dtype
    log_pq_sum : float
        :func:`log_sum_pq` over the training variants (so ``sum f = h2`` there).
    """

    def __init__(self, stats, ids, prior, fetch, dtype, log_pq_sum):
        self.stats, self.ids, self.dtype = stats, [int(k) for k in ids], dtype
        self.base = []
        for k in self.ids:
            fq, n = fetch.freq_of(k)
            lpq = (torch.zeros(n, dtype=torch.float64) if fq is None
                   else prior.log_freq_term(fq.double()).cpu() * float(prior.alpha.detach()))
            self.base.append((lpq - log_pq_sum).to(device=prior.alpha.device))

    def __call__(self, log_h2, sigma2, with_null, mismatch=0.0):
        """Log-likelihood at ``h2 = exp(log_h2)``; ``with_null`` adds the f-free null term
        (needed when sigma2 or the LD mismatch ``kappa`` vary)."""
        total = 0.0
        with torch.no_grad():
            for j, (k, b) in enumerate(zip(self.ids, self.base)):
                if j + 1 < len(self.ids) and hasattr(self.stats, "prefetch"):
                    self.stats.prefetch(self.ids[j + 1])
                f = torch.exp(b + log_h2).to(self.dtype)
                total += float(window_gain(self.stats, k, f, linalg="cholesky", sigma2=sigma2,
                                           mismatch=mismatch))
                if with_null:
                    total += null_loglik(self.stats.window_tensors(k), sigma2 / self.stats.n,
                                         mismatch)
        return total


def initial_h2(loglik, sigma2, mismatch=0.0):
    """The h2 maximising ``loglik`` (a :class:`ConstantPriorLikelihood`) at fixed sigma2 and
    LD mismatch.

    A bounded scalar search over log h2 in :data:`H2_BOUNDS` to :data:`H2_XATOL`.
    """
    from scipy.optimize import minimize_scalar

    lo, hi = (math.log(b) for b in H2_BOUNDS)
    res = minimize_scalar(lambda x: -loglik(x, sigma2, False, mismatch), bounds=(lo, hi),
                          method="bounded", options={"xatol": H2_XATOL})
    return float(math.exp(res.x))


#: bounds of log kappa, the LD mismatch variance relative to sigma^2 / N (e^-35 ~ "none")
LOG_KAPPA_BOUNDS = (-35.0, 14.0)


def ml_h2_mismatch(loglik, sigma2):
    """Maximum-likelihood ``(h2, kappa)`` of the constant prior with an LD mismatch variance.

    L-BFGS-B over (log h2, log kappa) with numerical gradients, started at kappa = 1 and at
    kappa = 6e-6; the better optimum is kept. A log scale for kappa matters: in-sample its
    maximum is at 0 while ``diag(1/lam)`` reaches 1e9, and a linear scale stalls (measured in
    the study behind :mod:`deepwas.ld_model`).
    """
    from scipy.optimize import minimize

    lo, hi = (math.log(b) for b in H2_BOUNDS)

    def neg(x):
        return -loglik(x[0], sigma2, True, math.exp(x[1]))

    h0 = math.log(initial_h2(loglik, sigma2))
    best = None
    for log_kappa in (0.0, math.log(6e-6)):
        res = minimize(neg, np.array([h0, log_kappa]), method="L-BFGS-B",
                       bounds=[(lo, hi), LOG_KAPPA_BOUNDS],
                       options={"ftol": 1e-12, "gtol": 1e-6, "eps": 1e-6, "maxiter": 200})
        if best is None or res.fun < best.fun:
            best = res
    return float(math.exp(best.x[0])), float(math.exp(best.x[1]))


def ml_h2_sigma2(loglik):
    """Maximum-likelihood ``(h2, sigma2)`` of the constant prior, null term included.

    The null term ``-1/2 (q/s + r log s)`` is what makes sigma2 identifiable: the gain alone
    grows as sigma2 falls.  Nelder-Mead over (log h2, logit(sigma2 / SIGMA2_MAX)), from
    sigma2 = 0.88; sigma2 floored at 1e-4 and above 1 only for statistics whose noise is
    inflated (an LDSC intercept above 1).
    """
    from scipy.optimize import minimize

    def s2_of(x):
        return max(SIGMA2_MAX / (1.0 + math.exp(-x)), 1e-4)

    start = math.log(0.88 / (SIGMA2_MAX - 0.88))
    res = minimize(lambda x: -loglik(min(x[0], 0.0), s2_of(x[1]), True),
                   x0=np.array([math.log(0.1), start]), method="Nelder-Mead",
                   options={"xatol": 1e-3, "fatol": 1e-4, "maxfev": 400})
    return float(math.exp(min(res.x[0], 0.0))), float(s2_of(res.x[1]))

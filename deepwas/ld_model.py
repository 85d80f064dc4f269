"""How a window's LD enters the likelihood: exactly, on thinned cores, truncated, or with a
mismatch variance.

The exact likelihood (DESIGN section 1) assumes R is the LD of the GWAS sample itself. LD
from a reference panel of p people is a noisy estimate of it: R_II has rank < p and small,
noisy eigenvalues, and ``R_II^+`` amplifies the components of the GWAS's beta-hat along them
until only a huge f can explain them (h2 = 0.99 for a true 0.05). Four models, chosen per data
set (``SummaryStats(..., ld_regularisation=...)``; the default "auto" takes "none" for LD
declared in-sample (``ld_in_sample=True``), "thinned" when the LD is cut at blocks of a panel
of known size, "mismatch" otherwise):

``"none"``
    The exact likelihood on every eigenvalue above ``eig_rtol`` of the largest: right when R
    is the GWAS sample's own LD (simulations drawn through the panel; UK Biobank statistics
    with UK Biobank LD).
``"truncate"``
    Keep the top eigenvectors of R_II whose eigenvalues sum to a share ``share`` of its trace
    (SBayesRC's rule) and project beta-hat on them.
``"thinned"``
    The exact likelihood, on windows whose cores are small: each LD block is cut into
    interleaved cores of about ``ld_core_size`` variants (every k-th variant of the block),
    each with the whole block as its extended set (:func:`deepwas.windows.thin_windows`).
    A core far smaller than the panel has its LD estimated without noise-level eigenvalues,
    and the signal it receives from the block comes through the panel's cross-LD R_EI, whose
    noise averages out; every variant is in exactly one core (a composite likelihood). Needs
    LD blocks (``ld_blocks``) and the panel's size. Measured in the realistic design of docs
    "LD from a reference panel" (GWAS LD from 10,000 people, a 200-person panel, 20
    replicates): h2 bias +0 / +10 / +8 % at h2 0.005 / 0.05 / 0.2 (95 % intervals cover
    95 / 80 / 85 %), where "mismatch" on one window per block gives -43 / -18 / -16 %. It
    over-shoots when the statistics themselves carry a small panel's LD noise (statistics
    drawn through another small panel: no real GWAS), where "mismatch" absorbs it.
``"mismatch"`` (the default for fixed windows and panels of unknown size)
    Truncation as above, plus a mismatch variance: in the kept eigenbasis the whitened
    statistics ``y = lam^{-1/2} U^T beta_I`` get covariance ``G^T F G + s (I + kappa diag(1/lam))``,
    i.e. white noise of variance ``kappa s`` added to beta_I within the kept eigenspace.
    ``kappa >= 0`` is one number per fit, estimated by maximum likelihood with the prior's scale
    (:class:`deepwas.FunctionalPrior` does it at initialisation; ``ld_mismatch_``). With
    ``kappa = 0`` this is "truncate".

Measured on a split-panel simulation of the shipped 1000 Genomes panel (docs: "LD from a
reference panel"; 20 replicates, true h2 = 0.05, N = 100,000): the exact model returned
h2 = 20 (its bound) in every replicate; "mismatch" at share 0.98 had h2 bias +0.004 (RMSE
0.006) and, on in-sample data, the same error as the exact model (bias -0.0004 vs +0.0006,
RMSE 0.0031 vs 0.0030). Truncation alone needed share 0.90 and still had +56 % bias;
shrinkage ``(1 - lam) R + lam I`` failed at every lam.

Share: 0.98 by default; 0.95 when the panel is known to be smaller than a tenth of the GWAS
(it cannot then be the GWAS sample, and 0.95 had 10-30 % lower error under mismatch).

With the mismatch model the factors stay in the eigenbasis of R_II (``G`` unrotated,
``d = 1 / lam``), because the noise term ``kappa diag(d)`` is diagonal there only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .windows import DEFAULT_EIG_RTOL, WindowFactors, orthogonal_columns

__all__ = ["LDModel", "is_small_panel", "LD_REGULARISATIONS", "EXACT_REGULARISATIONS",
           "DEFAULT_SHARE", "SMALL_PANEL_SHARE", "DIAGNOSTIC_SHARE", "resolve_share",
           "thinned_core_size", "kept_count"]

LD_REGULARISATIONS = ("none", "truncate", "mismatch", "thinned")
#: the models that keep every eigenvalue of R_II (exact likelihood on each window)
EXACT_REGULARISATIONS = ("none", "thinned")
DEFAULT_SHARE = 0.98
SMALL_PANEL_SHARE = 0.95
#: the diagnostic looks at the eigen-directions beyond this share of the trace
DIAGNOSTIC_SHARE = 0.99


def is_small_panel(panel_size, n):
    """Whether an LD panel of ``panel_size`` people (None: unknown) is small against a GWAS
    of ``n``: under a tenth of it, as no in-sample LD is."""
    return panel_size is not None and panel_size < n / 10


def resolve_share(share, panel_size, n):
    """The truncation share: ``share``, or for "auto" 0.98 (0.95 when ``panel_size < n / 10``)."""
    if share != "auto":
        return float(share)
    if is_small_panel(panel_size, n):
        return SMALL_PANEL_SHARE
    return DEFAULT_SHARE


def thinned_core_size(panel_size):
    """Variants per core of ``ld_regularisation="thinned"`` for a panel of ``panel_size``
    people: 20; a twentieth of a panel of 420 people or more, at most 25 (25 from 500 people);
    a fifth of a panel under 100 people (at least 10).

    The core size trades two biases (docs "LD from a reference panel", realistic design, 6-20
    replicates per cell, h2 bias at h2 0.005 / 0.05 / 0.2, without the panel correction):
    with 200 people cores of 10 give -16 / -1 / -13 %, 15 give -11 / +6 / -6 %, 20 give -1 /
    +11 / +5 %, 30 give +7 / +34 / +26 %; with 500 people cores of 10 give -9 / -6 / -2 %, 20
    give 0 / +2 % (h2 0.05 / 0.2), 40 give 0 / +12 / +27 %; with 100 people cores of 10 give
    -24 / -12 / -17 %, 20 give +1 / +19 / +15 %. Large cores inflate h2 the more the stronger
    each block's signal; small ones lose it. 20 is right at the weak per-block signal of a
    real genome (the h2 0.005 cells) for 100, 200 and 500 people alike.

    With 500 people, the panel correction and 20 panels (paired replicates, 30 / 40 / 50 at
    h2 0.005 / 0.05 / 0.2) larger cores estimate the enrichment better: its mean squared error
    falls by 21 / 5 / 10 % with cores of 25 and by 24 / 9 / 20 % with 30 (30 / 20 / 50
    replicates), while at the weak signal, where the correction is not applied, h2
    moves up by 1.6 points with 25 (+2.5 % in all, squared error +3 %) and by 4.2 with 30
    (+5.0 %, +14 %); 40 raise h2's squared error at strong signal, 60 put h2 7 % high. Hence
    25, for panels of 500 people or more: a larger panel estimates a larger core's LD as
    well, and the cap is where it was measured. Below 100 people nothing was measured; a
    fifth of the panel keeps the cores' Wishart inflation ``n / (n - k - 1)`` at most what 100
    people with cores of 20 have (1.27).
    """
    n = int(panel_size)
    if n < 100:
        return max(10, n // 5)
    return min(25, max(20, n // 20))


def kept_count(lam, share):
    """How many of the eigenvalues ``lam`` (descending) reach ``share`` of their sum."""
    if share >= 1.0:
        return len(lam)
    cum = np.cumsum(lam)
    return int(min(len(lam), np.searchsorted(cum, share * cum[-1]) + 1))


@dataclass(frozen=True)
class LDModel:
    """The LD model of a data set (module docstring).

    Parameters
    ----------
    regularisation : {"none", "truncate", "mismatch", "thinned"}
    share : float
        Share of trace(R_II) the kept eigenvalues reach (not used by "none").
    eig_rtol : float
        Relative threshold below which eigenvalues are zero (every model).
    """

    regularisation: str = "mismatch"
    share: float = DEFAULT_SHARE
    eig_rtol: float = DEFAULT_EIG_RTOL

    def __post_init__(self):
        if self.regularisation not in LD_REGULARISATIONS:
            raise ValueError(f"ld_regularisation must be one of {LD_REGULARISATIONS}, got "
                             f"{self.regularisation!r}")
        if not 0.0 < self.share <= 1.0:
            raise ValueError(f"ld_share must lie in (0, 1], got {self.share!r}")

    @property
    def has_mismatch(self):
        return self.regularisation == "mismatch"

    def key(self):
        """What the factors depend on, as text for the cache key."""
        share = 1.0 if self.regularisation in EXACT_REGULARISATIONS else self.share
        return f"{self.regularisation}:{share!r}:{self.eig_rtol!r}"

    def factors(self, U_r, lam_r, G, beta_I, n_core, ext_weights):
        """Finish a window's precompute from its eigenbasis.

        Parameters
        ----------
        U_r, lam_r : ndarray
            Eigenvectors (n, r) and eigenvalues (r,) of R_II above ``eig_rtol``, any order.
        G : ndarray, shape (m, r)
            ``R_EI U_r lam_r^{-1/2}``.
        beta_I : ndarray, shape (n,)
        n_core : int
        ext_weights : ndarray, shape (m,)
            ``(p(1-p))^0.7`` of the extended variants (for the diagnostic).

        Returns
        -------
        WindowFactors
        """
        order = np.argsort(lam_r)[::-1]
        U_r, lam_r, G = U_r[:, order], np.asarray(lam_r)[order], G[:, order]
        proj = U_r.T @ beta_I
        y = proj / np.sqrt(lam_r)
        b2 = float(beta_I @ beta_I)
        out_share = max(0.0, 1.0 - float(proj @ proj) / b2) if b2 > 0 else 0.0
        tail = slice(kept_count(lam_r, DIAGNOSTIC_SHARE), None)
        diag = dict(out_share=out_share, tail_y2=y[tail] ** 2,
                    tail_a=(np.asarray(ext_weights)[:, None] * G[:, tail] ** 2).sum(0))
        k = (len(lam_r) if self.regularisation in EXACT_REGULARISATIONS
             else kept_count(lam_r, self.share))
        G, y, lam = G[:, :k], y[:k], lam_r[:k]
        common = dict(q=float(y @ y), logdet_R=float(np.sum(np.log(lam))), rank=int(k),
                      n_core=int(n_core), **diag)
        if self.has_mismatch:
            return WindowFactors(G=np.ascontiguousarray(G), y=y, d=1.0 / lam, **common)
        G, y = orthogonal_columns(G, y)
        return WindowFactors(G=G, y=y, **common)

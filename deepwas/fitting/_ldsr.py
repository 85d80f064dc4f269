"""LD score regression pieces used by the estimators (DESIGN section 1, "LDSR").

Per window k with core I and extended set E, ``R2 = R_IE ** 2`` (n x m) and the
LD scores ``l_m = sum_{m' in E} R2[m, m']``. When the LD comes from a reference panel of
``n_ref`` people (``stats.ld.panel_size``), ``R2`` is ldsc's unbiased ``r^2 - (1 - r^2) /
(n_ref - 2)``: between unlinked variants a panel's r^2 averages about ``1 / n_ref``, which
summed over a window's flanks inflates every LD score and deflates h2 (docs "LD from a
reference panel"). In-sample LD (declared, ``ld_in_sample=True``, or
``ld_regularisation="none"``) keeps its r^2 as is: the statistics carry the sample's own LD,
noise included (a simulation drawn through a 489-person panel: h2 0.0221 with the panel's
r^2, 0.0278 with the correction, truth 0.02).
Model: ``E[N beta_hat_m^2] = N (R2 f)_m + sigma^2``.
Loss of a window (weighted least squares, LDSC's weights with a ballpark h2)::

    sum_{m in I} (1 / l_m) (N h2 lt_m / M + 1)^-2 (N (R2 f)_m + sigma^2 - N beta_hat_m^2)^2

where ``lt_m`` is the median LD score of the 11 core variants around m (m's own and five on
each side, in the core's order). ldsc puts the variant's own ``l_m`` in the second factor too;
here it would bias h2 and the enrichments whenever ``l_m`` is an estimate: with strong signal
(``N h2 l / M >> 1``) the weight falls like ``l_m^-3``, so variants whose LD score the panel
underestimates get the most weight, and their chi2, which follows the true LD score, sits
above the line through the estimated one. To first order in the LD score's noise (coefficient
of variation c) a weight ``l^-a`` biases the slope by ``(a - 1) c^2``: none for ``1 / l_m``
alone, and none from a second factor that does not move with m's own noise. Measured on 12
msprime loci, LD from a panel of 200 people (c = 0.21), h2 0.2, 8 replicates: h2 +11.4 % and
the enrichment of a 3x annotation -70 % with ldsc's weights; +0.1 % and -27 % with ``lt``;
-6.7 % and -17 % with the true LD score in the weights.

Everything is float64. L-BFGS needs a loss that resolves its later steps, and in float32 it
does not: a GLM of 82 annotations (S-LDSC's test data, chromosomes 1-4, exp link, ridge 1)
stopped after 8 iterations when a step no longer changed the float32 loss and was reported
converged, with its largest gradient component 750 times the tolerance and a loss 49 % above
the optimum found in float64 (0.0269 against 0.0181, 223 iterations; that GLM of 80 random
annotations has several optima, and 1 or 2 threads reach different ones). On chromosome 1 with
40 random annotations (ridge 0.1) float32 stalled at 74 iterations, gradient 444 times the
tolerance, loss 7 % high. Fits of a few parameters agree to about 1e-6 either way. ``R2`` is
kept in float64 too: widening a float32 ``R2`` window by window cost 2-3 times the fit's time,
while float64 costs twice its memory, which the pool bounds (the demo's LD score regression
fits, 22 windows: 3.2 against 2.0 GB resident, 10.4 against 9.3 s for the GLM, 8 against 6 s
for the constant prior).

The blocks are computed lazily and kept in the memory pool (:mod:`deepwas.memory_pool`,
bounded by ``factor_memory``) under the window's content key. Fits, the jackknife and the LD
check leave them there, as window factors are left, for whatever next runs on the same
windows; the pool's budget evicts them (:meth:`LDSRBlocks.free` drops them at once).
"""
from __future__ import annotations

import numpy as np
import torch

from ..memory_pool import POOL

__all__ = ["LDSRBlocks", "ld_score_regression", "ldsr_regression", "ldsr_weights",
           "local_ld_score", "unbiased_r2"]

#: core variants on each side of a variant in the median of ``local_ld_score``
LOCAL_HALF_WIDTH = 5


def unbiased_r2(r2, n_ref):
    """ldsc's small-panel correction ``r^2 - (1 - r^2) / (n_ref - 2)``, in place on the float
    array ``r2`` (returned; as is when the panel size is unknown), as ``r2 (1 + c) - c`` with
    ``c = 1 / (n_ref - 2)``."""
    if n_ref is not None:
        c = 1.0 / (float(n_ref) - 2.0)
        r2 *= r2.dtype.type(1.0 + c)
        r2 -= r2.dtype.type(c)
    return r2


def local_ld_score(l, half_width=LOCAL_HALF_WIDTH):  # noqa: E741
    """Median of the LD scores ``l`` (a core's, in its order) over each variant and its
    ``half_width`` neighbours on either side (fewer at the core's ends)."""
    scores = np.asarray(l, dtype=np.float64)
    if len(scores) == 0:
        return scores.copy()
    pad = np.pad(scores, half_width, constant_values=np.nan)
    views = np.lib.stride_tricks.sliding_window_view(pad, 2 * half_width + 1)
    return np.nanmedian(views, axis=1)


def ldsr_weights(l, l_local, N, h2, M):  # noqa: E741
    """LDSC's regression weights ``1 / (l (N h2 lt / M + 1)^2)``, LD scores floored at 1, with
    the heteroscedasticity factor taken at the local LD score ``lt`` (module docstring). Works
    on numpy arrays and torch tensors alike."""
    # floored at 1, as ldsc does: unbiased r^2 of a small panel can give an LD score near
    # -M / (N h2), where the unfloored second factor vanishes and one variant's weight swamps
    # the regression (h2 0.2 estimated as 0)
    if isinstance(l, torch.Tensor):
        lw, lt = l.clamp_min(1.0), l_local.clamp_min(1.0)
    else:
        lw, lt = np.maximum(l, 1.0), np.maximum(l_local, 1.0)
    return 1.0 / (lw * (N * h2 * lt / M + 1.0) ** 2)


class LDSRBlocks:
    """Per-window ``R2``, LD scores, local LD scores and ``N beta_hat^2`` of the core
    (float64), made lazily."""

    def __init__(self, stats, device="cpu"):
        self.stats = stats
        self.device = torch.device(device)
        # the panel sizes whose noise the r^2 are corrected for: none for in-sample LD
        # (declared, or ld_regularisation="none"), the sample's own, whose r^2, noise
        # included, is what the statistics carry
        in_sample = stats.ld_in_sample or stats.ld_model.regularisation == "none"
        self._panels = () if in_sample else tuple(int(n) for n in stats.ld.noise_panel_sizes)
        # the window's content key covers its LD, beta-hats and LD model, not N nor those
        # sizes: blocks left in the pool by one data set must not serve another that differs
        # only in them (chi2 = N beta-hat^2, the corrected r^2)
        self._part = ("ldsr", str(self.device), float(stats.n), self._panels)
        self._keys = set()
        self._beta = stats._variant_table()["beta_hat"].to_numpy(dtype=np.float64)
        self._windows = stats.windows

    def get(self, k):
        key = self.stats.window_key(k)
        hit = POOL.get(key, self._part)
        if hit is None:
            core, _ = self._windows[k]
            R_EI = self.stats.ld_ext_core(k)
            # (m, n) in R_EI's transposed layout: copying it to row-major took longer than
            # computing R_EI (a strided transpose of a few hundred MB), and the matrix-vector
            # products of the loss read either layout (see ``loss``). Squared into a new array
            # (half the time of a copy squared in place), corrected in place
            R2 = np.square(R_EI, dtype=np.float64).T
            # a pseudo-panel's r^2 carries its own noise on top of its panel's: corrected for
            # each layer (the corrections commute), or the refits of the panel correction
            # read LD scores inflated by about m / n (a block of m variants): h2 -25 %
            for n_ref in self._panels:
                unbiased_r2(R2, n_ref)
            ld_scores = R2.sum(1)
            chi2 = self.stats.n * self._beta[core] ** 2
            hit = tuple(torch.as_tensor(a, dtype=torch.float64, device=self.device)
                        for a in (R2, ld_scores, local_ld_score(ld_scores), chi2))
            POOL.put(key, self._part, hit)
            self._keys.add(key)
        return hit

    def loss(self, k, f_ext, sigma2, h2, M):
        """Weighted LDSR loss of window ``k`` (sum over its core variants), differentiable in f;
        float64 whatever ``f_ext``'s dtype (module docstring)."""
        R2, l, l_local, chi2 = self.get(k)
        N = float(self.stats.n)
        w = ldsr_weights(l, l_local, N, h2, M)
        # f R2^T rather than R2 f: with R2 in R_EI's layout the product and its gradient
        # took 10 ms for a 3,700 x 3,700 window against 16 ms (float32 R2 f: 14 ms)
        pred = N * (f_ext.to(R2.dtype) @ R2.T) + sigma2
        return (w * (pred - chi2) ** 2).sum()

    def free(self):
        for key in self._keys:
            POOL.discard(key, self._part)
        self._keys.clear()


def ldsr_regression(blocks, windows, M, n_iter=2):
    """Weighted regression of ``N beta_hat^2`` on LD scores over the core variants of ``windows``.

    ``E[N beta_hat^2] = N h2 / M * l + sigma^2`` gives ``h2 = slope * M / N`` and
    ``sigma^2 = intercept``. Weights ``1 / (l (N h2 l / M + 1)^2)`` (LDSC), iterated
    ``n_iter`` times from ``h2 = 0.1``.

    Returns
    -------
    h2, sigma2 : float
    """
    ls, lts, chis = [], [], []
    for k in windows:
        _, l, l_local, chi2 = blocks.get(k)
        ls.append(l.cpu().numpy().astype(np.float64))
        lts.append(l_local.cpu().numpy().astype(np.float64))
        chis.append(chi2.cpu().numpy().astype(np.float64))
    return ld_score_regression(np.concatenate(ls), np.concatenate(lts), np.concatenate(chis),
                               float(blocks.stats.n), M, n_iter)


def ld_score_regression(l, l_local, chi2, N, M, n_iter=2):  # noqa: E741
    """:func:`ldsr_regression` on arrays: LD scores ``l``, local LD scores ``l_local`` and
    ``chi2 = N beta_hat^2`` of the same variants."""
    h2 = 0.1
    intercept = 1.0
    for _ in range(max(1, n_iter)):
        w = ldsr_weights(l, l_local, N, max(h2, 1e-4), M)      # as in the loss above
        X = np.stack([np.ones_like(l), l], axis=1)
        sw = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(X * sw[:, None], chi2 * sw, rcond=None)
        intercept, slope = coef
        h2 = float(slope * M / N)
    return h2, float(intercept)

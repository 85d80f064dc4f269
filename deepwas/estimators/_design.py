"""What a fit learns of its features before training, in one pass over the training windows'
core variants: the standardisation of each track / predictor, and which features the prior
cannot use.

A feature constant over the training variants carries no information; for the GLM (a linear
model with an intercept), a feature collinear with the ones before it (``maf`` when A1 is the
minor allele, so that ``maf == freq``) has no identified weight either: a fit that keeps it
splits one effect between copies. Both are dropped before the fit, with a warning that names
them (:func:`deepwas.utils.collinearity.redundant_columns`: rule and tolerance); the prior
sees them as 0 (:meth:`deepwas.priors.PriorModule.set_feature_mask`), so their weight stays 0
in ``predict_f``, in a saved model and in ``partitioned_h2``. For the GLM the design is the
one it fits: each track's mean over the window's positions, and the scalar predictors.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..fitting._features import FEATURE_CHUNK
from ..utils.collinearity import CONSTANT_RTOL, redundant_columns

__all__ = ["standardisation", "FeatureMoments", "feature_moments", "dropped_features",
           "warn_dropped"]


class _Moments:
    """Mean and covariance of the rows of matrices, accumulated in float64 around the first
    row (so a constant column has variance exactly 0)."""

    def __init__(self):
        self.n, self.shift, self.s, self.ss = 0, None, None, None

    def add(self, X):
        X = np.asarray(X, dtype=np.float64)
        if len(X) == 0:
            return
        if self.shift is None:
            self.shift = X[0].copy()
            self.s = np.zeros(X.shape[1])
            self.ss = np.zeros((X.shape[1], X.shape[1]))
        Y = X - self.shift
        self.n += len(Y)
        self.s += Y.sum(0)
        self.ss += Y.T @ Y

    def mean_cov(self):
        m = self.s / self.n
        return self.shift + m, self.ss / self.n - np.outer(m, m)


@dataclass
class FeatureMoments:
    """Per-feature means and standard deviations over the training variants (tracks over all
    their positions), and the GLM design's moments (``design``: ``(mean, cov)`` or None)."""

    func_mean: np.ndarray
    func_sd: np.ndarray
    pred_mean: np.ndarray
    pred_sd: np.ndarray
    design: Optional[tuple] = None

    def standardisation(self):
        """``(func_mean, func_scale, pred_mean, pred_scale)``; scales of constant features
        are 1."""
        return (self.func_mean, np.where(self.func_sd > 1e-12, self.func_sd, 1.0),
                self.pred_mean, np.where(self.pred_sd > 1e-12, self.pred_sd, 1.0))


def feature_moments(stats, windows, sizes, design=False):
    """:class:`FeatureMoments` over the core variants of ``windows``; ``design=True`` also
    accumulates the GLM design (track means over positions, scalar predictors)."""
    d_func, _, d_pred = sizes
    fs, fss, fn = np.zeros(d_func), np.zeros(d_func), 0
    ps, pss, pn = np.zeros(d_pred), np.zeros(d_pred), 0
    cross = _Moments() if design and (d_func or d_pred) else None
    if d_func or d_pred:
        wins = stats.windows
        for k in windows:
            core = wins[k][0]
            for lo in range(0, len(core), FEATURE_CHUNK):
                feats = stats.get_features(core[lo:lo + FEATURE_CHUNK])
                cols = []
                if d_func and feats.func is not None:
                    a = feats.func.astype(np.float64)
                    fs += a.sum((0, 2))
                    fss += (a * a).sum((0, 2))
                    fn += a.shape[0] * a.shape[2]
                    cols.append(a.mean(2))
                if d_pred and feats.pred is not None:
                    a = feats.pred.astype(np.float64)
                    ps += a.sum(0)
                    pss += (a * a).sum(0)
                    pn += a.shape[0]
                    cols.append(a)
                if cross is not None:
                    cross.add(np.concatenate(cols, axis=1))

    def finish(s, ss, n):
        if n == 0:
            return np.zeros_like(s), np.zeros_like(s)
        m = s / n
        return m, np.sqrt(np.maximum(ss / n - m * m, 0.0))

    fm, fsd = finish(fs, fss, fn)
    pm, psd = finish(ps, pss, pn)
    return FeatureMoments(fm, fsd, pm, psd,
                          None if cross is None or cross.n == 0 else cross.mean_cov())


def standardisation(stats, windows, sizes):
    """Mean and scale of each track / predictor over the core variants of ``windows``.

    Returns
    -------
    func_mean, func_scale, pred_mean, pred_scale : ndarray
        Scales of constant features are 1.
    """
    return feature_moments(stats, windows, sizes).standardisation()


def dropped_features(moments, func_names, pred_names):
    """``(func_keep, pred_keep, reasons)``: which tracks and predictors the prior uses, and
    ``{name: reason}`` for the others (the GLM design's redundant columns when
    ``moments.design`` is set, otherwise the constant features only)."""
    names = list(func_names) + list(pred_names)
    d_func = len(func_names)
    if moments.design is not None:
        drop = redundant_columns(*moments.design, names)
    else:
        mean = np.concatenate([moments.func_mean, moments.pred_mean])
        sd = np.concatenate([moments.func_sd, moments.pred_sd])
        drop = {j: "constant" for j in range(len(names))
                if sd[j] == 0 or sd[j] <= CONSTANT_RTOL * abs(mean[j])}
    keep = np.ones(len(names), dtype=bool)
    keep[list(drop)] = False
    return keep[:d_func], keep[d_func:], {names[j]: why for j, why in drop.items()}


def warn_dropped(reasons, stacklevel=4):
    """One ``UserWarning`` naming the dropped features and why (none: no warning)."""
    if reasons:
        listed = "; ".join(f"{n}: {why}" for n, why in reasons.items())
        warnings.warn(f"{len(reasons)} feature{'s' if len(reasons) > 1 else ''} dropped before "
                      f"the fit, the prior cannot identify a weight for them ({listed}); they "
                      "enter as 0 (weight 0 in predict_f, in the saved model and in "
                      "partitioned_h2)", UserWarning, stacklevel=stacklevel)

"""What the estimator feeds a prior: frequencies, standardised features, per-window tensors.

* :func:`freq_array` -- allele frequencies with missing values handled loudly;
* :func:`feature_sizes` -- ``(d_func, width, d_pred)`` a model needs from a data set;
* :class:`WindowFeatures` -- the features of a window's extended set as tensors, kept in
  memory while they fit in a byte budget.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from ..features.base import FeatureProvider, Features

__all__ = ["freq_array", "feature_sizes", "features_to_tensors",
           "WindowFeatures", "slice_features", "is_stats", "prediction_inputs",
           "check_feature_sizes", "check_stats", "predict_f_chunked", "FEATURE_CHUNK"]

#: variants whose features are read (and pushed through the prior) at a time
FEATURE_CHUNK = 8192


def freq_array(freq, n, where):
    """Frequencies as float64; NaNs are filled with the median (all NaN -> None), with a warning."""
    if freq is None:
        return None
    freq = np.array(freq, dtype=np.float64).ravel()
    if len(freq) != n:
        raise ValueError(f"freq has {len(freq)} values, expected {n}")
    bad = ~np.isfinite(freq)
    if bad.all():
        warnings.warn(f"{where}: no allele frequency known; the (p(1-p))^alpha term is left out",
                      RuntimeWarning, stacklevel=3)
        return None
    if bad.any():
        warnings.warn(f"{where}: {int(bad.sum())} variants lack an allele frequency; using the "
                      "median frequency for them", RuntimeWarning, stacklevel=3)
        freq = np.where(bad, np.median(freq[~bad]), freq)
    return freq


def feature_sizes(model_name, stats):
    """``(d_func, width, d_pred)`` the prior will use; zeros for the constant model."""
    if model_name == "constant":
        return 0, 0, 0
    prov = stats.features
    if prov is None:
        if model_name in ("glm", "transformer"):
            raise ValueError(f"model={model_name!r} needs features, but the SummaryStats has none "
                             "(build it with features=..., or use model='constant')")
        return 0, 0, 0
    d_func, width, d_pred = int(prov.d_func), int(prov.width), int(prov.d_pred)
    if model_name == "transformer" and d_func == 0:
        raise ValueError("model='transformer' needs genomic tracks (C_func); these features have "
                         "only scalar predictors -- use model='glm'")
    return d_func, width, d_pred


def features_to_tensors(feats, sizes, device):
    """``(func, pred)`` float32 tensors of the parts of ``feats`` the prior uses (else None)."""
    d_func, _, d_pred = sizes
    func = pred = None
    if d_func:
        if feats is None or feats.func is None:
            raise ValueError("the prior needs track features (func) but none were given")
        func = torch.as_tensor(np.asarray(feats.func, dtype=np.float32), device=device)
    if d_pred:
        if feats is None or feats.pred is None:
            raise ValueError("the prior needs scalar predictors (pred) but none were given")
        pred = torch.as_tensor(np.asarray(feats.pred, dtype=np.float32), device=device)
    return func, pred


def slice_features(feats, idx):
    """Rows ``idx`` of a :class:`~deepwas.features.base.Features`."""
    return Features(func=None if feats.func is None else feats.func[idx],
                    pred=None if feats.pred is None else feats.pred[idx],
                    func_names=feats.func_names, pred_names=feats.pred_names)


class WindowFeatures:
    """``fetch(k) -> (func, pred, freq, n)`` tensors of window ``k``'s extended variants.

    Kept in memory when all windows' features fit in ``budget`` bytes (1 GiB), read again on
    each call otherwise.
    """

    def __init__(self, stats, sizes, freq, device, budget=1 << 30):
        self.stats, self.sizes, self.device = stats, sizes, device
        self.windows = stats.windows
        self.freq = None if freq is None else torch.as_tensor(np.array(freq), dtype=torch.float32,
                                                              device=device)
        per_var = 4 * (sizes[0] * max(sizes[1], 1) + sizes[2])
        total = per_var * sum(len(e) for _, e in self.windows)
        self._cache = {} if total <= budget else None

    def __call__(self, k):
        hit = None if self._cache is None else self._cache.get(k)
        if hit is None:
            ext = self.windows[k][1]
            uses = self.sizes[0] or self.sizes[2]
            feats = self.stats.get_features(ext) if uses else None
            func, pred = features_to_tensors(feats, self.sizes, self.device)
            fq = None if self.freq is None else self.freq[torch.as_tensor(ext, device=self.device)]
            hit = (func, pred, fq, len(ext))
            if self._cache is not None:
                self._cache[k] = hit
        return hit

    def size(self, k):
        """Variants in window ``k``'s extended set."""
        return len(self.windows[k][1])

    def freq_of(self, k):
        """``(freq or None, n)`` of window ``k``'s extended variants, without its features."""
        ext = self.windows[k][1]
        fq = None if self.freq is None else self.freq[torch.as_tensor(ext, device=self.device)]
        return fq, len(ext)

    def chunk(self, k, lo, hi):
        """``(func, pred, freq, n)`` of window ``k``'s extended variants ``lo:hi``.

        Sliced from the window's tensors when all windows are kept in memory; read for these
        variants alone otherwise, so a window's whole feature tensor is never built.
        """
        if self._cache is not None:
            func, pred, fq, _ = self(k)
            cut = lambda t: None if t is None else t[lo:hi]  # noqa: E731
            return cut(func), cut(pred), cut(fq), hi - lo
        ext = self.windows[k][1][lo:hi]
        uses = self.sizes[0] or self.sizes[2]
        feats = self.stats.get_features(ext) if uses else None
        func, pred = features_to_tensors(feats, self.sizes, self.device)
        fq = None if self.freq is None else self.freq[torch.as_tensor(ext, device=self.device)]
        return func, pred, fq, len(ext)

    def union(self, ks):
        """The distinct extended variants of windows ``ks``: ``(n, rows, fetch_chunk)``.

        ``rows[k]`` are the positions of window ``k``'s extended variants in the union (sorted
        variant rows); ``fetch_chunk(lo, hi) -> (func, pred, freq, m)`` gives the union's
        variants ``lo:hi`` -- assembled from the windows' tensors when they are kept in
        memory, read for these variants alone otherwise.
        """
        exts = {int(k): np.asarray(self.windows[k][1]) for k in ks}
        union = np.unique(np.concatenate(list(exts.values())))
        rows = {k: torch.as_tensor(np.searchsorted(union, e), device=self.device)
                for k, e in exts.items()}
        n = len(union)
        fq = None if self.freq is None else self.freq[torch.as_tensor(union, device=self.device)]
        cut = lambda t, lo, hi: None if t is None else t[lo:hi]  # noqa: E731
        if self._cache is not None:
            func = pred = None
            for k in exts:
                fk, pk, _, _ = self(k)
                if fk is not None and func is None:
                    func = fk.new_empty((n,) + tuple(fk.shape[1:]))
                if pk is not None and pred is None:
                    pred = pk.new_empty((n,) + tuple(pk.shape[1:]))
                if fk is not None:
                    func[rows[k]] = fk
                if pk is not None:
                    pred[rows[k]] = pk
            return n, rows, lambda lo, hi: (cut(func, lo, hi), cut(pred, lo, hi),
                                            cut(fq, lo, hi), hi - lo)
        uses = self.sizes[0] or self.sizes[2]

        def fetch_chunk(lo, hi):
            feats = self.stats.get_features(union[lo:hi]) if uses else None
            func, pred = features_to_tensors(feats, self.sizes, self.device)
            return func, pred, cut(fq, lo, hi), hi - lo

        return n, rows, fetch_chunk

    def clear(self):
        if self._cache is not None:
            self._cache.clear()


def is_stats(X):
    """Whether ``X`` looks like a :class:`deepwas.SummaryStats` (duck-typed)."""
    return all(hasattr(X, a) for a in ("windows", "window_tensors", "variants", "n", "groups"))


def check_stats(X, what="fit"):
    """``X`` when it is a non-empty SummaryStats; ``TypeError`` / ``ValueError`` otherwise."""
    if not is_stats(X):
        raise TypeError(f"{what} expects a deepwas.SummaryStats (windows of summary statistics), "
                        f"got {type(X).__name__}")
    if len(X) == 0:
        raise ValueError(f"{what} got a SummaryStats with no window")
    return X


def predict_f_chunked(prior, get, n, fq, sizes):
    """``f`` (float64 ndarray) of ``n`` variants whose features ``get(idx)`` returns, a chunk
    at a time (1,024 variants with tracks, to bound activation memory)."""
    out = np.empty(n, dtype=np.float64)
    chunk = 1024 if sizes[0] else FEATURE_CHUNK
    with torch.no_grad():
        for lo in range(0, n, chunk):
            idx = np.arange(lo, min(n, lo + chunk))
            func, pred = features_to_tensors(get(idx), sizes, "cpu")
            fr = None if fq is None else torch.as_tensor(fq[idx], dtype=torch.float32)
            out[idx] = torch.exp(prior(func, pred, fr, n=len(idx)).double()).numpy()
    return out


def prediction_inputs(X, features, freq, uses_features):
    """What ``predict_f`` reads from its input: ``(n, freq or None, get)``.

    ``get(idx)`` returns the :class:`Features` of rows ``idx`` (or None when the prior uses
    none). See :meth:`deepwas.FunctionalPrior.predict_f` for the accepted inputs.
    """
    import pandas as pd

    none = lambda idx: None  # noqa: E731
    if is_stats(X):
        v = X.variants
        n = len(v)
        fq = freq_array(v["freq"].to_numpy() if freq is None else freq, n, "predict_f")
        if uses_features and X.features is None:
            raise ValueError("this prior needs features but the SummaryStats has none")
        return n, fq, (X.get_features if uses_features else none)
    if isinstance(X, pd.DataFrame):
        n = len(X)
        src = X["freq"].to_numpy() if (freq is None and "freq" in X) else freq
        fq = freq_array(src, n, "predict_f") if src is not None else None
        if not uses_features:
            return n, fq, none
        if isinstance(features, FeatureProvider):
            table = X.reset_index(drop=True)
            return n, fq, lambda idx: features.get(table.iloc[idx].reset_index(drop=True))
        if isinstance(features, Features):
            if len(features) != n:
                raise ValueError(f"features have {len(features)} rows, the table {n}")
            return n, fq, lambda idx: slice_features(features, idx)
        raise ValueError("with a variant table, pass features= (a FeatureProvider or Features)")
    if isinstance(X, Features):
        n = len(X)
        if n == 0 and freq is not None:
            n = len(np.asarray(freq))
        fq = freq_array(freq, n, "predict_f") if freq is not None else None
        return n, fq, lambda idx: slice_features(X, idx)
    raise TypeError("predict_f takes a SummaryStats, a variant DataFrame (+ features=) or "
                    f"Features (+ freq=), got {type(X).__name__}")


def check_feature_sizes(get, n, sizes):
    """Raise ``ValueError`` when the features ``get`` returns differ from the fitted sizes."""
    if n == 0 or not (sizes[0] or sizes[2]):
        return
    f = get(np.arange(min(n, 1)))
    if sizes[0]:
        got = None if f.func is None else tuple(f.func.shape[1:])
        if got != (sizes[0], sizes[1]):
            raise ValueError(f"features have tracks of shape {got}, the prior was fitted on "
                             f"{(sizes[0], sizes[1])} (d_func, width)")
    if sizes[2]:
        got = None if f.pred is None else f.pred.shape[1]
        if got != sizes[2]:
            raise ValueError(f"features have {got} scalar predictors, "
                             f"the prior was fitted on {sizes[2]}")

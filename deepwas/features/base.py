"""The feature-provider interface: what a prior sees of each variant.

A provider turns a table of variants into two arrays:

* ``func``: shape (n, d_func, width), float32 -- values of d_func genomic tracks at ``width``
  positions centred on each variant (C_func in the paper);
* ``pred``: shape (n, d_pred), float32 -- per-variant scalar predictors (C_pred).

Either may be ``None`` when a provider has none. Providers are asked only for the variants
of the windows being processed, so a genome-scale track set is never materialised at once.
The variant table passed to :meth:`FeatureProvider.get` has at least the columns ``chrom``
(str, no "chr" prefix), ``pos`` (int, the build of the summary statistics), ``snp``, ``a1``,
``a2``, ``freq``, and ``row`` (the variant's index in the full data set it came from).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd

__all__ = ["Features", "FeatureProvider", "ArrayFeatures", "FeatureSet", "as_provider", "take_rows",
           "RowRemap"]


@dataclass
class Features:
    """Feature arrays for a set of variants (rows aligned with the variant table)."""

    func: Optional[np.ndarray] = None  # (n, d_func, width)
    pred: Optional[np.ndarray] = None  # (n, d_pred)
    pred_names: Sequence[str] = ()
    func_names: Sequence[str] = ()

    def __len__(self):
        for a in (self.func, self.pred):
            if a is not None:
                return len(a)
        return 0


class FeatureProvider:
    """Base class: subclasses implement :meth:`get` and the three size attributes."""

    d_func: int = 0
    width: int = 0
    d_pred: int = 0
    func_names: Sequence[str] = ()
    pred_names: Sequence[str] = ()

    def get(self, variants: pd.DataFrame) -> Features:  # pragma: no cover - interface
        raise NotImplementedError


class ArrayFeatures(FeatureProvider):
    """Features given as in-memory arrays aligned with the full variant table (by ``row``).

    Parameters
    ----------
    func : array-like, shape (M, d_func, width), optional
    pred : array-like, shape (M, d_pred), optional
    func_names, pred_names : sequence of str, optional
    """

    def __init__(self, func=None, pred=None, func_names=None, pred_names=None):
        self.func = None if func is None else np.asarray(func, dtype=np.float32)
        self.pred = None if pred is None else np.asarray(pred, dtype=np.float32)
        if self.func is not None and self.func.ndim == 2:  # one position per track
            self.func = self.func[:, :, None]
        if self.func is not None and self.func.ndim != 3:
            raise ValueError(f"func features must have shape (M, d_func, width), "
                             f"got {self.func.shape}")
        if self.pred is not None and self.pred.ndim == 1:
            self.pred = self.pred[:, None]
        if self.pred is not None and self.pred.ndim != 2:
            raise ValueError(f"pred features must have shape (M, d_pred), got {self.pred.shape}")
        if self.func is not None and self.pred is not None and len(self.func) != len(self.pred):
            raise ValueError(
                f"func ({len(self.func)} rows) and pred ({len(self.pred)} rows) "
                "features disagree in length")
        for name, a in (("func", self.func), ("pred", self.pred)):
            if a is not None and not np.all(np.isfinite(a)):
                raise ValueError(f"{name} features contain NaN or inf")
        self.d_func = 0 if self.func is None else self.func.shape[1]
        self.width = 0 if self.func is None else self.func.shape[2]
        self.d_pred = 0 if self.pred is None else self.pred.shape[1]
        self.func_names = (list(func_names) if func_names is not None
                           else [f"track{i}" for i in range(self.d_func)])
        self.pred_names = (list(pred_names) if pred_names is not None
                           else [f"pred{i}" for i in range(self.d_pred)])

    @property
    def n_rows(self):
        return len(self.func) if self.func is not None else (
            len(self.pred) if self.pred is not None else 0)

    def get(self, variants):
        rows = np.asarray(variants["row"], dtype=np.int64)
        return Features(
            func=None if self.func is None else self.func[rows],
            pred=None if self.pred is None else self.pred[rows],
            func_names=self.func_names, pred_names=self.pred_names)


class FeatureSet(FeatureProvider):
    """Concatenation of several providers: func tracks stacked, pred columns joined.

    All providers with tracks must share the same ``width``.
    """

    def __init__(self, providers):
        self.providers = list(providers)
        widths = {p.width for p in self.providers if p.d_func}
        if len(widths) > 1:
            raise ValueError(f"track providers disagree on the window width: {sorted(widths)}")
        self.width = widths.pop() if widths else 0
        self.d_func = sum(p.d_func for p in self.providers)
        self.d_pred = sum(p.d_pred for p in self.providers)
        self.func_names = [n for p in self.providers for n in p.func_names]
        self.pred_names = [n for p in self.providers for n in p.pred_names]

    def get(self, variants):
        parts = [p.get(variants) for p in self.providers]
        funcs = [x.func for x in parts if x.func is not None]
        preds = [x.pred for x in parts if x.pred is not None]
        return Features(
            func=np.concatenate(funcs, axis=1) if funcs else None,
            pred=np.concatenate(preds, axis=1) if preds else None,
            func_names=self.func_names, pred_names=self.pred_names)


def as_provider(features, n_rows):
    """A :class:`FeatureProvider` from whatever a user passed as ``features``.

    ``None`` and providers pass through; :class:`Features`, a ``(func, pred)`` tuple, a 3-d
    array (tracks) or a 2-d array (scalar predictors) become :class:`ArrayFeatures`, which must
    have ``n_rows`` rows (any number when ``n_rows`` is None).
    """
    if features is None or isinstance(features, FeatureProvider):
        return features
    if isinstance(features, Features):
        features = ArrayFeatures(func=features.func, pred=features.pred,
                                 func_names=features.func_names or None,
                                 pred_names=features.pred_names or None)
    elif isinstance(features, tuple) and len(features) == 2:
        features = ArrayFeatures(func=features[0], pred=features[1])
    else:
        arr = np.asarray(features)
        features = ArrayFeatures(func=arr) if arr.ndim == 3 else ArrayFeatures(pred=arr)
    if n_rows is not None and features.n_rows != n_rows:
        raise ValueError(f"features have {features.n_rows} rows but there are {n_rows} variants")
    return features


def take_rows(provider, rows):
    """``provider`` seen through ``rows`` of its variant table (``row`` renumbered from 0)."""
    rows = np.asarray(rows, dtype=np.int64)
    if provider is None:
        return None
    if isinstance(provider, ArrayFeatures):
        return ArrayFeatures(func=None if provider.func is None else provider.func[rows],
                             pred=None if provider.pred is None else provider.pred[rows],
                             func_names=provider.func_names, pred_names=provider.pred_names)
    return RowRemap(provider, rows)


class RowRemap(FeatureProvider):
    """A provider seen through a subset of rows (keeps ``row`` pointing at the parent)."""

    def __init__(self, parent, rows):
        self.parent, self.rows = parent, np.asarray(rows)
        for a in ("d_func", "width", "d_pred", "func_names", "pred_names"):
            setattr(self, a, getattr(parent, a))

    def get(self, variants):
        v = variants.copy()
        v["row"] = self.rows[np.asarray(variants["row"], dtype=np.int64)]
        return self.parent.get(v)

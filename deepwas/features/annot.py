"""S-LDSC annotation files (``.annot`` / ``.annot.gz``) as C_pred features."""
from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from .base import FeatureProvider, Features

__all__ = ["AnnotFeatures"]

log = logging.getLogger(__name__)

_ID_COLUMNS = ("CHR", "BP", "SNP", "CM")


class AnnotFeatures(FeatureProvider):
    """Annotation columns of S-LDSC ``.annot(.gz)`` files, matched to variants by rsID.

    Parameters
    ----------
    paths : str or sequence of str
        Files with the columns CHR BP SNP CM followed by annotations (e.g. one per
        chromosome, like ``baselineLD.{1..22}.annot.gz``). All must have the same annotations.
    columns : sequence of str, optional
        Annotations to keep (default: all).

    Notes
    -----
    Variants absent from the files get 0 for every annotation (S-LDSC's convention for a
    SNP outside an annotation). An rsID listed twice keeps its first row. Constant columns
    such as ``base`` (all 1) carry no information once features are standardised; drop them
    with ``columns`` if the normalisation step does not.
    """

    def __init__(self, paths, columns=None):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        frames, names = [], None
        for p in paths:
            p = os.fspath(p)
            if not os.path.isfile(p):
                raise FileNotFoundError(f"annotation file not found: {p}")
            df = pd.read_csv(p, sep=r"\s+", compression="infer")
            if "SNP" not in df.columns:
                raise ValueError(f"{p}: no SNP column (thin .annot files without CHR BP SNP CM "
                                 "are not supported)")
            ann = [c for c in df.columns if c not in _ID_COLUMNS]
            if names is None:
                names = ann
            elif ann != names:
                raise ValueError(f"{p}: annotation columns differ from {paths[0]}")
            frames.append(df)
        tab = pd.concat(frames, ignore_index=True)
        if columns is not None:
            missing = [c for c in columns if c not in names]
            if missing:
                raise ValueError(f"annotations not found: {missing}")
            names = list(columns)
        tab = tab.drop_duplicates("SNP", keep="first")
        self._index = pd.Index(tab["SNP"].astype(str))
        self._values = tab[names].to_numpy(dtype=np.float32)
        if not np.all(np.isfinite(self._values)):
            raise ValueError("annotation files contain NaN or inf values")
        self.pred_names = list(names)
        self.d_pred = len(names)

    def get(self, variants):
        at = self._index.get_indexer(pd.Series(variants["snp"]).astype(str))
        pred = np.zeros((len(at), self.d_pred), dtype=np.float32)
        ok = at >= 0
        pred[ok] = self._values[at[ok]]
        log.info("annotations: %d of %d variants found", int(ok.sum()), len(at))
        return Features(pred=pred, pred_names=self.pred_names)

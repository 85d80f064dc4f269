"""Coding-variant scores (dbNSFP-style table) and basic per-variant predictors (C_pred)."""
from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from ..utils.chrom import normalise_chrom
from .base import FeatureProvider, Features

__all__ = ["CodingScores", "BasicPredictors", "DEFAULT_CODING_COLUMNS"]

log = logging.getLogger(__name__)

DEFAULT_CODING_COLUMNS = ("ESM1b", "GERP++_RS", "SIFT", "PROVEAN", "FATHMM", "EVE")

# Key columns of a dbNSFP-style table (compared case-insensitively).
_KEYS = {
    "snp": ["rs_dbsnp", "rs_dbsnp151", "rsid", "snp", "rs"],
    "chrom": ["#chr", "chr", "chrom", "hg19_chr"],
    "pos": ["pos(1-based)", "pos", "bp", "hg19_pos(1-based)", "position"],
    "ref": ["ref", "a2"],
    "alt": ["alt", "a1"],
}


def _find(header, names):
    lower = {h.lower(): h for h in header}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def _score(cells):
    """Cells like "0.3;.;0.5" (one value per transcript) -> their mean; "." / empty -> NaN."""
    s = pd.Series(cells, dtype="string").fillna("")
    if not s.str.contains(";", regex=False).any():
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    parts = s.str.split(";", expand=True).apply(pd.to_numeric, errors="coerce")
    with np.errstate(invalid="ignore"):
        return parts.mean(axis=1, skipna=True).to_numpy(dtype=np.float64)


class CodingScores(FeatureProvider):
    """Coding-variant scores from a dbNSFP-style table.

    Parameters
    ----------
    table_path : str
        Tab/whitespace separated text (plain or gzip) with a header. Key columns: an rsID
        (``rs_dbSNP``/``rsid``/``SNP``) and/or ``#chr``, ``pos(1-based)``, ``ref``, ``alt``.
    columns : sequence of str
        Scores to use. A score ``X`` is the column named ``X`` or ``X_score``
        (case-insensitive), so dbNSFP's ``SIFT_score`` answers to ``"SIFT"``.

    Notes
    -----
    Matching rule: a variant (chrom, pos, a1, a2) takes the row with the same chromosome and
    1-based position whose {ref, alt} equals {a1, a2} in either order -- the scores describe
    the substitution, not which allele a GWAS calls the effect allele, so no sign flip is
    applied. Variants with no such row are matched by rsID. A cell with several values
    separated by ";" (one per transcript) gives their mean; "." or empty is missing. Missing
    scores and unmatched variants are 0 (non-coding variants have no coding score).
    """

    def __init__(self, table_path, columns=DEFAULT_CODING_COLUMNS):
        path = os.fspath(table_path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"coding score table not found: {path}")
        tab = pd.read_csv(path, sep=r"\s+", dtype=str, compression="infer")
        header = list(tab.columns)
        cols = []
        for c in columns:
            found = _find(header, [c, c + "_score"])
            if found is None:
                raise ValueError(f"{path}: no column for score {c!r} (looked for {c!r} and "
                                 f"{c + '_score'!r}); header: {header}")
            cols.append(found)
        keys = {k: _find(header, v) for k, v in _KEYS.items()}
        has_pos = all(keys[k] for k in ("chrom", "pos", "ref", "alt"))
        if not has_pos and keys["snp"] is None:
            raise ValueError(f"{path}: need an rsID column or #chr/pos/ref/alt columns")
        self.pred_names = list(columns)
        self.d_pred = len(cols)
        self.d_func, self.width, self.func_names = 0, 0, []
        scores = (np.column_stack([_score(tab[c]) for c in cols]) if cols
                  else np.zeros((len(tab), 0)))
        self._scores = np.nan_to_num(scores, nan=0.0).astype(np.float32)
        self._by_allele = {}
        if has_pos:
            chrom = normalise_chrom(tab[keys["chrom"]])
            pos = pd.to_numeric(tab[keys["pos"]], errors="coerce").fillna(-1).astype(np.int64)
            ref = tab[keys["ref"]].str.upper().to_numpy()
            alt = tab[keys["alt"]].str.upper().to_numpy()
            for i in range(len(tab) - 1, -1, -1):  # reversed: the first row of a key wins
                a, b = sorted((ref[i], alt[i]))
                self._by_allele[(chrom[i], int(pos.iat[i]), a, b)] = i
        self._by_snp = {}
        if keys["snp"] is not None:
            snp = tab[keys["snp"]].to_numpy()
            for i in range(len(tab) - 1, -1, -1):
                if isinstance(snp[i], str) and snp[i] not in (".", ""):
                    self._by_snp[snp[i]] = i

    def get(self, variants):
        n = len(variants)
        chrom = normalise_chrom(variants["chrom"])
        pos = np.asarray(variants["pos"], dtype=np.int64)
        a1 = pd.Series(variants["a1"]).astype(str).str.upper().to_numpy()
        a2 = pd.Series(variants["a2"]).astype(str).str.upper().to_numpy()
        snp = np.asarray(variants["snp"]) if "snp" in variants else np.full(n, None)
        hit = np.full(n, -1, dtype=np.int64)
        for i in range(n):
            a, b = sorted((a1[i], a2[i]))
            j = self._by_allele.get((chrom[i], int(pos[i]), a, b))
            if j is None:
                j = self._by_snp.get(snp[i])
            if j is not None:
                hit[i] = j
        pred = np.zeros((n, self.d_pred), dtype=np.float32)
        ok = hit >= 0
        pred[ok] = self._scores[hit[ok]]
        log.info("coding scores: %d of %d variants matched", int(ok.sum()), n)
        return Features(pred=pred, pred_names=self.pred_names)


class BasicPredictors(FeatureProvider):
    """Allele frequency and minor-allele frequency from the variant table's ``freq``.

    ``freq`` is the frequency of ``a1``; ``maf = min(freq, 1 - freq)``. Missing or
    out-of-range frequencies raise ``ValueError`` (they cannot be repaired silently: the
    prior's ``(p (1 - p))^alpha`` term uses the same value).
    """

    pred_names = ["freq", "maf"]
    d_pred = 2

    def get(self, variants):
        if "freq" not in variants:
            raise ValueError("variant table has no 'freq' column")
        p = np.asarray(variants["freq"], dtype=np.float64)
        bad = ~(np.isfinite(p) & (p >= 0) & (p <= 1))
        if bad.any():
            raise ValueError(f"{int(bad.sum())} variants have a missing or invalid frequency "
                             f"(first: row {int(np.flatnonzero(bad)[0])})")
        pred = np.column_stack([p, np.minimum(p, 1 - p)]).astype(np.float32)
        return Features(pred=pred, pred_names=list(self.pred_names))

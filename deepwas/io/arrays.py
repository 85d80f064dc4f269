"""Summary statistics given as arrays: checked, put in genome order, paired with their LD."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..features.base import ArrayFeatures, as_provider, take_rows
from ..ld import DenseLD, LDSource
from ..utils.chrom import genome_order, normalise_chrom

__all__ = ["table_from_arrays"]


def table_from_arrays(beta_hat, chrom, pos, ld, *, freq=None, snp=None, a1=None, a2=None,
                      features=None, n_ref=None):
    """The variant table, LD source and feature provider of :meth:`SummaryStats.from_arrays`.

    ``n_ref`` is the size of the panel a matrix ``ld`` was computed from (see
    :class:`deepwas.ld.DenseLD`).

    Every array must have one entry per variant (``ld``: one row and column); positions must
    be integers, frequencies in [0, 1], ``beta_hat`` finite. The three outputs are sorted in
    genome order (chromosomes in natural order, then position) together.

    Returns
    -------
    table : pandas.DataFrame
        ``chrom, pos, snp, a1, a2, freq, beta_hat``; missing identifiers become
        ``chrom:pos``, missing alleles ``N``, missing frequencies NaN.
    source : LDSource
    features : FeatureProvider or None
    """
    beta_hat = np.asarray(beta_hat, dtype=np.float64).ravel()
    M = len(beta_hat)
    if not np.all(np.isfinite(beta_hat)):
        bad = int((~np.isfinite(beta_hat)).sum())
        raise ValueError(f"beta_hat contains NaN or inf values ({bad} of {M})")
    chrom = normalise_chrom(chrom)
    pos = np.asarray(pos)
    lengths = {"beta_hat": M, "chrom": len(chrom), "pos": len(pos)}
    for name, arr in (("freq", freq), ("snp", snp), ("a1", a1), ("a2", a2)):
        if arr is not None:
            lengths[name] = len(arr)
    if isinstance(ld, LDSource):
        lengths["ld"] = len(ld)
    else:
        ld = np.asarray(ld, dtype=np.float64)
        if ld.ndim != 2 or ld.shape[0] != ld.shape[1]:
            raise ValueError(f"LD matrix must be square, got shape {ld.shape}")
        lengths["ld"] = ld.shape[0]
    if len(set(lengths.values())) != 1:
        raise ValueError(f"lengths disagree: {lengths}")
    if not np.issubdtype(pos.dtype, np.integer):
        if not np.all(np.isfinite(pos.astype(float))) or np.any(pos.astype(float) % 1):
            raise ValueError("pos must hold integer base-pair positions")
    pos = pos.astype(np.int64)
    if freq is not None:
        freq = np.asarray(freq, dtype=np.float64)
        if not np.all((freq >= 0) & (freq <= 1)):
            raise ValueError("freq must lie in [0, 1] (NaN not allowed)")
    else:
        freq = np.full(M, np.nan)
    table = pd.DataFrame({
        "chrom": chrom, "pos": pos,
        "snp": (np.asarray(snp, dtype=object) if snp is not None
                else np.array([f"{c}:{p}" for c, p in zip(chrom, pos)], dtype=object)),
        "a1": np.asarray(a1, dtype=object) if a1 is not None else np.full(M, "N", dtype=object),
        "a2": np.asarray(a2, dtype=object) if a2 is not None else np.full(M, "N", dtype=object),
        "freq": freq, "beta_hat": beta_hat,
    })
    if isinstance(ld, LDSource):
        if n_ref is not None and ld.panel_size is not None and int(n_ref) != ld.panel_size:
            raise ValueError(f"n_ref={n_ref} but the LD source's panel has {ld.panel_size} people")
        source = ld
    else:
        source = DenseLD(ld, table[["chrom", "pos"]], n_ref=n_ref)
    features = as_provider(features, M)
    order = genome_order(chrom, pos)
    if np.any(order != np.arange(M)):
        table = table.iloc[order].reset_index(drop=True)
        source = source.subset(order)
        if isinstance(features, ArrayFeatures):   # aligned with the input rows: reorder them
            features = take_rows(features, order)
    return table, source, features

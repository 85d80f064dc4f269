"""Chromosome labels: one spelling and one order for the whole package.

Files name chromosomes ``1``, ``chr1``, ``Chr1`` or ``CHR1``; the package stores the bare
label (``"1"``, ``"X"``) everywhere, so tables from different sources join. The prefix is
stripped only at the start of a label and in any letter case (``"chr"`` inside a contig name
such as ``"22_KI270879v1_alt"`` is left alone).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["normalise_chrom", "chrom_sort_key", "sort_chroms", "genome_order"]

_PREFIX = re.compile(r"^chr", flags=re.IGNORECASE)
# sex chromosomes and mitochondria after the autosomes, in the order of the human reference
_NAMED = {"X": 0, "Y": 1, "XY": 2, "M": 3, "MT": 3}


def _one(label):
    s = _PREFIX.sub("", str(label).strip())
    return s.upper() if s.upper() in _NAMED else s


def normalise_chrom(values):
    """Chromosome labels as strings without a ``chr`` prefix.

    Parameters
    ----------
    values : scalar or array-like
        Labels such as ``"chr17"``, ``"CHR17"``, ``17`` or ``"chrx"``.

    Returns
    -------
    str or ndarray of object
        ``"17"``, ``"17"``, ``"17"``, ``"X"``: a str for a scalar input, otherwise an object
        array of the same length.
    """
    if isinstance(values, (str, int, np.integer)):
        return _one(values)
    s = pd.Series(values, dtype=object)
    return np.array([_one(v) for v in s.to_numpy()], dtype=object)


def chrom_sort_key(label):
    """Sort key giving the natural order: 1, 2, ..., 22, X, Y, XY, MT, then other names."""
    s = _one(label)
    if s.isdigit():
        return (0, int(s), "")
    if s in _NAMED:
        return (1, _NAMED[s], "")
    return (2, 0, s)


def sort_chroms(labels):
    """The distinct labels of ``labels`` (normalised, as str) in natural order."""
    return sorted({_one(c) for c in labels}, key=chrom_sort_key)


def genome_order(chrom, pos):
    """Stable permutation sorting variants by (chromosome in natural order, position)."""
    chrom = normalise_chrom(chrom)
    order_of = {c: i for i, c in enumerate(sorted(set(chrom), key=chrom_sort_key))}
    rank = np.array([order_of[c] for c in chrom], dtype=np.int64)
    return np.lexsort((np.asarray(pos, dtype=np.int64), rank))

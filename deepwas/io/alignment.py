"""Allele alignment of summary statistics against a reference panel.

Rules, applied per SNP after matching on the SNP identifier (rsID):

* alleles equal to the reference (A1 = ref a1, A2 = ref a2): kept, sign +1;
* alleles swapped (A1 = ref a2, A2 = ref a1): kept, beta-hat sign flipped;
* single-base SNPs on the other strand (complements, e.g. A/G reported as T/C): matched as
  above and counted as ``strand_flipped`` -- they are the same alleles read from the opposite
  strand. Only when all four alleles are single bases: a multi-base allele (an indel) is
  matched literally, never complemented (TC/T is not AG/A read from the other strand);
* strand-ambiguous pairs (A/T, C/G), whose strand cannot be told from the alleles: dropped by
  default (``keep_ambiguous=True`` keeps them, matching alleles literally);
* anything else (different alleles, indel vs SNP, ...): dropped as ``allele_mismatch``.

Every drop is counted; nothing is dropped silently.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["align_alleles", "AMBIGUOUS_PAIRS"]

_COMPLEMENT = str.maketrans("ACGT", "TGCA")
AMBIGUOUS_PAIRS = {("A", "T"), ("T", "A"), ("C", "G"), ("G", "C")}


def _complement(alleles):
    return (pd.Series(alleles, dtype=object).astype(str).str.translate(_COMPLEMENT)
            .to_numpy(dtype=object))


def _single_base(alleles):
    return np.array([len(x) == 1 and x in "ACGT" for x in alleles], dtype=bool)


def align_alleles(a1, a2, ref_a1, ref_a2, keep_ambiguous=False):
    """Sign that maps each SNP's effect onto the reference ``ref_a1`` allele.

    Parameters
    ----------
    a1, a2 : array-like of str
        Effect and other allele of the summary statistics.
    ref_a1, ref_a2 : array-like of str
        Reference alleles of the same SNPs (the reference counts ``ref_a1``).
    keep_ambiguous : bool, default False
        Keep strand-ambiguous A/T and C/G SNPs.

    Returns
    -------
    sign : ndarray of float
        +1 (same), -1 (swapped) or 0 (dropped).
    counts : dict
        ``flipped``, ``strand_flipped``, ``ambiguous``, ``allele_mismatch``.
    """
    up = lambda x: (pd.Series(x, dtype=object).astype(str).str.upper()  # noqa: E731
                    .to_numpy(dtype=object))
    a1, a2, r1, r2 = up(a1), up(a2), up(ref_a1), up(ref_a2)
    same = (a1 == r1) & (a2 == r2)
    swap = (a1 == r2) & (a2 == r1)
    c1, c2 = _complement(a1), _complement(a2)
    snv = _single_base(a1) & _single_base(a2) & _single_base(r1) & _single_base(r2)
    cs = snv & (c1 == r1) & (c2 == r2) & ~same & ~swap
    cw = snv & (c1 == r2) & (c2 == r1) & ~same & ~swap
    ambiguous = np.array([(x, y) in AMBIGUOUS_PAIRS for x, y in zip(r1, r2)], dtype=bool)
    sign = np.zeros(len(a1))
    sign[same] = 1.0
    sign[swap] = -1.0
    if keep_ambiguous:
        # literal matches only: for A/T the complement of "same" is "swapped", so ignore cs/cw
        sign[cs & ~ambiguous] = 1.0
        sign[cw & ~ambiguous] = -1.0
        dropped_amb = np.zeros(len(a1), dtype=bool)
    else:
        sign[cs] = 1.0
        sign[cw] = -1.0
        dropped_amb = ambiguous & (same | swap | cs | cw)
        sign[dropped_amb] = 0.0
    counts = {
        "flipped": int(np.sum(sign < 0)),
        "strand_flipped": int(np.sum((cs | cw) & (sign != 0))),
        "ambiguous": int(dropped_amb.sum()),
        "allele_mismatch": int(np.sum((sign == 0) & ~dropped_amb)),
    }
    return sign, counts

"""Allele frequencies in :func:`deepwas.io.harmonise.harmonise`: the frequency of the
reference's ``a1`` for every kept variant, and the check that a FREQ column counts the
statistics' effect allele (a mislabelled effect allele would flip every sign)."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

__all__ = ["check_effect_allele_frequencies", "FLIPPED_FREQ_MAX"]

log = logging.getLogger(__name__)

#: share of informative SNPs whose frequency fits the other allele above which the effect
#: allele is taken to be mislabelled
FLIPPED_FREQ_MAX = 0.7


def check_effect_allele_frequencies(ss, sign, source, ridx, ref, min_snps=50):
    """Raise when the statistics' frequency column counts the other allele.

    Where both the statistics (FREQ, the frequency of their effect allele) and the reference
    (panel frequencies, or a ``freq`` column) know frequencies, SNPs with a clearly
    non-0.5 reference frequency (0.05-0.4 or 0.6-0.95) and no strand ambiguity tell which
    allele FREQ counts. If more than :data:`FLIPPED_FREQ_MAX` of at least ``min_snps`` such
    SNPs fit ``1 - FREQ`` better, the effect allele column is the wrong one (a SAIGE file,
    whose effect allele is Allele2, read as another format; A1/A2 swapped in ``columns=``)
    and every sign would be wrong.
    """
    from ..ld import GenotypeLD
    from .alignment import AMBIGUOUS_PAIRS

    if "FREQ" not in ss:
        return
    if isinstance(source, GenotypeLD):
        rf = source.mean[ridx] / 2.0
    elif "freq" in ref:
        rf = ref["freq"].to_numpy(dtype=np.float64)[ridx]
    else:
        return
    f = pd.to_numeric(ss["FREQ"], errors="coerce").to_numpy(dtype=np.float64)
    f = np.where(sign > 0, f, 1.0 - f)          # frequency of the reference's a1, if right
    amb = np.array([(a, b) in AMBIGUOUS_PAIRS for a, b in
                    zip(ref["a1"].to_numpy()[ridx], ref["a2"].to_numpy()[ridx])], dtype=bool)
    inf = np.isfinite(f) & np.isfinite(rf) & ~amb & (np.abs(rf - 0.5) > 0.1) & \
        (np.abs(rf - 0.5) < 0.45)
    k = int(inf.sum())
    if k < min_snps:
        return
    flipped = np.abs(f[inf] - (1 - rf[inf])) < np.abs(f[inf] - rf[inf])
    share = float(flipped.mean())
    if share > FLIPPED_FREQ_MAX:
        fmt = ss.attrs.get("format")
        raise ValueError(
            f"the effect allele looks mislabelled: for {100 * share:.0f}% of {k} SNPs the "
            f"frequency column fits the other allele's frequency in the LD reference (format "
            f"{fmt!r}, effect allele {ss.attrs.get('effect_allele', 'A1')}). A SAIGE file "
            "(effect allele Allele2) read as another format, or A1/A2 swapped in columns=, "
            "gives this; every sign would be wrong. Check the format")
    if share > 0.2:
        log.warning("%.0f%% of %d SNPs have a frequency closer to the other allele's in the LD "
                    "reference", 100 * share, k)


def _oriented_freq(ss, sign, source, ridx):
    """Frequency of the reference's a1: the statistics' FREQ (flipped where the alleles were
    swapped), else the genotype panel's, else the reference table's, else NaN."""
    from ..ld import GenotypeLD

    if "FREQ" in ss:
        f = pd.to_numeric(ss["FREQ"], errors="coerce").to_numpy(dtype=np.float64)
        return np.where(sign > 0, f, 1.0 - f)
    if isinstance(source, GenotypeLD):
        return source.mean[ridx] / 2.0
    if "freq" in source.variants:
        return source.variants["freq"].to_numpy(dtype=np.float64)[ridx]
    return np.full(len(ridx), np.nan)

"""Allele frequencies in :func:`deepwas.io.harmonise.harmonise`: the frequency of the
reference's ``a1`` for every kept variant, and the check that a FREQ column counts the
statistics' effect allele (a mislabelled effect allele would flip every sign)."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..ld import GenotypeLD
from ._errors import SumstatsError
from .alignment import AMBIGUOUS_PAIRS

__all__ = ["check_effect_allele_frequencies", "check_population_frequencies",
           "FLIPPED_FREQ_MAX", "POPULATION_RATIO_MIN", "POPULATION_GAP_MIN"]

log = logging.getLogger(__name__)

#: share of informative SNPs whose frequency fits the other allele above which the effect
#: allele is taken to be mislabelled
FLIPPED_FREQ_MAX = 0.7
#: a reference population is refused when the statistics' frequencies are at least this many
#: times farther (mean absolute difference) from its column than from another population's ...
POPULATION_RATIO_MIN = 2.5
#: ... and at least this much farther in absolute terms (1000 Genomes populations differ by
#: 0.027 (EUR-AMR) to 0.094 (EAS-AFR) on the shipped LDGM block; a sample of 500 people of the
#: right population lies 0.004-0.005 from its column)
POPULATION_GAP_MIN = 0.02


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
    if "FREQ" in ss:
        f = pd.to_numeric(ss["FREQ"], errors="coerce").to_numpy(dtype=np.float64)
        return np.where(sign > 0, f, 1.0 - f)
    if isinstance(source, GenotypeLD):
        return source.mean[ridx] / 2.0
    if "freq" in source.variants:
        return source.variants["freq"].to_numpy(dtype=np.float64)[ridx]
    return np.full(len(ridx), np.nan)


def check_population_frequencies(ss, sign, source, ridx, min_snps=50):
    """Raise when the statistics' frequencies fit another population of the reference far
    better than the one chosen (an LDGM ``population`` that is not the GWAS's ancestry).

    Applies when the statistics have a FREQ column and the source knows several populations'
    frequencies (``source.population_freqs``: the population columns of LDGM snplists). Over
    the matched SNPs with every frequency known (at least ``min_snps``), the distance to a
    population is the mean absolute difference between FREQ (of the reference's ``a1``) and
    its column. The chosen population is refused when another is at least
    :data:`POPULATION_RATIO_MIN` times closer and :data:`POPULATION_GAP_MIN` closer in
    absolute terms; the distances are logged either way.
    """
    pf = getattr(source, "population_freqs", None)
    chosen = getattr(source, "population", None)
    if pf is None or chosen not in getattr(pf, "columns", ()) or pf.shape[1] < 2 \
            or "FREQ" not in ss:
        return
    f = pd.to_numeric(ss["FREQ"], errors="coerce").to_numpy(dtype=np.float64)
    f = np.where(sign > 0, f, 1.0 - f)
    P = pf.to_numpy(dtype=np.float64)[ridx]
    ok = np.isfinite(f) & np.isfinite(P).all(axis=1)
    k = int(ok.sum())
    if k < min_snps:
        return
    dist = pd.Series(np.abs(P[ok] - f[ok, None]).mean(axis=0), index=pf.columns)
    shown = ", ".join(f"{p} {d:.3f}" for p, d in dist.sort_values().items())
    log.info("allele frequencies of %d SNPs against the reference's populations (mean "
             "|difference|): %s; %s chosen", k, shown, chosen)
    best = dist.idxmin()
    if best != chosen and dist[chosen] >= POPULATION_RATIO_MIN * dist[best] \
            and dist[chosen] - dist[best] >= POPULATION_GAP_MIN:
        msg = (f"the summary statistics' allele frequencies fit the {best} column of the LD "
               f"reference far better than {chosen}, the population chosen: mean |FREQ - "
               f"population frequency| over {k:,} SNPs is {dist[chosen]:.3f} for {chosen} and "
               f"{dist[best]:.3f} for {best} (all: {shown}). LD of one population does not "
               "fit statistics of another: use the LD of the statistics' population (")
        raise SumstatsError(msg + f"population='{best}')", cli=msg + f"--population {best})")

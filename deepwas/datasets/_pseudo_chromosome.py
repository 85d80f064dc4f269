"""The shipped 1 Mb regions placed end to end as one pseudo-chromosome.

The 22 regions of the embedded 1000 Genomes panel lie on different chromosomes, so nothing links
them. Laid end to end (positions offset region by region) they make a chromosome on which a
window's extended set spans several regions and the panel's correlations between regions are
pure sampling noise -- what a reference panel shows between unlinked variants of one real
chromosome. The reference-panel study (docs "LD from a reference panel") and its regression
tests use it.
"""
from __future__ import annotations

import numpy as np

from ._demo import demo_bfiles

__all__ = ["pseudo_chromosome"]


def pseudo_chromosome(chromosomes=range(1, 13), *, step=4, gap_bp=100_000, people=None,
                      chrom="1"):
    """Genotypes of several shipped regions, relabelled as consecutive stretches of one chromosome.

    Parameters
    ----------
    chromosomes : sequence of int, default 1..12
        Which shipped regions, in this order along the pseudo-chromosome.
    step : int, default 4
        Keep every ``step``-th variant of each region (after dropping monomorphic ones).
    gap_bp : int, default 100,000
        Distance between the last variant of a region and the first of the next.
    people : array of int, optional
        Keep these people of the 489 (default all).
    chrom : str, default "1"
        The pseudo-chromosome's name.

    Returns
    -------
    source : deepwas.ld.GenotypeLD
        The genotypes, with ``variants`` relabelled (``chrom``; positions increasing along the
        pseudo-chromosome; ``region`` holds the shipped chromosome each variant came from,
        ``orig_pos`` its real position). SNP identifiers and alleles are the real ones.
    """
    from ..ld import GenotypeLD, read_plink_reference

    chromosomes = [int(c) for c in chromosomes]
    geno = read_plink_reference(demo_bfiles(chromosomes))
    if people is not None:
        geno = geno.people(np.asarray(people))
    v = geno.variants
    keep, pos, region = [], [], []
    offset = 0
    for c in chromosomes:
        rows = np.flatnonzero((v["chrom"].astype(str) == str(c)).to_numpy() & ~geno.monomorphic)
        rows = rows[np.argsort(v["pos"].to_numpy()[rows], kind="stable")][::step]
        p = v["pos"].to_numpy()[rows]
        keep.append(rows)
        pos.append(p - p[0] + offset + 1)
        region.append(np.full(len(rows), c))
        offset = int(pos[-1][-1]) + gap_bp
    keep = np.concatenate(keep)
    sub = geno.subset(keep)
    table = sub.variants.copy()
    table["orig_pos"] = table["pos"].to_numpy()
    table["region"] = np.concatenate(region)
    table["chrom"] = chrom
    table["pos"] = np.concatenate(pos).astype(np.int64)
    return GenotypeLD(sub.dosages, table, fingerprint=sub._fingerprint + "|pseudo",
                      _moments=(sub.mean, sub.std))

"""One chromosome of unlinked stretches: the shipped regions end to end, or msprime loci.

The 22 regions of the embedded 1000 Genomes panel lie on different chromosomes, so nothing links
them. Laid end to end (positions offset region by region) they make a chromosome on which a
window's extended set spans several regions and the panel's correlations between regions are
pure sampling noise -- what a reference panel shows between unlinked variants of one real
chromosome. :func:`simulated_loci` does the same with loci simulated by msprime (an optional
dependency), for as many people as a design needs: the LD of a large GWAS and of a small panel
of other people. The reference-panel study (docs "LD from a reference panel") and its
regression tests use both.
"""
from __future__ import annotations

import numpy as np

from ..ld import GenotypeLD, read_plink_reference

from ._demo import demo_bfiles

__all__ = ["pseudo_chromosome", "simulated_loci"]


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


def simulated_loci(loci=12, *, n_gwas=10_000, n_ref=200, locus_bp=1_000_000, gap_bp=100_000,
                   min_maf=0.01, step=2, random_state=1, chrom="1"):
    """Independent loci simulated with msprime, end to end, for a GWAS sample and a panel.

    Human-like LD: a population of effective size 10,000, recombination 1e-8 and mutation
    1.25e-8 per bp and generation (msprime's coalescent with recombination). Each locus is
    simulated independently, so nothing links two loci.

    Parameters
    ----------
    loci : int, default 12
    n_gwas, n_ref : int, default 10,000 and 200
        Diploid people in the GWAS sample (whose LD stands for the population's) and in the
        panel (other people of the same population).
    locus_bp, gap_bp : int
        Locus length and the distance from one locus's last variant to the next's first.
    min_maf : float, default 0.01
        Biallelic sites with at least this minor allele frequency in the GWAS sample, and
        polymorphic in the panel, are kept ...
    step : int, default 2
        ... every ``step``-th of them.
    random_state : int, default 1
    chrom : str, default "1"

    Returns
    -------
    gwas, panel : deepwas.ld.GenotypeLD
        The same variants (``variants['region']`` is the locus), genotypes of the GWAS sample
        and of the panel.
    """
    import msprime  # optional: pip install msprime
    import pandas as pd

    dos, pos, region = [], [], []
    offset = 0
    seed = int(random_state)
    for locus in range(int(loci)):
        ts = msprime.sim_ancestry(samples=n_gwas + n_ref, sequence_length=locus_bp,
                                  recombination_rate=1e-8, population_size=10_000,
                                  random_seed=seed * 1000 + locus + 1)
        ts = msprime.sim_mutations(ts, rate=1.25e-8, random_seed=seed * 1000 + locus + 1)
        hap = ts.genotype_matrix()
        biallelic = (hap <= 1).all(1)
        hap = hap[biallelic].astype(np.int8)
        x = ts.tables.sites.position[biallelic]
        g = hap[:, 0::2] + hap[:, 1::2]                    # consecutive haplotypes: one person
        p = g[:, :n_gwas].mean(1) / 2
        q = g[:, n_gwas:].mean(1) / 2
        idx = np.flatnonzero((np.minimum(p, 1 - p) >= min_maf) & (q > 0) & (q < 1))[::step]
        xs = np.floor(x[idx]).astype(np.int64)
        xs = np.maximum(xs, np.r_[-1, xs[:-1]] + 1)       # distinct, increasing positions
        dos.append(g[idx])
        pos.append(xs - xs[0] + offset + 1)
        region.append(np.full(len(idx), locus))
        offset = int(pos[-1][-1]) + gap_bp
    dos = np.concatenate(dos)
    v = pd.DataFrame({"chrom": chrom, "pos": np.concatenate(pos),
                      "snp": [f"sim{i}" for i in range(len(dos))], "a1": "A", "a2": "G",
                      "region": np.concatenate(region)})
    return GenotypeLD(dos[:, :n_gwas], v), GenotypeLD(dos[:, n_gwas:], v)

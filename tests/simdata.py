"""Shared test data: real 1000 Genomes LD with simulated GWAS, and helpers to compare priors.

The estimator contract suite itself is public: :mod:`deepwas.utils.estimator_checks`.
"""
from __future__ import annotations

import functools
import os

import numpy as np

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "deepwas", "datasets", "data",
                    "1000g_eur_22regions")


@functools.lru_cache(maxsize=None)
def real_ld_stats(chroms=tuple(range(1, 11)), thin=3, window_bp=100_000, flank_bp=1_000_000,
                  ld_regularisation="none"):
    """SummaryStats on the shipped 1000 Genomes genotypes (489 EUR people), beta_hat = 0.

    The simulations drawn on them are in-sample (through the same genotypes), so the exact
    likelihood is the right model by default; pass ``ld_regularisation="mismatch"`` for the
    package's default.

    Every ``thin``-th polymorphic SNP is kept (real LD, smaller windows). Each shipped region
    spans 1 Mb, so ``flank_bp = 1 Mb`` puts every variant of a region in the extended set of
    each of its 100 kb core windows: the windowed likelihood is then exact for data simulated
    from this LD (no LD beyond the flank is ignored). For the same reason the LD is not cut at
    blocks (``ld_blocks="none"``): the simulation draws each region whole.
    """
    from deepwas.ld import read_plink_reference
    from deepwas.stats import SummaryStats

    src = read_plink_reference([os.path.join(DATA, f"1000G.subset.{c}") for c in chroms])
    keep = np.flatnonzero(~src.monomorphic)[::thin]
    sub = src.subset(keep)
    v = sub.variants
    return SummaryStats.from_arrays(
        np.zeros(len(keep)), 1e5, v["chrom"], v["pos"], sub, freq=src.mean[keep] / 2.0,
        snp=v["snp"], a1=v["a1"], a2=v["a2"], window_bp=window_bp, flank_bp=flank_bp,
        ld_regularisation=ld_regularisation, ld_blocks="none")


@functools.lru_cache(maxsize=None)
def simulated(truth="glm", h2=0.5, n=1e5, seed=0, chroms=tuple(range(1, 11)), thin=3,
              ld_regularisation="none"):
    """(stats, f_true) from :func:`deepwas.simulate.semi_synthetic` on :func:`real_ld_stats`."""
    from deepwas.simulate import semi_synthetic

    return semi_synthetic(real_ld_stats(chroms, thin=thin, ld_regularisation=ld_regularisation),
                          truth, h2=h2, n=n, random_state=seed)


def contract_set():
    """The contract-check set: windows 0, 4 and 8 of each chromosome of the GLM-truth
    simulation on every 8th SNP of chromosomes 1-4 (12 windows)."""
    sim, _ = simulated("glm", chroms=(1, 2, 3, 4), thin=8)
    keep = np.concatenate([np.flatnonzero(sim.groups == c)[[0, 4, 8]]
                           for c in ("1", "2", "3", "4")])
    return sim[keep]


def split_by_chrom(stats, test_chroms):
    test = np.isin(stats.groups, list(test_chroms))
    return stats[~test], stats[test]


def f_on(stats, full_stats, f_full):
    """Restrict values aligned with ``full_stats.variants`` to ``stats.variants``."""
    rows_full = full_stats.variants["row"].to_numpy()
    rows = stats.variants["row"].to_numpy()
    return np.asarray(f_full)[np.searchsorted(rows_full, rows)]


def log_rmse(f_hat, f_true):
    return float(np.sqrt(np.mean((np.log(f_hat) - np.log(f_true)) ** 2)))

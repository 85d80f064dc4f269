"""The LDGM population must be the statistics' own: when the statistics' allele frequencies
sit far closer to another population's column of the snplists than to the chosen one, the run
stops and names the better population. A correct population, drawn with the sampling noise of
a real reference sample, never trips the check (on the real 1000 Genomes block, every one of
its five populations)."""
import os

import numpy as np
import pandas as pd
import pytest
from test_io_ldgm import _precision, write_ldgm

import deepwas
from deepwas.io.ldgm import LDGMSource

POPS = ["EUR", "EAS", "AMR", "SAS", "AFR"]


def _sumstats(snplist, pop, rng, n_people=500, k=400):
    """Statistics of ``k`` snplist variants whose FREQ is ``pop``'s frequency of the derived
    allele as a sample of ``n_people`` would measure it; effect allele = derived allele for
    half of them, ancestral for the other half (FREQ then counts the ancestral allele)."""
    s = snplist.drop_duplicates("index").sample(k, random_state=1).reset_index(drop=True)
    f = rng.binomial(2 * n_people, s[pop].to_numpy()) / (2 * n_people)
    swap = rng.random(k) < 0.5
    return pd.DataFrame({"SNP": s["site_ids"], "A1": np.where(swap, s.anc_alleles, s.deriv_alleles),
                         "A2": np.where(swap, s.deriv_alleles, s.anc_alleles),
                         "FREQ": np.where(swap, 1 - f, f), "Z": rng.normal(size=k), "N": 1e5})


def _fit_population(folder, ss, population):
    return deepwas.SummaryStats.from_ldgm(folder, ss, population=population,
                                          keep_ambiguous=True, check_build=False)


def _relabelled(tmp_path, folder, name, pop):
    """The files of one block with the population of the metadata row set to ``pop``: the
    precision matrix stays the same, only the frequency column read changes."""
    tmp_path.mkdir()
    meta = pd.read_csv(folder / "metadata.csv")
    os.symlink(os.path.abspath(folder / meta["snplistName"].iat[0]),
               tmp_path / meta["snplistName"].iat[0])
    os.symlink(os.path.abspath(folder / meta["name"].iat[0]), tmp_path / f"{name}.{pop}.edgelist")
    meta.assign(population=pop, name=f"{name}.{pop}.edgelist").to_csv(tmp_path / "metadata.csv",
                                                                      index=False)
    return tmp_path


@pytest.fixture
def synthetic(tmp_path):
    """A block whose EUR and AFR columns differ as much as real ones (mean |d| ~ 0.09)."""
    rng = np.random.default_rng(11)
    n = 300
    eur = rng.beta(0.5, 0.5, n).clip(0.01, 0.99)
    afr = np.clip(eur + rng.normal(0, 0.12, n), 0, 1)
    bases = np.array(list("ACGT"))
    anc = bases[rng.integers(0, 4, n)]
    der = np.array([bases[(np.flatnonzero(bases == a)[0] + 1) % 4] for a in anc])
    snp = pd.DataFrame({"index": np.arange(n), "anc_alleles": anc, "deriv_alleles": der,
                        "EUR": eur.round(4), "AFR": afr.round(4),
                        "site_ids": [f"rs{k}" for k in range(n)],
                        "position": 1_000_000 + 100 * np.arange(n), "swap": "+"})
    d = tmp_path / "ldgm"
    d.mkdir()
    write_ldgm(d, "1kg_chr22_1000000_2000000", "22", 1_000_000, _precision(n, rng), snp)
    return d, snp


def test_wrong_population_is_refused_and_the_better_one_named(synthetic, tmp_path):
    d, snp = synthetic
    rng = np.random.default_rng(0)
    ss = _sumstats(snp, "EUR", rng, k=250)
    assert len(_fit_population(d, ss, "EUR").variants) == 250
    afr = _relabelled(tmp_path / "afr", d, "1kg_chr22_1000000_2000000", "AFR")
    with pytest.raises(ValueError, match=r"fit the EUR column .* far better than AFR.*"
                                         r"population='EUR'"):
        _fit_population(afr, ss, "AFR")
    # statistics of the other ancestry fit AFR: accepted
    assert len(_fit_population(afr, _sumstats(snp, "AFR", rng, k=250), "AFR").variants) == 250


def test_an_edgelist_of_another_population_than_asked_is_refused(synthetic):
    d, _ = synthetic
    with pytest.raises(ValueError, match=r"EUR.edgelist is the LD of population EUR but the "
                                         r"population asked for is AFR"):
        LDGMSource(d / "1kg_chr22_1000000_2000000.EUR.edgelist", population="AFR")


@pytest.mark.parametrize("truth", POPS)
def test_real_block_correct_population_passes_wrong_ones_are_refused(ldgm_block, tmp_path, truth):
    """On the real chr1 block: statistics whose frequencies are ``truth``'s (measured in 500
    people, the size of a 1000 Genomes population) pass with ``truth``, and are refused with
    a population whose frequencies are far off (AFR against any other, and back)."""
    snp = pd.read_csv(ldgm_block / "1kg_chr1_2888443_4320284.snplist")
    ss = _sumstats(snp, truth, np.random.default_rng(POPS.index(truth)))
    name = "1kg_chr1_2888443_4320284"
    for pop in POPS:
        folder = _relabelled(tmp_path / pop, ldgm_block, name, pop)
        far = (pop == "AFR") != (truth == "AFR")
        if pop == truth:
            assert _fit_population(folder, ss, pop).n_variants > 150
        elif far:
            with pytest.raises(ValueError, match=f"fit the {truth} column"):
                _fit_population(folder, ss, pop)


def test_real_block_an_admixed_cohort_is_not_refused(ldgm_block, tmp_path):
    """Statistics of a cohort between two populations (frequencies 60 % EUR, 40 % AMR, as an
    admixed American cohort with more European ancestry than 1000 Genomes AMR) sit closer to
    EUR than to AMR, but not far closer: AMR is accepted."""
    snp = pd.read_csv(ldgm_block / "1kg_chr1_2888443_4320284.snplist")
    mixed = snp.assign(MIX=0.6 * snp["EUR"] + 0.4 * snp["AMR"])
    ss = _sumstats(mixed, "MIX", np.random.default_rng(3))
    folder = _relabelled(tmp_path / "AMR", ldgm_block, "1kg_chr1_2888443_4320284", "AMR")
    assert _fit_population(folder, ss, "AMR").n_variants > 150

"""Parity with a real S-LDSC run (tests/data/ldsc_reference: 1000 Genomes 22 regions, one
simulated GWAS; truth h2 = 0.02, Enrichment(A) = 2.78, Enrichment(B) = 0.99).

The same inputs (sumstats, annotations base/A/B, the panel's genotypes for LD) go through
``GLMPrior(solver="ldsr", model_params={"link": "identity"})`` and ``partitioned_h2`` with 200
jackknife blocks. Tolerance: each estimate within 2 S-LDSC standard errors of S-LDSC's (the two
estimators differ -- S-LDSC's IRWLS weights with a free intercept, its chi2 > 100 filter and its
1-cM LD-score window with r2 bias-corrected, against our fixed sigma2 = 1, all variants and the
panel's own R2 over each window's extended set -- so their difference is a noise of the order
of one SE, not zero), and our jackknife SEs within a factor 1.5 of S-LDSC's.
Measured (OMP_NUM_THREADS=1): h2 0.0233 (0.0015) vs 0.0211 (0.0016); Enrichment(A) 3.05
(0.31) vs 3.19 (0.28); Enrichment(B) 1.12 (0.11) vs 1.02 (0.10). (With ldsc's own weights, before
the local LD score in their second factor, fitting/_ldsr.py: h2 0.0221 (0.0012), Enrichment(A)
3.12 (0.29), Enrichment(B) 1.12 (0.10).)
"""
import os
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas.features.annot import AnnotFeatures

from conftest import TEST_DATA, bfile

REF = os.path.join(TEST_DATA, "ldsc_reference")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def both():
    annot = os.path.join(REF, "annot.@.annot.gz")
    stats = deepwas.SummaryStats.from_plink(
        [bfile(c) for c in range(1, 23)], os.path.join(REF, "sim.sumstats.gz"),
        keep_ambiguous=True, features=AnnotFeatures(annot, columns=["A", "B"]),
        window_bp=100_000, flank_bp=1_000_000, ld_regularisation="none", ld_blocks="none")
    est = deepwas.GLMPrior(solver="ldsr", model_params={"link": "identity"}).fit(stats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # 'base' is constant (Enrichment 1, no test)
        ours = est.partitioned_h2(stats, annot, n_blocks=200)
    theirs = pd.read_csv(os.path.join(REF, "sim_h2.results"), sep="\t")
    log = open(os.path.join(REF, "sim_h2.log")).read()
    h2, h2_se = map(float, re.search(r"Total Observed scale h2: (\S+) \((\S+)\)", log).groups())
    return ours, theirs, h2, h2_se


def test_total_h2(both):
    ours, _, h2, h2_se = both
    assert ours.attrs["n_variants"] == 82448 and ours.attrs["n_blocks"] == 200
    assert abs(ours.attrs["h2"] - h2) < 2 * h2_se
    assert 1 / 1.5 < ours.attrs["h2_std_error"] / h2_se < 1.5


@pytest.mark.parametrize("column", ["Prop._h2", "Enrichment"])
def test_prop_h2_and_enrichment(both, column):
    ours, theirs, _, _ = both
    assert list(ours["Category"]) == ["base", "A", "B"]
    np.testing.assert_allclose(ours["Prop._SNPs"], theirs["Prop._SNPs"], rtol=1e-6)
    for i in (1, 2):
        se = theirs[column + "_std_error"][i]
        assert abs(ours[column][i] - theirs[column][i]) < 2 * se, (column, i)
        assert 1 / 1.5 < ours[column + "_std_error"][i] / se < 1.5
    assert ours["Enrichment"][0] == 1.0 and np.isnan(ours["Enrichment_p"][0])
    assert ours["Enrichment_p"][1] < 1e-6 < ours["Enrichment_p"][2]   # A enriched, B not

"""The reference-panel study's own bookkeeping (benchmarks/study_reference_panel.py): its
results decide the default, so the panels a cell's replicates cycle through, and the bias
and its SE it reports, must be what the docs say they are."""
import importlib.util
import os

import numpy as np
import pandas as pd
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _benchmark(name):
    """The module ``benchmarks/<name>.py`` (benchmarks are scripts, not a package)."""
    path = os.path.join(HERE, "..", "benchmarks", name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def study():
    return _benchmark("study_reference_panel")


def test_disjoint_panels_know_every_variant(study):
    pytest.importorskip("msprime")
    D = study.msprime_panel(n_ref=25, n_gwas=200, loci=2, panels=3)
    Qs, P = D["Qs"], D["P"]
    assert len(Qs) == 3 and D["Q"] is Qs[0]
    assert all(Q.n_ref == 25 for Q in Qs) and P.n_ref == 200
    # the same variants in the GWAS sample and in every panel, none of them monomorphic there
    assert all(len(Q.variants) == len(P.variants) == len(D["annot"]) for Q in Qs)
    assert not np.any([Q.monomorphic for Q in Qs])
    # different people: the panels' frequencies differ
    assert not np.allclose(Qs[0].mean, Qs[1].mean) and not np.allclose(Qs[1].mean, Qs[2].mean)
    # replicates cycle through the panels; in-sample designs read the GWAS's own LD
    assert study.panel_count("realistic", D) == 3
    assert study.panel_count("realistic-in-sample", D) == 1
    assert study.ld_source(D, "realistic", 2) is Qs[2]
    assert study.ld_source(D, "realistic-in-sample", 2) is P


def test_summary_bias_and_its_se(study):
    rng = np.random.default_rng(0)
    h2 = 0.05 * (1 + 0.1 * rng.standard_normal(8))
    enr = 2.0 * (1 + 0.2 * rng.standard_normal(8))
    rows = pd.DataFrame(dict(design="realistic", n_ref=200, h2_true=0.05, model="m",
                             rep=range(8), h2=h2, h2_se=0.005, enrichment=enr,
                             enrichment_se=0.4, enrichment_true=2.0, seconds=1.0,
                             panels=[4] * 4 + [np.nan] * 4))
    table = study.summarise(rows)
    # rows without a panels column (runs before --panels) count one panel: two cells
    assert table["panels"].tolist() == [1, 4] and table["reps"].tolist() == [4, 4]
    one = table.iloc[1]
    e = h2[:4] - 0.05
    assert one["h2_bias"] == pytest.approx(e.mean() / 0.05)
    assert one["h2_bias_se"] == pytest.approx(e.std(ddof=1) / 2 / 0.05)
    assert one["enr_bias_se"] == pytest.approx((enr[:4] - 2).std(ddof=1) / 2 / 2.0)


def test_coverage_of_the_reported_t_interval(study):
    """Coverage is counted for +-1.96 SE and for the package's own interval, +-t SE with
    n_blocks - 1 degrees of freedom (2.776 for 5 blocks); unknown without n_blocks."""
    z = np.array([0.5, 1.5, 2.0, 2.5, 3.0, -2.2, -0.1, 2.9])      # error / SE
    rows = pd.DataFrame(dict(design="realistic", n_ref=200, h2_true=0.05, model="m",
                             rep=range(8), h2=0.05 + 0.001 * z, h2_se=0.001,
                             enrichment=2.0 - 0.1 * z, enrichment_se=0.1,
                             enrichment_true=2.0, seconds=1.0, panels=1, n_blocks=5))
    one = study.summarise(rows).iloc[0]
    assert one["h2_cover"] == pytest.approx(3 / 8) and one["enr_cover"] == pytest.approx(3 / 8)
    assert one["h2_cover_t"] == pytest.approx(6 / 8)
    assert one["enr_cover_t"] == pytest.approx(6 / 8)
    older = study.summarise(rows.drop(columns="n_blocks")).iloc[0]
    assert np.isnan(older["h2_cover_t"]) and older["h2_cover"] == one["h2_cover"]


def test_sldsc_runner_writes_the_panel_it_was_given(tmp_path):
    """S-LDSC computes its LD scores from these PLINK files: they must hold the panel's own
    genotypes, variant for variant (an allele or a transpose wrong would give ldsc other LD)."""
    write_plink = _benchmark("sldsc_runner").write_plink
    from deepwas.ld import GenotypeLD, read_plink_reference
    rng = np.random.default_rng(3)
    dos = rng.integers(0, 3, size=(7, 40)).astype(np.int8)   # 7 variants, 40 people
    v = pd.DataFrame({"chrom": "1", "pos": np.arange(7) * 100 + 5,
                      "snp": [f"s{i}" for i in range(7)], "a1": "A", "a2": "G"})
    write_plink(str(tmp_path / "panel"), GenotypeLD(dos, v))
    back = read_plink_reference(str(tmp_path / "panel"))
    assert back.n_ref == 40
    np.testing.assert_array_equal(back.dosages, dos)
    assert list(back.variants["snp"]) == list(v["snp"])
    assert list(back.variants["pos"]) == list(v["pos"])

"""SBayesRC eigen-LD blocks: written here from real 1000 Genomes LD (the shipped chr22 panel,
two blocks) in GCTB's binary layout, read back, and their eigenbasis handed to the window
precompute without an eigendecomposition; likelihoods equal the dense path on the same LD."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas.io.sbayesrc import SBayesRCLD, read_eigen_block, write_sbayesrc_ld
from deepwas.ld import LDSource, read_plink_reference

DATA = Path(deepwas.__file__).parent / "datasets" / "data" / "1000g_eur_22regions"
BOLT = DATA / "bolt.sumstats.txt.gz"


@pytest.fixture(scope="module")
def ref():
    return read_plink_reference([str(DATA / "1000G.subset.22")])


@pytest.fixture(scope="module")
def blocks(ref):
    pos = ref.variants["pos"].to_numpy()
    cut = int(np.searchsorted(pos, np.median(pos)))
    return [np.arange(cut), np.arange(cut, len(ref))]


@pytest.fixture(scope="module")
def folder(ref, blocks, tmp_path_factory):
    d = tmp_path_factory.mktemp("sbayesrc")
    kept = write_sbayesrc_ld(ref, blocks, d, var_prop=0.995)
    assert all(0 < k < 489 for k in kept)     # a 489-person panel: rank below 489
    return d


class DenseOf(LDSource):
    """The same LD blocks with the default (dense eigendecomposition) precompute."""

    def __init__(self, src):
        self.src, self.variants = src, src.variants

    def block(self, rows, cols):
        return self.src.block(rows, cols)

    def natural_windows(self):
        return self.src.natural_windows()


def test_round_trip(ref, blocks, folder):
    src = SBayesRCLD(folder)
    v = src.variants
    for c in ("chrom", "pos", "snp", "a1", "a2"):
        np.testing.assert_array_equal(v[c].to_numpy(), ref.variants[c].to_numpy())
    np.testing.assert_allclose(v["freq"], ref.mean / 2, atol=1e-6)
    assert src.panel_size == 489 and len(src.natural_windows()) == 2
    b0, b1 = blocks
    U, lam = src.eigen(0)
    assert U.dtype == np.float32 and np.all(np.diff(lam) <= 0)
    np.testing.assert_allclose(U.T.astype(float) @ U, np.eye(len(lam)), atol=1e-5)
    R = ref.block(b0, b0)
    B = src.block(b0, b0)
    # truncated at 99.5% of the variance: close to R, and exactly U lam U^T
    assert np.abs(B - R).max() < 0.1 and np.linalg.norm(B - R) / np.linalg.norm(R) < 0.08
    np.testing.assert_allclose(B, (U * lam).astype(float) @ U.T.astype(float), atol=1e-5)
    assert np.all(src.block(b0, b1) == 0)
    # every positive eigenvalue kept: R itself, to float32 precision
    full = folder.parent / "full"
    write_sbayesrc_ld(ref, blocks, full, var_prop=1.0)
    np.testing.assert_allclose(SBayesRCLD(full).block(b1, b1), ref.block(b1, b1), atol=2e-5)


def test_file_order_var_prop_and_bad_files(ref, blocks, folder, tmp_path):
    asc = tmp_path / "asc"
    write_sbayesrc_ld(ref, blocks, asc, var_prop=0.995, ascending=True)
    U1, l1, _, _ = read_eigen_block(str(folder / "block1.eigen.bin"))
    U2, l2, _, _ = read_eigen_block(str(asc / "block1.eigen.bin"))
    np.testing.assert_array_equal(l1, l2)
    np.testing.assert_allclose(np.abs(U1), np.abs(U2), atol=1e-6)
    small = SBayesRCLD(folder, var_prop=0.99)
    assert len(small.eigen(0)[1]) < len(SBayesRCLD(folder).eigen(0)[1])
    with pytest.raises(ValueError, match="asks for more"):
        SBayesRCLD(folder, var_prop=0.999).eigen(0)
    bad = tmp_path / "bad"
    write_sbayesrc_ld(ref, blocks, bad, var_prop=0.995)
    raw = (bad / "block2.eigen.bin").read_bytes()
    (bad / "block2.eigen.bin").write_bytes(raw[:-100])
    with pytest.raises(ValueError, match="truncated or not this format"):
        SBayesRCLD(bad).eigen(1)
    (bad / "block2.eigen.bin").unlink()
    with pytest.raises(FileNotFoundError, match="block2.eigen.bin"):
        SBayesRCLD(bad)
    info = pd.read_csv(folder / "ldm.info", sep=" ").assign(NumSnps=5)
    info.to_csv(tmp_path / "ldm.info", sep=" ", index=False)
    (tmp_path / "snp.info").write_bytes((folder / "snp.info").read_bytes())
    with pytest.raises(ValueError, match="NumSnps disagrees"):
        SBayesRCLD(tmp_path)


@pytest.mark.parametrize("coverage", ["full", "partial"])
def test_eigenbasis_handed_to_the_precompute(folder, monkeypatch, coverage):
    src = SBayesRCLD(folder)
    ss = deepwas.io.read_sumstats(BOLT, n=489)
    ss = ss[ss.SNP.isin(src.variants["snp"])]
    if coverage == "partial":
        ss = ss.iloc[np.random.default_rng(0).random(len(ss)) < 0.7]
    kw = dict(sigma2=0.9, keep_ambiguous=True)
    dense = deepwas.SummaryStats.from_ld_source(DenseOf(src), ss, **kw)
    f = np.full(dense.n_variants, 0.1 / dense.n_variants)
    expect = deepwas.marginal_loglik(dense, f, relative_to_null=True, per_window=True)

    def no_dense(*a, **k):
        raise AssertionError("a dense eigendecomposition was run")

    if coverage == "full":      # the stored eigenbasis is used as it is
        monkeypatch.setattr("deepwas.windows.eigenbasis_from_blocks", no_dense)
    st = deepwas.SummaryStats.from_ld_source(src, ss, **kw)
    assert len(st) == 2 and st.n_variants == dense.n_variants
    got = deepwas.marginal_loglik(st, f, relative_to_null=True, per_window=True)
    np.testing.assert_allclose(got, expect, rtol=1e-7)
    full = deepwas.marginal_loglik(st, f)
    assert np.isfinite(full)

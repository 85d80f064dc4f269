"""LDGM LD source: graphREML parity on the real 1000 Genomes block shipped in tests/data/ldgm, and
small LDGMs written here (a random sparse precision matrix) for the LD blocks, the windows, the
merging of variants that share an index and the bad inputs."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import deepwas
from deepwas.io import harmonise
from deepwas.io.ldgm import LDGMSource


def _precision(n, rng, density=0.05):
    """A sparse symmetric positive definite precision matrix whose inverse is near a
    correlation matrix (diagonal near, not exactly, 1)."""
    A = sp.random(n, n, density=density, random_state=rng, data_rvs=rng.standard_normal)
    P = (A @ A.T).toarray() * 0.3 + np.eye(n)
    d = np.sqrt(np.diag(np.linalg.inv(P)))
    return P * np.outer(d, d)


def write_ldgm(folder, name, chrom, start, P, variants, pop="EUR", meta=True):
    """Write ``{name}.{pop}.edgelist`` (upper triangle i <= j, as the real files), the
    snplist and (optionally) a metadata.csv row."""
    i, j = np.nonzero(np.triu(P))
    pd.DataFrame({"i": i, "j": j, "v": P[i, j]}).to_csv(folder / f"{name}.{pop}.edgelist",
                                                        header=False, index=False)
    variants.to_csv(folder / f"{name}.snplist", index=False)
    if meta:
        row = pd.DataFrame([{"chrom": chrom, "chromStart": start, "chromEnd": start + 10 ** 6,
                             "name": f"{name}.{pop}.edgelist", "snplistName": f"{name}.snplist",
                             "population": pop, "numVariants": len(variants),
                             "numIndices": int((np.diag(P) != 0).sum()),
                             "numEntries": len(i), "info": ""}])
        path = folder / "metadata.csv"
        row.to_csv(path, mode="a", header=not path.exists(), index=False)


def _snplist(n_idx, chrom, start, rng, extra=()):
    """One variant per index, plus ``extra`` (index, ...) variants sharing an index."""
    idx = list(range(n_idx)) + list(extra)
    pos = start + 100 * np.arange(len(idx)) + 1
    bases = np.array(list("ACGT"))
    anc = bases[rng.integers(0, 4, len(idx))]
    der = np.array([bases[(np.flatnonzero(bases == a)[0] + 1 + k) % 4]
                    for a, k in zip(anc, rng.integers(0, 3, len(idx)))])
    return pd.DataFrame({"index": idx, "anc_alleles": anc, "deriv_alleles": der,
                         "EUR": rng.uniform(0.05, 0.95, len(idx)), "EAS": 0.5,
                         "site_ids": [f"rs{start + k}" for k in range(len(idx))],
                         "position": pos, "swap": "+"})


@pytest.fixture(scope="module")
def two_blocks(tmp_path_factory):
    rng = np.random.default_rng(3)
    d = tmp_path_factory.mktemp("ldgm")
    Ps = []
    for k, (start, n) in enumerate([(1_000_000, 60), (2_000_000, 40)]):
        P = _precision(n, rng)
        if k == 0:          # index 7 has no variant of the model: zero row and column
            P[7, :] = P[:, 7] = 0.0
        Ps.append(P)
        write_ldgm(d, f"1kg_chr22_{start}_{start + 10 ** 6}", "22", start, P,
                   _snplist(n, "22", start, rng, extra=[3, 3, 10] if k == 0 else []))
    return d, Ps


def test_blocks_are_the_inverse_of_the_precision_on_its_indices(two_blocks):
    d, Ps = two_blocks
    src = LDGMSource(d / "metadata.csv")
    v = src.variants
    assert len(src.blocks) == 2 and list(src.blocks["n_indices"]) == [59, 40]
    assert 7 not in set(v["index"][v["block"] == 0])           # zero diagonal: dropped
    assert (v["a1"] == v["a1"]).all() and src.genome_build == "GRCh38"
    keep = np.r_[0:7, 8:60]
    R0 = np.linalg.inv(Ps[0][np.ix_(keep, keep)])
    R1 = np.linalg.inv(Ps[1])
    b0 = np.flatnonzero(~v["ld_index"].duplicated().to_numpy() & (v["block"] == 0).to_numpy())
    b1 = np.flatnonzero((v["block"] == 1).to_numpy())
    np.testing.assert_allclose(src.block(b0, b0), R0, atol=1e-12)
    np.testing.assert_allclose(src.block(b1, b1), R1, atol=1e-12)
    assert not np.allclose(np.diag(R0), 1.0)                   # no unit diagonal forced
    # a few rows against many columns (column solves) and across blocks (zero)
    np.testing.assert_allclose(src.block(b0[:5], b0), R0[:5], atol=1e-12)
    assert np.all(src.block(b0, b1) == 0)
    # variants sharing an index have identical rows
    shared = np.flatnonzero((v["block"] == 0).to_numpy() & (v["index"] == 3).to_numpy())
    assert len(shared) == 3
    B = src.block(shared, b0)
    np.testing.assert_array_equal(B[0], B[1])
    # windows: one per block; the eigenbasis reproduces R on the block
    wins = src.natural_windows()
    assert len(wins) == 2 and all(np.array_equal(c, e) for c, e in wins)
    U, lam, G = src.eigenbasis(b1, b1, 1e-10)
    np.testing.assert_allclose((U * lam) @ U.T, R1, atol=1e-10)
    np.testing.assert_allclose(G @ G.T, R1, atol=1e-10)
    assert len(src.window_key(b0, b0)) == 64 and src.window_key(b0, b0) != src.window_key(b1, b1)


def test_one_variant_per_index_is_kept_and_the_merges_counted(two_blocks):
    d, _ = two_blocks
    src = LDGMSource(d / "metadata.csv")
    v = src.variants
    ss = pd.DataFrame({"SNP": v["snp"], "A1": v["a1"], "A2": v["a2"],
                       "Z": np.linspace(-2, 2, len(v)), "N": 1000.0,
                       "CHR": v["chrom"], "BP": v["pos"]})
    h = harmonise(src, ss, keep_ambiguous=True)
    assert h.drop_counts["merged_same_ld_index"] == 3
    kept = h.table["snp"]
    first = v.drop_duplicates("ld_index", keep="first")["snp"]       # genome order
    assert set(kept) == set(first)
    st = deepwas.SummaryStats.from_ld_source(src, ss, keep_ambiguous=True)
    assert len(st) == 2 and st.n_variants == 99
    assert np.isfinite(deepwas.marginal_loglik(st, np.full(99, 1e-4), relative_to_null=True))
    tiled = LDGMSource(d / "metadata.csv", block_windows=False)
    assert tiled.natural_windows() is None


def test_edgelist_and_folder_inputs(two_blocks):
    d, _ = two_blocks
    a = LDGMSource(d)
    b = LDGMSource(sorted(d.glob("*.EUR.edgelist")))
    pd.testing.assert_frame_equal(a.variants, b.variants)
    with pytest.raises(ValueError, match="population 'AFR'"):
        LDGMSource(d, population="AFR")


def test_snplist_that_does_not_match_its_edgelist(tmp_path):
    rng = np.random.default_rng(0)
    P = _precision(20, rng)
    write_ldgm(tmp_path, "1kg_chr1_1_2", "1", 1, P, _snplist(15, "1", 1, rng), meta=False)
    with pytest.raises(ValueError, match="refers to index 19 but the snplist lists indices 0..14"):
        LDGMSource(tmp_path / "1kg_chr1_1_2.EUR.edgelist")
    # an index of the precision with no variant
    snp = _snplist(20, "1", 1, rng)
    snp.loc[snp["index"] == 5, "index"] = 4
    write_ldgm(tmp_path, "1kg_chr1_1_2", "1", 1, P, snp, meta=False)
    with pytest.raises(ValueError, match="1 indices of the precision matrix have no variant"):
        LDGMSource(tmp_path / "1kg_chr1_1_2.EUR.edgelist")
    # metadata counts that disagree with the files
    write_ldgm(tmp_path, "1kg_chr1_1_2", "1", 1, P, _snplist(20, "1", 1, rng))
    meta = pd.read_csv(tmp_path / "metadata.csv").assign(numVariants=99)
    meta.to_csv(tmp_path / "metadata.csv", index=False)
    with pytest.raises(ValueError, match="numVariants is 99 there but 20"):
        LDGMSource(tmp_path / "metadata.csv")
    # both triangles written
    e = tmp_path / "1kg_chr1_1_2.EUR.edgelist"
    lines = e.read_text().splitlines()
    i, j, val = lines[-2].split(",") if lines[-2].split(",")[0] != lines[-2].split(",")[1] \
        else lines[1].split(",")
    e.write_text("\n".join(lines + [f"{j},{i},{val}"]) + "\n")
    with pytest.raises(ValueError, match="listed twice"):
        LDGMSource(e)


@pytest.mark.slow            # one window of 5,354 variants: its eigendecomposition dominates
def test_graphreml_parity_on_the_real_block(ldgm_block):
    """The log-likelihood gain of graphld's prior f on the real chr1 EUR block (5,354 indices),
    through LDGMSource, SummaryStats and marginal_loglik, equals graphREML's."""
    ref = np.load(ldgm_block / "graphld_reference.npz")
    src = LDGMSource(ldgm_block / "metadata.csv", population="EUR")
    assert len(src.variants) == 5790 and src.blocks["n_indices"].iat[0] == 5354
    # one row per index as graphld's README made them: derived allele = A1, z of the derived
    ss = pd.DataFrame({"SNP": ref["snp"], "CHR": "1", "BP": ref["pos"], "A1": ref["a1"],
                       "A2": ref["a2"], "Z": ref["z"], "N": float(ref["n"])})
    # graphREML's likelihood is the exact one (no LD regularisation)
    st = deepwas.SummaryStats.from_ld_source(src, ss, sigma2=1.0, keep_ambiguous=True,
                                             ld_regularisation="none")
    c = st.drop_counts
    assert st.n_variants == 5354 and len(st) == 1 and c["not_in_reference"] == 0
    assert c["matched_by_position"] == 2 and c["merged_same_ld_index"] == 0   # the idx<k> rows
    f = np.array(pd.Series(ref["f"], index=ref["pos"]).loc[st.variants["pos"].to_numpy()])
    gain = deepwas.marginal_loglik(st, f, relative_to_null=True)
    assert gain == pytest.approx(float(ref["gain"]), abs=1e-6)
    assert st.n == ref["n"]

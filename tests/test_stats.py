"""SummaryStats: windows, slicing, allele alignment, the factor cache and bad input."""
import logging
import os

import numpy as np
import pandas as pd
import pytest

from deepwas import SummaryStats, marginal_loglik
from deepwas.io.alignment import align_alleles
from deepwas.memory_pool import POOL
from deepwas.windows import make_windows

from conftest import bfile


@pytest.fixture(scope="module")
def small(geno22):
    X, variants, R = geno22
    sel = np.arange(0, 900)
    rng = np.random.default_rng(5)
    beta = rng.normal(size=len(sel)) * 0.003
    v = variants.iloc[sel]
    return dict(beta_hat=beta, n=100_000, chrom=v["chrom"].to_numpy(), pos=v["pos"].to_numpy(),
                ld=R[np.ix_(sel, sel)], snp=v["snp"].to_numpy(), a1=v["a1"].to_numpy(),
                a2=v["a2"].to_numpy())


def build(small, **kw):
    args = dict(small)
    args.update(kw)
    return SummaryStats.from_arrays(args.pop("beta_hat"), args.pop("n"), args.pop("chrom"),
                                    args.pop("pos"), args.pop("ld"), **args)


# --- windows -----------------------------------------------------------------------------------
def test_make_windows_tiles_and_flanks():
    chrom = np.array(["1"] * 6 + ["2"] * 3, dtype=object)
    pos = np.array([5, 15, 25, 26, 41, 95, 1, 2, 300])
    windows, wchrom = make_windows(chrom, pos, window_bp=10, flank_bp=10)
    cores = [list(c) for c, _ in windows]
    exts = [list(e) for _, e in windows]
    assert cores == [[0], [1], [2, 3], [4], [5], [6, 7], [8]]
    assert exts[0] == [0, 1]            # 5 +- 10 reaches 15
    assert exts[2] == [1, 2, 3]         # 25..26 +- 10 reaches 15 but not 41
    assert exts[3] == [4]
    assert list(wchrom) == ["1"] * 5 + ["2"] * 2
    with pytest.raises(ValueError, match="contiguous"):
        make_windows(np.array(["1", "2", "1"], dtype=object), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="window_bp"):
        make_windows(chrom, pos, window_bp=0)


def test_unsorted_input_is_sorted_consistently(small):
    st = build(small, window_bp=200_000, flank_bp=50_000)
    perm = np.random.default_rng(0).permutation(len(small["beta_hat"]))
    shuffled = {k: (v[perm] if isinstance(v, np.ndarray) and v.ndim == 1 else v)
                for k, v in small.items()}
    shuffled["ld"] = small["ld"][np.ix_(perm, perm)]
    st2 = build(shuffled, window_bp=200_000, flank_bp=50_000)
    pd.testing.assert_frame_equal(st.variants, st2.variants)
    f = np.full(st.n_variants, 1e-6)
    assert np.isclose(marginal_loglik(st, f), marginal_loglik(st2, f), rtol=1e-10)


# --- slicing -------------------------------------------------------------------------------------
def test_slicing_semantics(small):
    st = build(small, window_bp=50_000, flank_bp=30_000)
    L = len(st)
    assert L >= 4 and st.shape == (L,)
    assert not hasattr(st, "fit")
    assert list(st.groups) == ["22"] * L
    for idx in (1, -1, slice(1, 3), np.array([0, 2]), np.arange(L) % 2 == 0,
                (np.array([3, 1]), Ellipsis)):
        sub = st[idx]
        assert isinstance(sub, SummaryStats)
    assert len(st[1]) == 1 and len(st[1:3]) == 2 and len(st[(np.array([3, 1]), Ellipsis)]) == 2
    sub = st[np.array([2, 0])]
    # variants: union of the windows' extended sets, genome order, one row per variant
    full = st.variants
    want = np.unique(np.concatenate([st.windows[2][1], st.windows[0][1]]))
    pd.testing.assert_frame_equal(sub.variants.reset_index(drop=True),
                                  full.iloc[want].reset_index(drop=True))
    # windows re-indexed into the slice's variants
    for (c, e), (c0, e0) in zip(sub.windows, [st.windows[2], st.windows[0]]):
        assert list(sub.variants["snp"][c]) == list(full["snp"][c0])
        assert list(sub.variants["snp"][e]) == list(full["snp"][e0])
    # per-window likelihood is the same in the slice and the whole
    f_full = np.full(st.n_variants, 2e-6)
    pw = marginal_loglik(st, f_full, per_window=True)
    pw_sub = marginal_loglik(sub, f_full[sub.variants["row"].to_numpy()], per_window=True)
    np.testing.assert_allclose(pw_sub, pw[[2, 0]], rtol=1e-12)
    with pytest.raises(IndexError):
        st[L]
    with pytest.raises(IndexError):
        st[np.ones(L + 1, dtype=bool)]


def test_sklearn_indexing_and_group_kfold(small):
    from sklearn.model_selection import GroupKFold
    from sklearn.utils import _safe_indexing

    st = build(small, window_bp=50_000)
    sub = _safe_indexing(st, np.array([0, 3]))
    assert isinstance(sub, SummaryStats) and len(sub) == 2
    # two "chromosomes" are needed for group splits: relabel via a two-chromosome build
    chrom = np.where(np.arange(len(small["chrom"])) < 450, "21", "22").astype(object)
    ld = small["ld"].copy()
    ld[:450, 450:] = 0.0
    ld[450:, :450] = 0.0
    st2 = build(small, chrom=chrom, ld=ld, window_bp=50_000)
    splits = list(GroupKFold(n_splits=2).split(np.zeros(len(st2)), groups=st2.groups))
    for train, test in splits:
        assert set(st2[train].groups).isdisjoint(set(st2[test].groups))


def test_slices_share_factor_cache(small):
    st = build(small, window_bp=150_000)
    st.precompute()
    computed = st._data.cache.hits["computed"]
    st[1:3].precompute()
    assert st._data.cache.hits["computed"] == computed


def test_factor_memory_is_m_by_r(small):
    st = build(small, window_bp=300_000, flank_bp=100_000)
    for k, (c, e) in enumerate(st.windows):
        wf = st.window_factors(k)
        assert wf.G.shape == (len(e), wf.rank) and wf.rank <= min(len(c), 488)


# --- on-disk cache --------------------------------------------------------------------------------
def test_disk_cache_reuse_invalidation_and_repair(small, tmp_path, caplog):
    kw = dict(window_bp=300_000, flank_bp=50_000, cache_dir=tmp_path)
    st = build(small, **kw).precompute()
    files = sorted(os.listdir(tmp_path))
    assert len(files) == len(st) and all(f.endswith(".npz") for f in files)
    f = np.full(st.n_variants, 1e-6)
    ref = marginal_loglik(st, f)

    POOL.clear()          # as a new process would: nothing in memory, the files on disk
    st2 = build(small, **kw)
    assert marginal_loglik(st2, f) == ref
    assert st2._data.cache.hits["disk"] == len(st2) and st2._data.cache.hits["computed"] == 0

    # a changed input gets new entries, never the stale ones
    changed = dict(small, beta_hat=small["beta_hat"] * 1.5)
    st3 = build(changed, **kw).precompute()
    assert st3._data.cache.hits["computed"] == len(st3)
    assert len(os.listdir(tmp_path)) == 2 * len(st)

    # corrupt one file and truncate another: both detected, rebuilt, same answer
    p1, p2 = (os.path.join(tmp_path, x) for x in files[:2])
    with open(p1, "r+b") as fh:
        fh.seek(400)
        fh.write(b"\x00garbage\x00" * 8)
    with open(p2, "r+b") as fh:
        fh.truncate(100)
    POOL.clear()
    with caplog.at_level(logging.WARNING):
        st4 = build(small, **kw)
        assert marginal_loglik(st4, f) == ref
    assert st4._data.cache.hits["rebuilt"] == 2
    assert "rebuilding" in caplog.text


# --- allele alignment -----------------------------------------------------------------------------
def test_align_alleles_cases():
    a1 = ["A", "G", "T", "A", "C", "A", "AT"]
    a2 = ["G", "A", "C", "T", "G", "C", "A"]
    r1 = ["A", "A", "A", "A", "C", "A", "A"]
    r2 = ["G", "G", "G", "T", "G", "G", "AT"]
    sign, counts = align_alleles(a1, a2, r1, r2)
    # same, swapped, strand-flipped (T/C = A/G), ambiguous A/T, ambiguous C/G, mismatch, indel swap
    np.testing.assert_array_equal(sign, [1, -1, 1, 0, 0, 0, -1])
    assert counts == {"flipped": 2, "strand_flipped": 1, "ambiguous": 2, "allele_mismatch": 1}
    sign, counts = align_alleles(a1, a2, r1, r2, keep_ambiguous=True)
    np.testing.assert_array_equal(sign, [1, -1, 1, 1, 1, 0, -1])
    assert counts["ambiguous"] == 0


@pytest.fixture(scope="module")
def bolt_like(ref22):
    """Summary statistics in the reference's orientation for chr22 (Z from a fixed draw)."""
    v = ref22.variants
    rng = np.random.default_rng(3)
    return pd.DataFrame({"SNP": v["snp"], "A1": v["a1"], "A2": v["a2"],
                         "Z": rng.normal(size=len(v)), "N": 200_000})


def test_from_plink_alignment_and_counts(bolt_like, caplog):
    ss = bolt_like.copy()
    ref_amb = [(a, b) in {("A", "T"), ("T", "A"), ("C", "G"), ("G", "C")}
               for a, b in zip(ss["A1"], ss["A2"])]
    nonamb = np.flatnonzero(~np.array(ref_amb))
    swap, mism = nonamb[:50], nonamb[50:60]
    ss.loc[swap, ["A1", "A2"]] = ss.loc[swap, ["A2", "A1"]].to_numpy()
    ss.loc[mism, "A1"] = "AC"   # an allele the reference does not have
    ss = pd.concat([ss, pd.DataFrame({"SNP": ["rsNOPE"], "A1": ["A"], "A2": ["G"], "Z": [1.0],
                                      "N": [200_000]})], ignore_index=True)
    with caplog.at_level(logging.WARNING):
        st = SummaryStats.from_plink(bfile(22), ss, window_bp=500_000)
    dc = st.drop_counts
    assert dc["ambiguous"] == int(np.sum(ref_amb))
    assert dc["allele_mismatch"] == 10 and dc["not_in_reference"] == 1
    assert dc["flipped"] == 50
    assert "ambiguous" in caplog.text
    v = st.variants.set_index("snp")
    snp_swapped = bolt_like["SNP"][swap[0]]
    assert np.isclose(v.loc[snp_swapped, "beta_hat"], -bolt_like["Z"][swap[0]] / np.sqrt(200_000))
    snp_same = bolt_like["SNP"][nonamb[100]]
    assert np.isclose(v.loc[snp_same, "beta_hat"], bolt_like["Z"][nonamb[100]] / np.sqrt(200_000))
    assert len(st.variants) == len(bolt_like) - dc["ambiguous"] - 10
    assert st.n == 200_000
    # reference-panel allele frequency of a1 when the statistics carry none
    assert v["freq"].between(0, 1).all()


def test_from_plink_monomorphic_and_missing_genotypes(tmp_path):
    from bed_reader import to_bed

    rng = np.random.default_rng(4)
    N, M = 60, 8
    G = rng.integers(0, 3, size=(N, M)).astype(np.float32)
    G[:, 2] = 1.0            # monomorphic
    G[:5, 4] = np.nan        # missing calls
    prefix = str(tmp_path / "tiny")
    to_bed(prefix + ".bed", G, properties={
        "chromosome": ["1"] * M, "sid": [f"rs{i}" for i in range(M)],
        "bp_position": np.arange(M) * 1000 + 10, "allele_1": ["A"] * M, "allele_2": ["G"] * M})
    ss = pd.DataFrame({"SNP": [f"rs{i}" for i in range(M)], "A1": "A", "A2": "G",
                       "Z": rng.normal(size=M), "N": 1000})
    st = SummaryStats.from_plink(prefix, ss, window_bp=10_000)
    assert st.drop_counts["monomorphic_in_reference"] == 1
    assert "rs2" not in set(st.variants["snp"]) and st.n_variants == M - 1
    # LD of the variant with missing calls: mean-imputed, standardised with population sd
    x = G[:, 4].astype(float)
    x[np.isnan(x)] = np.nanmean(x)
    y = G[:, 0].astype(float)
    x, y = (x - x.mean()) / x.std(), (y - y.mean()) / y.std()
    R_II, _ = st.ld_block(0)
    i0, i4 = list(st.variants["snp"]).index("rs0"), list(st.variants["snp"]).index("rs4")
    assert np.isclose(R_II[i0, i4], x @ y / N)
    assert np.allclose(np.diag(R_II), 1.0)


# --- bad input: one test per row ------------------------------------------------------------------
@pytest.mark.parametrize("change,msg", [
    (dict(beta_hat="nan"), "NaN or inf"),
    (dict(beta_hat="inf"), "NaN or inf"),
    (dict(n=0), "n .GWAS sample size. must lie"),
    (dict(n=-5.0), "n .GWAS sample size. must lie"),
    (dict(sigma2=0.0), "sigma2 must lie"),
    (dict(sigma2=2.5), "sigma2 must lie"),
    (dict(ld="nonsquare"), "square"),
    (dict(ld="asym"), "not symmetric"),
    (dict(ld="diag"), "diagonal is not 1"),
    (dict(ld="nan"), "NaN or inf entries"),
    (dict(pos="short"), "lengths disagree"),
    (dict(ld="small"), "lengths disagree"),
])
def test_bad_input(small, change, msg):
    args = dict(small)
    for key, how in change.items():
        if key == "beta_hat":
            b = args["beta_hat"].copy()
            b[7] = np.nan if how == "nan" else np.inf
            args["beta_hat"] = b
        elif key == "ld":
            R = args["ld"].copy()
            if how == "nonsquare":
                R = R[:, :-1]
            elif how == "asym":
                R[0, 5] += 0.1
            elif how == "diag":
                R[3, 3] = 1.2
            elif how == "nan":
                R[2, 9] = R[9, 2] = np.nan
            elif how == "small":
                R = R[:-1, :-1]
            args["ld"] = R
        elif key == "pos":
            args["pos"] = args["pos"][:-1]
        else:
            args[key] = how
    with pytest.raises(ValueError, match=msg):
        build(args)


def test_sumstats_with_no_overlap(bolt_like):
    ss = bolt_like.assign(SNP="x" + bolt_like["SNP"])
    with pytest.raises(ValueError, match="share no SNP"):
        SummaryStats.from_plink(bfile(22), ss)


def test_sumstats_missing_n_and_bad_z(bolt_like):
    with pytest.raises(ValueError, match="no N column"):
        SummaryStats.from_plink(bfile(22), bolt_like.drop(columns="N"))
    bad = bolt_like.copy()
    bad.loc[3, "Z"] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        SummaryStats.from_plink(bfile(22), bad)


def test_missing_plink_file(tmp_path, bolt_like):
    with pytest.raises(FileNotFoundError, match="PLINK file not found"):
        SummaryStats.from_plink(str(tmp_path / "nothere"), bolt_like)

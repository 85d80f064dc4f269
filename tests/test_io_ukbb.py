"""UKBBLD: real 1000 Genomes LD written in the UK Biobank / PolyFun format and read back.

The shipped panel has one 1 Mb region per chromosome, so the layout is scaled down: files of
600 kb at 200 kb steps (window_bp = 200 kb) -- the same overlap pattern as 3 Mb at 1 Mb.
"""
import logging
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import deepwas
from deepwas.io import UKBBLD, in_long_range_ld, write_ukbb_ld
from deepwas.ld import read_plink_reference

DATA = Path(deepwas.__file__).parent / "datasets" / "data" / "1000g_eur_22regions"
STEP, SPAN = 200_000, 600_000
KEY = ["chrom", "pos", "snp", "a1", "a2"]


@pytest.fixture(scope="module")
def ref():
    g = read_plink_reference([str(DATA / "1000G.subset.22")])
    keep = np.arange(0, len(g), 3)  # every third SNP keeps the files small and the test fast
    return g.subset(keep)


def _write_layout(ref, folder, chrom="22", shift=0, starts=None):
    pos = ref.variants["pos"].to_numpy()
    written = []
    for s in starts if starts is not None else range(19_800_000, 21_000_000, STEP):
        idx = np.flatnonzero((pos >= s) & (pos < s + SPAN))
        if len(idx):
            v = ref.variants.iloc[idx].assign(chrom=chrom, pos=pos[idx] + shift)
            prefix = f"{folder}/chr{chrom}_{s + shift}_{s + shift + SPAN}"
            write_ukbb_ld(ref.block(idx, idx), v, prefix)
            written.append(prefix)
    return written


@pytest.fixture(scope="module")
def ukbb_dir(ref, tmp_path_factory):
    d = tmp_path_factory.mktemp("ukbb")
    _write_layout(ref, d)
    return d


def test_round_trip_variants_windows_and_blocks(ref, ukbb_dir):
    u = UKBBLD(ukbb_dir, window_bp=STEP)
    # every variant once, in genome order, equal to the reference table
    assert u.variants[KEY].equals(ref.variants[KEY].reset_index(drop=True))
    wins = u.natural_windows()
    cores = np.concatenate([c for c, _ in wins])
    assert len(cores) == len(np.unique(cores)) == len(u)  # the cores partition the variants
    pos = u.variants["pos"].to_numpy()
    for core, ext in wins:
        # ext = the file's variants; interior cores = the file's middle window_bp
        assert set(core) <= set(ext)
        np.testing.assert_allclose(u.block(ext, core), ref.block(ext, core), atol=1e-12, rtol=0)
        np.testing.assert_allclose(u.block(core, core), ref.block(core, core), atol=1e-12, rtol=0)
    # second file (centre 20.3 Mb) owns exactly [20.2, 20.4) Mb
    core1 = wins[1][0]
    expect = np.flatnonzero((pos >= 20_200_000) & (pos < 20_400_000))
    np.testing.assert_array_equal(core1, expect)
    # blocks spanning several files: pairs within reach equal the reference, far pairs are 0
    a, b = np.arange(0, len(u), 5), np.arange(2, len(u), 9)
    B, R = u.block(a, b), ref.block(a, b)
    near = np.abs(pos[a][:, None] - pos[b][None, :]) < (SPAN - STEP) / 2  # always in a shared file
    np.testing.assert_allclose(B[near], R[near], atol=1e-12, rtol=0)
    np.testing.assert_array_equal(B, u.block(b, a).T)
    assert u.shrinkage and max(u.shrinkage.values()) == 0.0  # genotype LD is PSD: no repair
    # window keys: stable, distinct per window
    keys = [u.window_key(c, e) for c, e in wins]
    assert len(set(keys)) == len(keys) and keys[0] == u.window_key(*wins[0])


def test_missing_npz_skipped_with_a_warning_naming_it(ref, tmp_path, caplog):
    prefixes = _write_layout(ref, tmp_path)
    Path(prefixes[2] + ".npz").unlink()
    with caplog.at_level(logging.WARNING):
        u = UKBBLD(tmp_path, window_bp=STEP)
    assert Path(prefixes[2]).name in caplog.text and u.skipped == [Path(prefixes[2]).name]
    assert len(u.natural_windows()) == len(prefixes) - 2  # one skipped, last has an empty core


def test_long_range_ld_region_excluded_by_default(ref, tmp_path):
    # the same real LD relabelled into the MHC (chr6 30.0-31.0 Mb, hg19)
    _write_layout(ref, tmp_path, chrom="6", shift=10_000_000)
    with pytest.raises(ValueError, match="long-range"):
        UKBBLD(tmp_path, window_bp=STEP)  # every variant is in the MHC
    kept = UKBBLD(tmp_path, window_bp=STEP, exclude_long_range=False)
    assert len(kept) == len(ref)
    assert in_long_range_ld(["6", "chr8", "11", "6"],
                            [25_500_000, 9_000_000, 57_000_000, 33_499_999]
                            ).tolist() == [True, True, False, True]


def _one_file(ref, folder, R=None, n=60):
    idx = np.arange(n)
    v = ref.variants.iloc[idx]
    s = int(v["pos"].min())
    prefix = f"{folder}/chr22_{s}_{s + SPAN}"
    write_ukbb_ld(ref.block(idx, idx) if R is None else R, v, prefix)
    return prefix, idx


def test_negative_eigenvalues_repaired_by_shrinkage(ref, tmp_path):
    R0 = ref.block(np.arange(60), np.arange(60))
    # make it indefinite but keep the unit diagonal: R0 - 0.03 (I - J/n) style perturbation
    w, U = np.linalg.eigh(R0)
    w[0] = -0.02
    R = U @ np.diag(w) @ U.T
    d = np.sqrt(np.diag(R))
    R = R / d[:, None] / d[None, :]
    mu = np.linalg.eigvalsh(R)[0]
    assert mu < -1e-3
    prefix, idx = _one_file(ref, tmp_path, R)
    u = UKBBLD(tmp_path, window_bp=STEP)
    B = u.block(idx, idx)
    s = -mu / (1 - mu)
    np.testing.assert_allclose(B, (1 - s) * R + s * np.eye(60), atol=1e-12)
    assert np.linalg.eigvalsh(B)[0] > -1e-10
    assert u.shrinkage[Path(prefix).name] == pytest.approx(s)
    # a badly indefinite matrix is refused
    u2 = UKBBLD(tmp_path, window_bp=STEP, max_shrink=s / 2)
    with pytest.raises(ValueError, match="not a correlation matrix"):
        u2.block(idx, idx)


@pytest.mark.parametrize("defect, message", [
    ("nan", "NaN"), ("diag", "diagonal"), ("shape", "does not match"), ("full", "triangular")])
def test_bad_ld_files_name_the_file(ref, tmp_path, defect, message):
    prefix, idx = _one_file(ref, tmp_path)
    L = sp.load_npz(prefix + ".npz").toarray()
    if defect == "nan":
        L[5, 2] = np.nan
    elif defect == "diag":
        L[3, 3] = 1.0  # not halved
    elif defect == "shape":
        L = L[:-1, :-1]
    elif defect == "full":
        L = L + np.tril(L, -1).T
    sp.save_npz(prefix + ".npz", sp.csr_matrix(L))
    u = UKBBLD(tmp_path, window_bp=STEP)
    with pytest.raises(ValueError, match=message) as e:
        u.block(idx, idx)
    assert Path(prefix).name in str(e.value)


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no usable"):
        UKBBLD(tmp_path)
    with pytest.raises(FileNotFoundError):
        UKBBLD(tmp_path / "nope")


def test_summary_stats_from_ukbb(ukbb_dir):
    from deepwas.io import read_sumstats

    ss = read_sumstats(DATA / "bolt.sumstats.txt.gz", n=489)
    st = deepwas.SummaryStats.from_ukbb(ukbb_dir, ss, window_bp=STEP, flank_bp=STEP)
    u = UKBBLD(ukbb_dir, window_bp=STEP)
    kept = set(st.variants["snp"])
    expect = [c for c, _ in u.natural_windows() if kept & set(u.variants["snp"].iloc[c])]
    assert len(st) == len(expect)
    cores = np.concatenate([c for c, _ in st.windows])
    assert len(cores) == len(np.unique(cores)) == st.n_variants
    assert np.isfinite(deepwas.marginal_loglik(st, np.full(st.n_variants, 1e-4)))

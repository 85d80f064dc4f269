"""``ld_regularisation="thinned"``: each LD block cut into small interleaved cores, the whole
block as their extended set, the exact likelihood on each (docs "LD from a reference panel").

The likelihood is checked against the dense float64 oracle of tests/test_likelihood.py on real
1000 Genomes LD (cores built here independently of the package, one set rank-deficient); the
windows, the jackknife's units and the errors are checked directly; the h2 of the realistic
msprime design is checked against the default's.
"""
import warnings

import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas import SummaryStats, marginal_loglik
from deepwas.jackknife import jackknife_blocks, plan_blocks
from deepwas.ld_model import thinned_core_size
from deepwas.windows import thin_windows, window_units

from conftest import simulate_beta_hat
from test_likelihood import dense_window_loglik
import test_reference_panel_blocks as panel_design

N_GWAS = 300_000
SIGMA2 = 0.8


@pytest.fixture(scope="module")
def sim22(geno22):
    X, variants, R = geno22
    rng = np.random.default_rng(7)
    f = 0.3 / 1e6 * np.exp(rng.normal(size=len(variants)) * 1.5)
    return X, variants, R, f, simulate_beta_hat(X, f, SIGMA2, N_GWAS, rng)


def _blocks(variants, cuts):
    """Blocks (BED, 0-based half-open) that cut the chr22 region at the given positions."""
    pos = variants["pos"].to_numpy()
    edges = [int(pos.min()) - 1, *cuts, int(pos.max())]
    return pd.DataFrame({"chrom": "22", "start": edges[:-1], "end": edges[1:]})


def _stats(sim, **kw):
    X, variants, R, f, beta_hat = sim
    return SummaryStats.from_arrays(beta_hat, N_GWAS, variants["chrom"], variants["pos"], R,
                                    snp=variants["snp"], a1=variants["a1"],
                                    a2=variants["a2"], sigma2=SIGMA2, n_ref=X.shape[1],
                                    ld_regularisation="thinned", **kw)


def test_thin_windows_interleaves_cores_and_keeps_the_block():
    block = np.arange(10, 75)                          # 65 variants, core size 20 -> 3 cores
    wins = thin_windows([(block, block), (np.arange(75, 80), np.arange(75, 80))], 20)
    assert len(wins) == 4
    np.testing.assert_array_equal(wins[0][0], block[0::3])
    np.testing.assert_array_equal(wins[2][0], block[2::3])
    assert all(e is block for _, e in wins[:3])
    np.testing.assert_array_equal(np.sort(np.concatenate([c for c, _ in wins[:3]])), block)
    np.testing.assert_array_equal(window_units(wins), [0, 0, 0, 1])
    # windows with flanks: each its own unit even where extended sets overlap
    flanked = [(np.arange(0, 5), np.arange(0, 8)), (np.arange(5, 9), np.arange(0, 9))]
    np.testing.assert_array_equal(window_units(flanked), [0, 1])


@pytest.mark.parametrize("core_size", [20, 600])
def test_matches_dense_oracle_on_real_ld(sim22, core_size):
    """Each thinned window's likelihood against the oracle: rel. error <= 1e-8. Cores of 600
    variants (2 per 1,3xx-variant block) exceed the 489 people: R_II is rank-deficient; so is
    R_II of the few 20-variant cores that hold variants in perfect LD."""
    X, variants, R, f, beta_hat = sim22
    cut = int(np.median(variants["pos"]))
    st = _stats(sim22, ld_blocks=_blocks(variants, [cut]), ld_core_size=core_size)
    rows = st.variants["row"].to_numpy()
    block_rows = [np.flatnonzero(variants["pos"].to_numpy() <= cut),
                  np.flatnonzero(variants["pos"].to_numpy() > cut)]
    want = []                                # the cores, built here from the definition
    for b in block_rows:
        k = len(b) // core_size
        want += [(b[j::k], b) for j in range(k)]
    got = [(rows[c], rows[e]) for c, e in st.windows]
    assert len(got) == len(want)
    for (c, e), (wc, we) in zip(got, want):
        np.testing.assert_array_equal(c, wc)
        np.testing.assert_array_equal(e, we)
    s = SIGMA2 / N_GWAS
    ours = marginal_loglik(st, f[rows], per_window=True)
    oracle = np.array([dense_window_loglik(R, beta_hat, f, c, e, s) for c, e in want])
    assert np.max(np.abs(ours - oracle) / np.abs(oracle)) <= 1e-8
    ranks = np.array([st.window_factors(k).rank for k in range(len(st))])
    if core_size == 600:
        assert ranks.max() <= X.shape[1] - 1 < min(len(c) for c, _ in want)
    else:   # a few 20-variant cores hold variants in perfect LD: rank-deficient too
        sizes = np.array([len(c) for c, _ in want])
        assert np.all(ranks <= sizes) and np.mean(ranks == sizes) > 0.5
    assert list(st.groups) == ["22"] * len(want)


def test_jackknife_keeps_each_block_whole(sim22):
    X, variants, R, f, beta_hat = sim22
    pos = variants["pos"].to_numpy()
    cuts = [int(q) for q in np.quantile(pos, [0.25, 0.5, 0.75])]
    st = _stats(sim22, ld_blocks=_blocks(variants, cuts), ld_core_size=10)
    units = window_units(st.windows)
    assert units[-1] + 1 == 4 and len(st) > 200
    # more windows than the default 200 blocks, but only 4 units: one block per unit
    with pytest.warns(UserWarning, match="4 units of windows"):
        labels, n, unit = plan_blocks(st, 200)
    assert unit == "windows" and n == 4
    np.testing.assert_array_equal(labels, units)
    labels, n, _ = plan_blocks(st, 2)
    assert n == 2 and all(len(set(labels[units == u])) == 1 for u in range(4))
    # without units the same call would cut runs of windows through the blocks
    assert len(set(jackknife_blocks(len(st), 3)[0][units == 1])) > 1


def test_errors_and_core_size_rule(sim22):
    X, variants, R, f, beta_hat = sim22
    assert thinned_core_size(200) == 20 and thinned_core_size(100) == 20
    assert thinned_core_size(75) == 15 and thinned_core_size(50) == 10
    assert thinned_core_size(20) == 10 and thinned_core_size(419) == 20
    assert thinned_core_size(460) == 23 and thinned_core_size(489) == 24
    assert thinned_core_size(503) == 25 and thinned_core_size(10_000) == 25
    with pytest.raises(ValueError, match="needs LD blocks"):
        _stats(sim22, ld_blocks="none")
    with pytest.raises(ValueError, match="ld_core_size must be"):
        _stats(sim22, ld_blocks=_blocks(variants, []), ld_core_size=1)
    with pytest.raises(ValueError, match="panel's size"):
        SummaryStats.from_arrays(beta_hat, N_GWAS, variants["chrom"], variants["pos"], R,
                                 ld_regularisation="thinned", ld_blocks=_blocks(variants, []))


def test_realistic_panel_thinned_is_closer_than_mismatch():
    """The realistic msprime design of tests/test_reference_panel_blocks.py (GWAS LD from 5,000
    people, a 200-person panel, h2 0.05), 3 replicates: thinned cores (the default, core size
    20) give a mean h2 of 0.046 (-8 %), one window per block with the mismatch model (the
    former default) 0.036 (-27 %)."""
    pytest.importorskip("msprime")
    from deepwas.datasets import simulated_loci

    P, Q = simulated_loci(4, n_gwas=5_000, n_ref=200, random_state=3)
    default, thinned = [], []
    for seed in range(3):
        st = panel_design._split_stats(P, Q, 0.05, seed, ld_regularisation="mismatch")
        z = panel_design._table(Q).assign(Z=st.variants["beta_hat"].to_numpy()
                                          * np.sqrt(panel_design.N))
        th = SummaryStats.from_ld_source(Q, z, n=panel_design.N, sigma2=0.95,
                                         keep_ambiguous=True)      # the default: thinned
        assert th.ld_model.regularisation == "thinned"
        default.append(panel_design._fit_h2(st)[0])
        thinned.append(panel_design._fit_h2(th)[0])
    print("default", default, "thinned", thinned)
    assert 0.042 < np.mean(thinned) < 0.058
    assert abs(np.mean(thinned) - 0.05) < abs(np.mean(default) - 0.05) - 0.005


def test_ldsr_on_thinned_windows_uses_the_panel_r2(sim22):
    """LD score regression runs on thinned windows, with the panel's unbiased r^2 (the LD is
    a panel's, not the GWAS sample's own, though the likelihood on each core is exact)."""
    from deepwas.fitting._ldsr import LDSRBlocks

    X, variants, R, f, beta_hat = sim22
    st = _stats(sim22, ld_blocks=_blocks(variants, []), ld_core_size=20)
    R2, *_ = LDSRBlocks(st, device="cpu").get(1)
    core, ext = st.windows[1]
    rows = st.variants["row"].to_numpy()
    r2 = R[np.ix_(rows[core], rows[ext])] ** 2
    np.testing.assert_allclose(R2.numpy(), r2 - (1 - r2) / (X.shape[1] - 2), rtol=1e-5,
                               atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = deepwas.ConstantPrior(solver="ldsr", random_state=0).fit(st)
    assert np.isfinite(est.h2(st))


def test_cli_precompute_with_thinned_cores(sim22, tmp_path, capsys):
    """``--ld-regularisation thinned --ld-core-size K`` from the shell: the blocks detected in
    the 489-person panel cut into cores of K; a bad K is refused by the parser."""
    import json

    from deepwas.cli import main
    from deepwas.datasets import demo_bfiles

    X, variants, R, f, beta_hat = sim22
    ss = tmp_path / "ss.tsv"
    pd.DataFrame({"SNP": variants["snp"], "A1": variants["a1"], "A2": variants["a2"],
                  "Z": beta_hat * np.sqrt(N_GWAS), "N": N_GWAS}).to_csv(ss, sep="\t",
                                                                        index=False)
    data = ["--bfile", *demo_bfiles([22]), "--sumstats", str(ss), "--keep-ambiguous",
            "--ld-regularisation", "thinned", "--ld-blocks", "detect"]
    out = tmp_path / "pre.json"
    assert main(["precompute", *data, "--ld-core-size", "50", "--no-progress",
                 "--out", str(out)]) == 0
    n_windows = json.loads(out.read_text())["n_windows"]
    assert 2608 // 50 - 3 <= n_windows <= 2608 // 50
    with pytest.raises(SystemExit):
        main(["precompute", *data, "--ld-core-size", "1", "--out", str(out)])
    assert "integer >= 2" in capsys.readouterr().err


def test_diagnostics_do_not_read_the_block_as_unlinked_flanks(sim22, caplog):
    """A thinned core's extended set is its own LD block: no flank-noise warning (it would
    claim 500 % and advise cutting at blocks, which the windows already are)."""
    from deepwas.diagnostics import needs_warning

    X, variants, R, f, beta_hat = sim22
    st = _stats(sim22, ld_blocks=_blocks(variants, []), ld_core_size=20)
    diag = st.ld_diagnostics(h2=0.3, warn=False)
    assert len(diag) == len(st) and np.all(diag["flank_noise"] == 0)
    assert diag["z_tail"].max() < 10            # in-sample statistics: consistent with the LD
    assert not needs_warning(diag, st.ld_model.regularisation)


def test_block_groups_keep_each_ld_block_whole(sim22):
    X, variants, R, f, beta_hat = sim22
    pos = variants["pos"].to_numpy()
    cuts = [int(q) for q in np.quantile(pos, [0.2, 0.4, 0.6, 0.8])]
    st = _stats(sim22, ld_blocks=_blocks(variants, cuts), ld_core_size=20)
    units = st.window_units
    groups = st.block_groups(3)
    assert set(groups) == {0, 1, 2}
    assert all(len(set(groups[units == u])) == 1 for u in range(5))
    with pytest.raises(ValueError, match=r"units of windows sharing an LD block \(5\)"):
        st.block_groups(6)


def test_simulate_draws_per_ld_block_on_thinned_windows(sim22):
    """semi_synthetic on thinned windows draws beta-hat per LD block, exactly as on the same
    blocks as windows (not per 1 Mb stretch, nor once per overlapping core)."""
    from deepwas.simulate import gwas_blocks, semi_synthetic

    X, variants, R, f, beta_hat = sim22
    blocks = _blocks(variants, [int(np.median(variants["pos"]))])
    freq = np.random.default_rng(0).uniform(0.05, 0.5, len(variants))
    th = _stats(sim22, ld_blocks=blocks, ld_core_size=20, freq=freq)
    whole = SummaryStats.from_arrays(beta_hat, N_GWAS, variants["chrom"], variants["pos"], R,
                                     n_ref=X.shape[1], ld_blocks=blocks, freq=freq)
    np.testing.assert_array_equal(gwas_blocks(th), gwas_blocks(whole))
    assert len(set(gwas_blocks(th))) == 2
    a, _ = semi_synthetic(th, "constant", h2=0.1, n=N_GWAS, random_state=3)
    b, _ = semi_synthetic(whole, "constant", h2=0.1, n=N_GWAS, random_state=3)
    np.testing.assert_array_equal(a.variants["beta_hat"], b.variants["beta_hat"])


def test_full_batch_fit_passes_the_prior_once_per_block(sim22, monkeypatch):
    """L-BFGS on thinned cores evaluates the prior once per LD block (its cores share the
    block as extended set) and sums their losses: the same fit as one pass per core, with
    the prior called ~k times fewer."""
    from deepwas.fitting import _full_batch

    X, variants, R, f, beta_hat = sim22
    rng = np.random.default_rng(1)
    feats = rng.standard_normal((len(variants), 3))
    st = SummaryStats.from_arrays(beta_hat, N_GWAS, variants["chrom"], variants["pos"], R,
                                  n_ref=X.shape[1], sigma2=SIGMA2, features=feats,
                                  freq=rng.uniform(0.05, 0.5, len(variants)),
                                  ld_blocks=_blocks(variants, [int(np.median(variants["pos"]))]),
                                  ld_core_size=20)
    assert st.ld_model.regularisation == "thinned"
    runs = _full_batch._shared_runs

    def fit(shared):
        monkeypatch.setattr(_full_batch, "_shared_runs",
                            runs if shared else lambda o, ids: np.ones(len(ids), int))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = deepwas.GLMPrior(random_state=0).fit(st)
        return est.predict_f(st), float(est.history_[-1, "train_loss"])

    shared_f, shared_loss = fit(True)
    once_f, once_loss = fit(False)
    np.testing.assert_allclose(shared_f, once_f, rtol=1e-6)
    assert shared_loss == pytest.approx(once_loss, rel=1e-9)
    ids = list(range(len(st)))

    class _Obj:
        stats = st

    r = runs(_Obj(), ids)
    assert r[0] == np.sum(st.window_units == 0) and r.max() < len(st)


def test_adamw_steps_take_cores_of_one_block(sim22):
    """Shuffled AdamW on thinned cores: each optimizer step holds cores of one LD block, so
    the prior runs once a step on the block (not once a core); every core trains each epoch."""
    X, variants, R, f, beta_hat = sim22
    rng = np.random.default_rng(2)
    st = SummaryStats.from_arrays(beta_hat, N_GWAS, variants["chrom"], variants["pos"], R,
                                  n_ref=X.shape[1], sigma2=SIGMA2,
                                  features=rng.standard_normal((len(variants), 3)),
                                  ld_blocks=_blocks(variants, [int(np.median(variants["pos"]))]),
                                  ld_core_size=20)
    units = st.window_units
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = deepwas.GLMPrior(optimizer="adamw", max_epochs=2, accumulate=4, validation=None,
                               random_state=0).fit(st)
    batches = est.history_[-1, "batches"]
    windows = [b["window"] for b in batches]
    assert sorted(windows) == list(range(len(st)))
    evaluated = [b["prior_evaluations"] for b in batches]
    steps, start = [], 0
    for i, n in enumerate(evaluated[1:], 1):
        if n:                                  # the first window of a step evaluates it
            steps.append(windows[start:i])
            start = i
    steps.append(windows[start:])
    assert all(len({units[w] for w in s}) == 1 and len(s) <= 4 for s in steps)
    block = max(evaluated)       # the variants of one LD block (both blocks: 1,304)
    assert set(evaluated) == {0, block}
    assert sum(evaluated) == len(steps) * block and len(steps) <= len(st) / 3

"""Semi-synthetic data: scale of f_true, distribution of beta_hat, truths, errors."""
import numpy as np
import pandas as pd
import pytest

from deepwas.simulate import semi_synthetic, synthetic_features, true_log_f
from deepwas.stats import SummaryStats

from simdata import real_ld_stats


@pytest.fixture(scope="module")
def small_real():
    return real_ld_stats((21, 22), thin=6)


def _dense_stats(R, freq, n=1e4, window_bp=50, flank_bp=200):
    M = len(R)
    return SummaryStats.from_arrays(np.zeros(M), n, ["1"] * M, np.arange(M) * 10, R, freq=freq,
                                    window_bp=window_bp, flank_bp=flank_bp)


def test_scale_sigma2_and_structure(small_real):
    sim, f = semi_synthetic(small_real, "glm", h2=0.4, n=5e4, random_state=1)
    assert f.shape == (sim.n_variants,) and np.all(f > 0)
    assert f.sum() == pytest.approx(0.4)            # E f = h2 / M: sum over variants is h2
    assert sim.sigma2 == pytest.approx(0.6) and sim.n == 5e4
    assert len(sim) == len(small_real)
    pd.testing.assert_frame_equal(sim.variants.drop(columns="beta_hat"),
                                  small_real.variants.drop(columns="beta_hat"))
    for (c1, e1), (c2, e2) in zip(sim.windows, small_real.windows):
        np.testing.assert_array_equal(c1, c2)
        np.testing.assert_array_equal(e1, e2)
    feats = sim.get_features()                       # synthetic tracks were attached
    assert feats.func.shape == (sim.n_variants, 4, 16) and feats.pred.shape == (sim.n_variants, 2)
    # same seed, same draw; another seed, another draw
    sim2, f2 = semi_synthetic(small_real, "glm", h2=0.4, n=5e4, random_state=1)
    np.testing.assert_array_equal(f, f2)
    np.testing.assert_array_equal(sim.variants["beta_hat"], sim2.variants["beta_hat"])
    sim3, _ = semi_synthetic(small_real, "glm", h2=0.4, n=5e4, random_state=2)
    assert not np.allclose(sim.variants["beta_hat"], sim3.variants["beta_hat"])


@pytest.mark.parametrize("ld_kind", ["dense", "genotypes"])
def test_beta_hat_given_beta_is_N_R_beta_sR(ld_kind):
    """Given beta, beta_hat ~ N(R beta, s R), on both sampling paths (checked over replicates)."""
    from deepwas.ld import GenotypeLD
    from deepwas.simulate import _draw_beta_hat

    rng = np.random.default_rng(0)
    M, nref = 25, 40
    dos = rng.binomial(2, rng.uniform(0.1, 0.5, M)[:, None], size=(M, nref)).astype(np.int8)
    dos[1::2] = dos[::2][: M // 2]                        # strong LD between neighbours
    v = pd.DataFrame({"chrom": ["1"] * M, "pos": np.arange(M) * 10,
                      "snp": [f"s{i}" for i in range(M)], "a1": "A", "a2": "G"})
    geno = GenotypeLD(dos, v)
    R = geno.block(np.arange(M), np.arange(M))
    R = (R + R.T) / 2
    np.fill_diagonal(R, 1.0)
    ld = geno if ld_kind == "genotypes" else R
    st = SummaryStats.from_arrays(np.zeros(M), 100.0, v["chrom"], v["pos"], ld,
                                  freq=np.full(M, 0.3), window_bp=50, flank_bp=100)
    beta = rng.standard_normal(M) * 0.1
    s, reps = 0.01, 1000
    B = np.array([_draw_beta_hat(st, beta, s, rng, 1000) for _ in range(reps)])
    mean_se = np.sqrt(s * np.diag(R) / reps)
    assert np.abs((B.mean(0) - R @ beta) / mean_se).max() < 5
    D = B - R @ beta
    emp = D.T @ D / reps
    A = s * R
    se = np.sqrt((A ** 2 + np.outer(np.diag(A), np.diag(A))) / reps)   # Wishart entry s.e.
    assert np.abs((emp - A) / se).max() < 5.5


def test_genotype_path_moments(small_real):
    """With genotype LD, E[N beta_hat^2] = N (R^2 f) + sigma^2 (averaged over variants)."""
    sim, f = semi_synthetic(small_real, "constant", h2=0.5, n=2e4, random_state=3)
    v = sim.variants
    b = v["beta_hat"].to_numpy()
    chrom = v["chrom"].to_numpy()
    pred, obs = [], []
    for c in np.unique(chrom):
        idx = np.flatnonzero(chrom == c)
        R = sim.ld.block(v["row"].to_numpy()[idx], v["row"].to_numpy()[idx])
        pred.append(2e4 * (R ** 2) @ f[idx] + 0.5)
        obs.append(2e4 * b[idx] ** 2)
    pred, obs = np.concatenate(pred), np.concatenate(obs)
    # one draw of beta: the mean over ~1000 strongly correlated variants is noisy; 30 % is
    # about 3 standard errors of the realised sum of squares (M_eff ~ 100 per region)
    assert obs.mean() == pytest.approx(pred.mean(), rel=0.3)


def test_truths():
    rng = np.random.default_rng(0)
    v = pd.DataFrame({"chrom": ["1"] * 500 + ["2"] * 500,
                      "pos": np.r_[np.arange(500), np.arange(500)] * 1000})
    feats = synthetic_features(v, random_state=0)
    freq = rng.uniform(0.01, 0.5, 1000)
    base = 0.7 * np.log(freq * (1 - freq))
    np.testing.assert_allclose(true_log_f("constant", feats, freq), base)
    g = true_log_f("glm", feats, freq, log_f_sd=1.5, random_state=0) - base
    assert g.std() == pytest.approx(1.5) and abs(g.mean()) < 1e-9
    # the glm truth is linear in the standardised window-averaged features
    X = np.c_[feats.func.mean(-1), feats.pred, np.ones(1000)]
    resid = g - X @ np.linalg.lstsq(X, g, rcond=None)[0]
    assert np.abs(resid).max() < 1e-6
    net = true_log_f("network", feats, freq, random_state=0) - base
    assert net.std() == pytest.approx(1.0)
    thr = true_log_f("threshold", feats, freq, sparsity=0.1) - base
    assert set(np.round(np.unique(thr), 6)) == {0.0, round(np.log(1000), 6)}
    assert (thr > 0).mean() == pytest.approx(0.1, abs=0.01)
    # synthetic tracks are smooth along the window: neighbouring positions correlate
    a = feats.func[:, 0, :]
    assert np.corrcoef(a[:, 7], a[:, 8])[0, 1] > 0.8


def test_errors(small_real):
    with pytest.raises(ValueError, match="truth"):
        semi_synthetic(small_real, "linear")
    with pytest.raises(ValueError, match="h2"):
        semi_synthetic(small_real, h2=1.0)
    R = np.eye(5)
    st = SummaryStats.from_arrays(np.zeros(5), 100.0, ["1"] * 5, np.arange(5), R)
    with pytest.raises(ValueError, match="frequencies"):
        semi_synthetic(st)

"""Posterior mean effects: Woodbury form from the window factors against a dense float64 oracle
on real 1000 Genomes LD, and a polygenic score that beats the marginal one."""
import numpy as np
import pytest

import deepwas
from deepwas.posterior import posterior_mean

from conftest import simulated_stats

SEL = np.arange(0, 1200, 2)           # 600 variants of the chr22 region, 3 windows of 200 kb


def _dense(R, f, beta_hat, s, windows):
    """Each core variant from F R_EI (R_IE F R_EI + s R_II)^+ beta_hat_I, all dense float64."""
    out = np.full(len(f), np.nan)
    for core, ext in windows:
        R_EI = R[np.ix_(ext, core)]
        S = R_EI.T @ (f[ext, None] * R_EI) + s * R[np.ix_(core, core)]
        lam, U = np.linalg.eigh(S)
        keep = lam > 1e-10 * lam.max()
        S_pinv = (U[:, keep] / lam[keep]) @ U[:, keep].T
        mean = f[ext] * (R_EI @ (S_pinv @ beta_hat[core]))
        out[core] = mean[np.searchsorted(ext, core)]
    return out


@pytest.fixture(scope="module")
def data(geno22):
    rng = np.random.default_rng(3)
    f = rng.gamma(0.5, 1.0, size=len(SEL))
    f *= 0.3 / f.sum()
    stats = simulated_stats(geno22, SEL, f, 0.7, 20_000, rng, window_bp=200_000,
                            flank_bp=100_000)
    return stats, f


def test_posterior_mean_matches_dense_oracle(data, geno22):
    stats, f = data
    assert len(stats) >= 2
    R = geno22[2][np.ix_(SEL, SEL)]
    got = posterior_mean(stats, f, sigma2=0.7)
    beta_hat = stats.variants["beta_hat"].to_numpy()
    want = _dense(R, f, beta_hat, 0.7 / stats.n, stats.windows)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * np.abs(want).max())
    # each variant from the window where it is core: another window's extended estimate differs
    core0, ext0 = stats.windows[0]
    assert len(ext0) > len(core0)


def test_posterior_mean_rejects_bad_f(data):
    stats, f = data
    with pytest.raises(ValueError, match="non-negative"):
        posterior_mean(stats, -f)
    with pytest.raises(ValueError, match="shape"):
        posterior_mean(stats, f[:-1])


def test_score_from_posterior_beats_marginal(geno22):
    """Simulation on the shipped genotypes: r2 with the true genetic value of the 489 people."""
    X = geno22[0][SEL]
    rng = np.random.default_rng(11)
    r2 = {"posterior": [], "marginal": []}
    for rep in range(3):
        f = np.where(rng.random(len(SEL)) < 0.1, 1.0, 0.0) + 1e-4
        f *= 0.5 / f.sum()
        beta = rng.normal(size=len(SEL)) * np.sqrt(f)
        Nref = X.shape[1]
        Xn = X / np.sqrt(Nref)
        beta_hat = Xn @ (Xn.T @ beta) + Xn @ rng.normal(size=Nref) * np.sqrt(0.5 / 20_000)
        X_all, variants, R = geno22
        stats = deepwas.SummaryStats.from_arrays(
            beta_hat, 20_000, variants["chrom"][SEL], variants["pos"][SEL], R[np.ix_(SEL, SEL)],
            sigma2=0.5, ld_regularisation="none", window_bp=200_000, flank_bp=100_000)
        est = deepwas.ConstantPrior(alpha=0.0).fit(stats)
        post = est.posterior_mean(stats)
        g = X.T @ beta
        for name, w in (("posterior", post), ("marginal", beta_hat)):
            r2[name].append(np.corrcoef(X.T @ w, g)[0, 1] ** 2)
    mean = {k: float(np.mean(v)) for k, v in r2.items()}
    print("PRS r2 with the true genetic value:", mean)
    assert mean["posterior"] > mean["marginal"] + 0.05

"""The windowed DeepWAS likelihood against dense float64 oracles on real 1000 Genomes LD.

These data are in-sample (beta-hat drawn through the panel whose LD the model gets), where the
exact likelihood (``ld_regularisation="none"``) is right; the LD models are tested in
tests/test_ld_model.py.
"""
import math

import numpy as np
import pytest
import torch

import deepwas
from deepwas import SummaryStats, marginal_loglik

from conftest import simulate_beta_hat, simulated_stats

N_GWAS = 300_000
SIGMA2 = 0.8


def dense_window_loglik(R, beta, f, core, ext, s, eig_rtol=1e-10):
    """Eq. 3 for one window by pseudo-inverse / pseudo-determinant of the dense A (oracle)."""
    R_II = R[np.ix_(core, core)]
    R_IE = R[np.ix_(core, ext)]
    A = R_IE @ np.diag(f[ext]) @ R_IE.T + s * R_II
    lamR = np.linalg.eigvalsh(R_II)
    r = int(np.sum(lamR > eig_rtol * lamR.max()))
    mu, V = np.linalg.eigh(A)
    mu, V = mu[-r:], V[:, -r:]  # A has the range of R_II: its top r eigenpairs
    b = V.T @ beta[core]
    quad = np.sum(b * b / mu)
    return -0.5 * (quad + np.sum(np.log(mu)) + r * math.log(2 * math.pi))


@pytest.fixture(scope="module")
def sim22(geno22):
    X, variants, R = geno22
    rng = np.random.default_rng(0)
    M = len(variants)
    # prior variances varying over three orders of magnitude, h2 = 0.3 spread over 1e6 variants
    f = 0.3 / 1e6 * np.exp(rng.normal(size=M) * 1.5)
    beta_hat = simulate_beta_hat(X, f, SIGMA2, N_GWAS, rng)
    return X, variants, R, f, beta_hat


def make_stats(sim, **kw):
    X, variants, R, f, beta_hat = sim
    return SummaryStats.from_arrays(beta_hat, N_GWAS, variants["chrom"], variants["pos"], R,
                                    snp=variants["snp"], a1=variants["a1"], a2=variants["a2"],
                                    sigma2=SIGMA2, ld_regularisation="none", **kw)


@pytest.mark.parametrize("window_bp,flank_bp", [
    (150_000, 0),          # (i) = (i)+, ~400 variants, full rank
    (150_000, 60_000),     # (i) strictly inside (i)+
    (400_000, 100_000),    # ~1,000 core variants > 489 people: rank-deficient R_II
])
def test_matches_dense_pseudo_inverse_oracle(sim22, window_bp, flank_bp):
    X, variants, R, f, beta_hat = sim22
    stats = make_stats(sim22, window_bp=window_bp, flank_bp=flank_bp)
    assert len(stats) >= 3
    s = SIGMA2 / N_GWAS
    f_stats = f[stats.variants["row"].to_numpy()]
    ours = marginal_loglik(stats, f_stats, per_window=True)
    oracle = np.array([dense_window_loglik(R, beta_hat, f, c, e, s) for c, e in
                       [(stats.variants["row"].to_numpy()[c], stats.variants["row"].to_numpy()[e])
                        for c, e in stats.windows]])
    rel = np.abs(ours - oracle) / np.abs(oracle)
    assert rel.max() <= 1e-8, rel
    if window_bp == 400_000:
        ranks = [stats.window_factors(k).rank for k in range(len(stats))]
        cores = [len(c) for c, _ in stats.windows]
        assert any(n > 489 for n in cores) and max(ranks) <= 488
    if flank_bp:
        assert any(len(e) > len(c) for c, e in stats.windows)
    # float32 through the same factors
    ours32 = marginal_loglik(stats, f_stats, per_window=True, dtype=torch.float32)
    assert np.max(np.abs(ours32 - oracle) / np.abs(oracle)) <= 1e-4


def test_gain_matches_individual_level_likelihood_ratio(geno22):
    """Sum of window gains = log N(y; 0, X^T F X + s2 I) - log N(y; 0, s2 I) (held-out identity)."""
    X, variants, _ = geno22
    rng = np.random.default_rng(1)
    sel = np.arange(600, 1400)  # 800 variants, 489 people: rank-deficient
    Xs, N = X[sel], X.shape[1]
    sigma2 = 0.7
    f = 0.3 / len(sel) * np.exp(rng.normal(size=len(sel)))
    y = Xs.T @ (rng.normal(size=len(sel)) * np.sqrt(f)) + rng.normal(size=N) * np.sqrt(sigma2)
    beta_hat = Xs @ y / N
    R = Xs @ Xs.T / N
    stats = SummaryStats.from_arrays(beta_hat, N, variants["chrom"].to_numpy()[sel],
                                     variants["pos"].to_numpy()[sel], R, sigma2=sigma2,
                                     window_bp=10_000_000, ld_regularisation="none")
    assert len(stats) == 1
    gain = marginal_loglik(stats, f, relative_to_null=True)

    K = Xs.T @ (f[:, None] * Xs) + sigma2 * np.eye(N)
    _, logdetK = np.linalg.slogdet(K)
    ll_alt = -0.5 * (y @ np.linalg.solve(K, y) + logdetK + N * math.log(2 * math.pi))
    ll_null = -0.5 * (y @ y / sigma2 + N * math.log(sigma2) + N * math.log(2 * math.pi))
    expected = ll_alt - ll_null
    assert abs(gain - expected) <= 1e-8 * abs(expected), (gain, expected)
    # and per person, as estimators report it
    assert abs(gain / N - expected / N) < 1e-10


def test_window_size_one_is_gaussian_ldsr_form(sim22):
    X, variants, R, f, beta_hat = sim22
    sel = np.arange(0, 300)
    stats = SummaryStats.from_arrays(beta_hat[sel], N_GWAS, variants["chrom"][sel],
                                     variants["pos"][sel], R[np.ix_(sel, sel)], sigma2=SIGMA2,
                                     window_bp=1, flank_bp=20_000, ld_regularisation="none")
    assert len(stats) == len(sel)  # one core variant per window
    nll = -marginal_loglik(stats, f[sel], per_window=True)
    v = stats.variants
    expected = []
    for core, ext in stats.windows:
        m = core[0]
        tau = np.sum(f[sel][ext] * R[np.ix_(sel, sel)][m, ext] ** 2)
        # N * NLL = N b^2 / (N tau + s2) + log(N tau + s2) - log N + log 2pi, halved
        a = N_GWAS * tau + SIGMA2
        expected.append(0.5 * (N_GWAS * v["beta_hat"][m] ** 2 / a + math.log(a)
                               - math.log(N_GWAS) + math.log(2 * math.pi)))
    np.testing.assert_allclose(nll, expected, rtol=1e-9)


def test_gradcheck_on_real_window(geno22):
    sel = np.arange(100, 180)
    rng = np.random.default_rng(2)
    f0 = 0.2 / 1e5 * np.exp(rng.normal(size=len(sel)))
    stats = simulated_stats(geno22, sel, f0, 0.9, 50_000, rng, window_bp=20_000, flank_bp=10_000)
    assert len(stats) > 1
    f = torch.tensor(f0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: marginal_loglik(stats, t), (f,), eps=1e-9, atol=1e-6,
                                    rtol=1e-5)
    assert torch.autograd.gradcheck(
        lambda t: marginal_loglik(stats, t, relative_to_null=True, per_window=True), (f,),
        eps=1e-9, atol=1e-6, rtol=1e-5)


def test_types_in_and_out(sim22):
    stats = make_stats(sim22, window_bp=300_000, flank_bp=50_000)
    f = sim22[3][stats.variants["row"].to_numpy()]
    assert isinstance(marginal_loglik(stats, f), float)
    pw = marginal_loglik(stats, f, per_window=True)
    assert isinstance(pw, np.ndarray) and pw.shape == (len(stats),)
    assert np.isclose(pw.sum(), marginal_loglik(stats, f), rtol=1e-12)
    t = torch.tensor(f, dtype=torch.float32, requires_grad=True)
    out = marginal_loglik(stats, t, relative_to_null=True)
    assert out.dtype == torch.float32 and out.requires_grad
    out.backward()
    assert t.grad.shape == t.shape and torch.isfinite(t.grad).all()
    # the null model has zero gain, and the gain is the difference to the null log-likelihood
    assert marginal_loglik(stats, np.zeros_like(f), relative_to_null=True) == 0.0
    gain = marginal_loglik(stats, f, relative_to_null=True)
    null = marginal_loglik(stats, np.zeros_like(f))
    assert np.isclose(marginal_loglik(stats, f) - null, gain, rtol=1e-9)


@pytest.mark.parametrize("bad,msg", [
    (lambda f: f[:-1], "shape"),
    (lambda f: np.where(np.arange(len(f)) == 3, -1e-6, f), "non-negative"),
    (lambda f: np.where(np.arange(len(f)) == 3, np.nan, f), "NaN"),
])
def test_bad_f(sim22, bad, msg):
    stats = make_stats(sim22, window_bp=500_000)
    f = sim22[3][stats.variants["row"].to_numpy()]
    with pytest.raises(ValueError, match=msg):
        marginal_loglik(stats, bad(f))


def test_unknown_linalg(sim22):
    stats = make_stats(sim22, window_bp=500_000)
    with pytest.raises(ValueError, match="linalg"):
        marginal_loglik(stats, np.zeros(stats.n_variants), linalg="svd")


def test_public_names():
    assert deepwas.SummaryStats is SummaryStats and deepwas.marginal_loglik is marginal_loglik


def test_gram_in_blocks_equals_the_general_product(sim22):
    """C's Gram matrix G^T diag(w) G by its lower triangle in blocks equals the general
    product on a real rank-deficient window (r above two splits): float64 to 1e-13 of its
    largest entry, float32 to 1e-5, exactly symmetric; zero weights allowed; a column-major G
    gives the same; a negative weight (no square root) takes the general product."""
    from deepwas.solvers import exact
    stats = make_stats(sim22, window_bp=400_000, flank_bp=100_000)
    k = int(np.argmax([stats.window_factors(j).rank for j in range(len(stats))]))
    wt = stats.window_factors(k)
    assert wt.rank < len(stats.windows[k][0])      # rank-deficient core
    assert wt.rank >= 2 * exact.GRAM_MIN_SPLIT      # the blocks split twice
    rng = np.random.default_rng(3)
    w = np.exp(rng.normal(size=wt.G.shape[0]) * 2)
    w[::7] = 0.0
    for dtype, tol in ((torch.float64, 1e-13), (torch.float32, 1e-5)):
        G, wt_ = torch.as_tensor(wt.G, dtype=dtype), torch.as_tensor(w, dtype=dtype)
        general = (G.double() * wt_.double().unsqueeze(1)).T @ G.double()
        for g in (G, G.T.contiguous().T):           # row- and column-major storage
            ours = exact._gram(g, wt_)
            assert ours.dtype == dtype and torch.equal(ours, ours.T)
            err = float((ours.double() - general).abs().max() / general.abs().max())
            assert err <= tol, (dtype, err)
    G = torch.as_tensor(wt.G)
    neg = torch.as_tensor(w).clone()
    neg[3] = -1e-3
    general = (G * neg.unsqueeze(1)).T @ G
    ours = exact._gram(G, neg)
    assert torch.equal(ours, ours.T)
    assert float((ours - general).abs().max() / general.abs().max()) <= 1e-15

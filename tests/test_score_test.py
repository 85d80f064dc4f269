"""Score test of new annotations (deepwas.score_test): the gradient against finite differences
of the exact likelihood, detection of an enriched candidate, nulls that look null, agreement
with the Wald z of a refit, and the bad-input rules."""
import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas.likelihood import marginal_loglik
from deepwas.score_test import block_scores, efficient_scores, variant_gradient

from deepwas.datasets import demo_bfiles
from deepwas.ld import read_plink_reference

from conftest import simulated_stats


# ------------------------------------------------------------------ (a) dense float64 oracle
@pytest.fixture(scope="module")
def small(geno22):
    """300 chr22 variants in 3 overlapping windows (100 kb cores, 100 kb flanks), f varying."""
    rng = np.random.default_rng(3)
    sel = np.arange(0, 900, 3)
    f = rng.uniform(0.5, 2.0, len(sel)) * 0.05 / len(sel)
    stats = simulated_stats(geno22, sel, f, 0.95, 20_000, rng, window_bp=100_000,
                            flank_bp=100_000)
    return stats, f * rng.uniform(0.5, 2.0, len(sel))      # an f away from the truth


def test_variant_gradient_is_finite_difference_of_marginal_loglik(small):
    stats, f = small
    g = variant_gradient(stats, f, sigma2=0.9)
    assert len(stats) >= 2 and np.any(g != 0)
    for m in (0, 57, 150, len(f) - 1):
        h = 1e-4 * f[m]
        up, dn = f.copy(), f.copy()
        up[m] += h
        dn[m] -= h
        fd = (marginal_loglik(stats, up, sigma2=0.9) - marginal_loglik(stats, dn, sigma2=0.9)) \
            / (2 * h)
        assert g[m] == pytest.approx(fd, rel=1e-6, abs=1e-6 * np.abs(g).max())


def test_score_is_derivative_of_loglik_along_the_log_link(small):
    stats, f = small
    rng = np.random.default_rng(0)
    A = np.column_stack([rng.random(len(f)) < 0.3, rng.normal(size=len(f))]).astype(float)
    labels = np.arange(len(stats))
    u = block_scores(stats, f, A, labels, len(stats), "windows", sigma2=0.9)
    # the windows' scores sum to the total, whatever the blocks
    uv = block_scores(stats, f, A, np.arange(len(f)) % 4, 4, "variants", sigma2=0.9)
    np.testing.assert_allclose(u.sum(0), uv.sum(0), rtol=1e-10)
    for j in range(A.shape[1]):
        t = 1e-5
        fd = (marginal_loglik(stats, f * np.exp(t * A[:, j]), sigma2=0.9)
              - marginal_loglik(stats, f * np.exp(-t * A[:, j]), sigma2=0.9)) / (2 * t)
        assert u[:, j].sum() == pytest.approx(fd, rel=1e-6)


def test_efficient_score_projects_out_nuisance_and_jackknifes():
    rng = np.random.default_rng(1)
    n = 50
    un = rng.normal(size=(n, 2))
    noise = rng.normal(size=n)
    uc = np.column_stack([noise + un @ [3.0, -1.0], un[:, 0], un @ [2.0, 1.0] + 1e-2 * noise])
    score, se, z, df, explained = efficient_scores(uc, un)
    assert df == n - 3
    B = np.linalg.lstsq(un, uc[:, 0], rcond=None)[0]
    r = uc[:, 0] - un @ B
    assert score[0] == pytest.approx(r.sum())
    # jackknife variance of the residual scores, times n / (n - P) for the P fitted columns
    assert se[0] == pytest.approx(np.sqrt((n - 1) / (n - 2) * ((r - r.mean()) ** 2).sum()))
    assert explained.tolist() == [False, True, False]      # a nuisance score itself: no test
    assert np.isnan(z[1]) and np.isfinite(z[2])
    # without nuisance: the plain jackknife of the per-block scores
    s0, se0, _, df0, _ = efficient_scores(uc[:, :1])
    assert df0 == n - 1
    assert s0[0] == pytest.approx(uc[:, 0].sum())
    assert se0[0] == pytest.approx(uc[:, 0].std(ddof=1) * (n - 1) / np.sqrt(n))


# ------------------------------------------------------------------ (b), (c) a fitted GLM
@pytest.fixture(scope="module")
def fitted():
    """8 shipped 1000 Genomes regions (every 12th SNP with MAF >= 1 %, one window each: 8
    independent jackknife blocks), h2 = 0.1, N = 50,000, the GWAS drawn through the genotypes.
    The truth: 6 x the per-SNP h2 in ``hidden`` (25-kb runs, 1 in 4), which the GLM does not
    see; its features: ``seen`` (``hidden`` with 30 % of its values flipped) and noise.
    Null candidates: random 5-kb runs (1 in 5) and continuous noise."""
    rng = np.random.default_rng(11)
    panel = read_plink_reference(demo_bfiles(list(range(1, 9))))
    p = panel.mean / 2
    ld = panel.subset(np.flatnonzero((np.minimum(p, 1 - p) >= 0.01) & ~panel.monomorphic)[::12])
    v = ld.variants.reset_index(drop=True)
    M, N, H2 = len(v), 50_000, 0.1
    pos, chrom = v["pos"].to_numpy(), v["chrom"].astype(str).to_numpy()

    def runs(bp):
        return pd.factorize(pd.Series(chrom) + ":" + pd.Series(pos // bp).astype(str))[0]

    hidden = (rng.random(M) < 0.25)[runs(25_000)].astype(float)
    seen = np.where(rng.random(M) < 0.3, 1.0 - hidden, hidden)
    noise = rng.normal(size=M)
    f = (1.0 + 5.0 * hidden) * H2 / (1.0 + 5.0 * hidden).sum()
    beta = rng.standard_normal(M) * np.sqrt(f)
    beta_hat = np.empty(M)
    for c in pd.unique(chrom):
        idx = np.flatnonzero(chrom == c)
        X = ld.standardised(idx)
        beta_hat[idx] = (X @ (X.T @ beta[idx]) + np.sqrt((1 - H2) / N * X.shape[1])
                         * (X @ rng.standard_normal(X.shape[1]))) / X.shape[1]
    sumstats = pd.DataFrame({"SNP": v["snp"], "A1": v["a1"], "A2": v["a2"],
                             "Z": beta_hat * np.sqrt(N), "N": N})

    def make(*features):
        return deepwas.SummaryStats.from_ld_source(
            ld, sumstats, sigma2=1 - H2, keep_ambiguous=True, window_bp=2_000_000,
            flank_bp=2_000_000, features=np.column_stack(features).astype(np.float32),
            ld_regularisation="none", ld_blocks="none")

    stats = make(seen, noise)
    est = deepwas.GLMPrior(alpha=0.0, random_state=0).fit(stats)
    run5 = runs(5_000)
    nulls = [(rng.random(M) < 0.2)[run5].astype(float) for _ in range(5)] + \
        [rng.normal(size=M) for _ in range(5)]
    weak = np.where(rng.random(M) < 0.4, 1.0 - hidden, hidden)     # a blurred ``hidden``
    cands = pd.DataFrame(np.column_stack([hidden, seen, weak] + nulls),
                         columns=["hidden", "seen", "weak"] + [f"null{k}" for k in range(10)])
    cands.insert(0, "SNP", v["snp"])
    return stats, est, cands, hidden, lambda a: make(seen, noise, a)


def test_enriched_candidate_detected_nulls_null(fitted):
    stats, est, cands, *_ = fitted
    res = est.score_test(stats, cands, n_blocks=8, min_variants=100).set_index("Category")
    assert res.attrs["jackknife_unit"] == "windows" and res.attrs["n_blocks"] == 8
    assert len(res.attrs["nuisance"]) == 3          # intercept + 2 feature weights
    assert res.loc["hidden", "status"] == "tested"
    assert res.loc["hidden", "z"] > 4 and res.loc["hidden", "direction"] == "enriched"
    assert res.loc["hidden", "p"] < 1e-4
    nulls = res.loc[[c for c in res.index if c.startswith("null")]]
    assert (nulls["status"] == "tested").all()
    assert np.abs(nulls["z"]).max() < 3.5 and np.abs(nulls["z"]).mean() < 1.6
    # a model feature tested again: its score is the model's own, no test
    assert res.loc["seen", "status"] == "explained by the model"
    assert np.isnan(res.loc["seen", "p"])


def test_too_few_variants_not_tested(fitted):
    stats, est, cands, hidden, _ = fitted
    tiny = pd.DataFrame({"SNP": cands["SNP"], "tiny": (np.arange(len(hidden)) < 50) * 1.0,
                         "hidden": hidden})
    res = est.score_test(stats, tiny, n_blocks=8, min_variants=100).set_index("Category")
    assert res.loc["tiny", "status"] == "too few variants" and res.loc["tiny", "n_variants"] == 50
    assert np.isnan(res.loc["tiny", "z"]) and res.loc["hidden", "status"] == "tested"


def test_score_z_agrees_with_wald_z_of_refit(fitted):
    """Refit the GLM with the candidate added: the Wald z of its coefficient (pseudo-jackknife
    SE of partitioned_h2's machinery, here the GLM weight) and the score z agree in sign and
    within a factor of about two."""
    from deepwas.jackknife import jackknife_cov, leave_out_priors, plan_blocks

    stats, est, cands, hidden, make = fitted
    res = est.score_test(stats, cands, n_blocks=8, min_variants=100).set_index("Category")
    for name in ("weak",):           # one refit (with its pseudo-jackknife) keeps this fast
        s2 = make(cands[name].to_numpy())
        est2 = deepwas.GLMPrior(alpha=0.0, random_state=0).fit(s2)
        labels, n, unit = plan_blocks(s2, 8)
        prior, theta, loo, _ = leave_out_priors(est2, s2, labels, n, "pseudo", unit=unit)
        # the flat parameter vector is (pred_weight[0..2], intercept) in module order
        at = 0
        for key, p in prior.named_parameters():
            if key == "network.pred_weight":
                at += 2
                break
            at += p.numel()
        se = np.sqrt(jackknife_cov(theta[at:at + 1], loo[:, at:at + 1])[0, 0])
        wald, z = theta[at] / se, res.loc[name, "z"]
        print(f"{name}: score z {z:.2f}, Wald z {wald:.2f}")
        assert np.sign(z) == np.sign(wald) and 0.5 < z / wald < 2.0


def test_partitioned_h2_marks_model_derived_rows(fitted):
    stats, est, cands, *_ = fitted
    with np.errstate(all="ignore"):
        res = est.partitioned_h2(stats, cands[["SNP", "hidden", "seen"]].assign(
            scaled=2 * cands["seen"] + 1, one=1.0), jackknife="none").set_index("Category")
    assert res["model_derived"].to_dict() == {"hidden": True, "seen": False, "scaled": False,
                                              "one": False}
    own = est.partitioned_h2(stats, jackknife="none")
    assert not own["model_derived"].any()


def test_neural_prior_conditional_on_its_scale(geno22):
    """A transformer prior: the candidate term multiplies its f, the test is conditional on
    its intercept (d log f / d intercept: 1 inside the soft bounds), and the score equals a
    finite difference of the likelihood along the candidate after that projection."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from deepwas.estimators._score_test import nuisance_directions
    from deepwas.simulate import semi_synthetic

    X, variants, R = geno22
    sel = np.arange(0, 900, 3)
    stats = deepwas.SummaryStats.from_arrays(
        np.zeros(len(sel)), 20_000, variants["chrom"][sel], variants["pos"][sel],
        R[np.ix_(sel, sel)], freq=np.random.default_rng(5).uniform(0.05, 0.5, len(sel)),
        ld_regularisation="none", window_bp=100_000, flank_bp=100_000)
    sim, _ = semi_synthetic(stats, truth="glm", h2=0.05, n=20_000, n_tracks=2, width=8,
                            n_pred=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = deepwas.FunctionalPrior(model="transformer", model_params={"size": "tiny"},
                                      max_epochs=1, random_state=0).fit(sim)
    D, names = nuisance_directions(est, sim)
    assert names == ["network.linear.intercept"]       # the residual transformer's GLM part
    np.testing.assert_allclose(D[:, 0], 1.0, atol=1e-3)
    rng = np.random.default_rng(2)
    a = (rng.random(sim.n_variants) < 0.3).astype(float)
    res = est.score_test(sim, pd.DataFrame({"a": a}), n_blocks=len(sim), min_variants=10)
    assert res.attrs["nuisance"] == ["network.linear.intercept"] and res["status"][0] == "tested"
    f = est.predict_f(sim)
    kw = dict(sigma2=est.sigma2_ if est.sigma2 is not None else None)
    u = block_scores(sim, f, np.column_stack([a, D]), np.arange(len(sim)), len(sim), **kw)
    for j, d in enumerate((a, D[:, 0])):
        t = 1e-5
        fd = (marginal_loglik(sim, f * np.exp(t * d), **kw)
              - marginal_loglik(sim, f * np.exp(-t * d), **kw)) / (2 * t)
        # abs: the intercept's score is ~0 at the fit (the residual transformer's GLM part is
        # fitted to convergence), where the central difference's rounding (eps |L| / t,
        # ~2e-8 here) is all there is to compare
        assert u[:, j].sum() == pytest.approx(fd, rel=1e-5, abs=1e-6)
    score, se, z, _, _ = efficient_scores(u[:, :1], u[:, 1:])
    assert res["score"][0] == pytest.approx(score[0]) and res["z"][0] == pytest.approx(z[0])


def test_gradient_with_ld_mismatch_variance(geno22):
    """Windows built with ld_regularisation="mismatch": the gradient at a mismatch variance
    kappa is the finite difference of the likelihood at that kappa (and differs from kappa=0)."""
    X, variants, R = geno22
    sel = np.arange(1, 900, 3)
    rng = np.random.default_rng(4)
    f = rng.uniform(0.5, 2.0, len(sel)) * 0.05 / len(sel)
    stats = deepwas.SummaryStats.from_arrays(
        rng.normal(size=len(sel)) * 0.01, 20_000, variants["chrom"][sel], variants["pos"][sel],
        R[np.ix_(sel, sel)], sigma2=0.95, ld_regularisation="mismatch", window_bp=100_000,
        flank_bp=100_000)
    g = variant_gradient(stats, f, mismatch=0.5)
    assert not np.allclose(g, variant_gradient(stats, f, mismatch=0.0))
    a = (rng.random(len(sel)) < 0.4).astype(float)
    t = 1e-5
    fd = (marginal_loglik(stats, f * np.exp(t * a), mismatch=0.5)
          - marginal_loglik(stats, f * np.exp(-t * a), mismatch=0.5)) / (2 * t)
    assert (a * f * g).sum() == pytest.approx(fd, rel=1e-6)

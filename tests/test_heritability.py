"""GLM links, partitioned heritability (S-LDSC's .results), the block jackknife and its
bad-input rules."""
import copy
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps
import torch

import deepwas
from deepwas.heritability import RESULTS_COLUMNS
from deepwas.jackknife import jackknife_blocks, jackknife_cov, leave_out_priors
from deepwas.priors import build_prior
from deepwas.priors.glm import inverse_log_link, log_link

from conftest import simulate_beta_hat

SEL = np.arange(0, 2400, 3)      # 800 chr22 variants, windows of 200 kb (flanks: the region)


# ------------------------------------------------------------------ links
@pytest.mark.parametrize("link", ["exp", "softplus", "identity"])
def test_link_values_and_inverse(link):
    eta = torch.tensor([-3.0, 0.5, 2.0], dtype=torch.float64)
    want = {"exp": eta, "softplus": torch.log(torch.log1p(torch.exp(eta))),
            "identity": torch.log(eta.clamp_min(math.exp(-30)))}[link]
    assert torch.allclose(log_link(eta, link), want)
    for log_f in (-20.0, -3.0, -0.1):
        assert log_link(torch.tensor(inverse_log_link(log_f, link), dtype=torch.float64),
                        link).item() == pytest.approx(log_f, abs=1e-9)


def test_identity_link_clips_negative_f_and_softplus_is_stable():
    low = log_link(torch.tensor([-1.0, -1e-9], dtype=torch.float64), "identity")
    assert torch.all(low == -30.0)                 # f = e^-30, never log of a negative
    x = torch.tensor([-200.0, -40.0], dtype=torch.float64, requires_grad=True)
    y = log_link(x, "softplus")
    y.sum().backward()
    assert torch.allclose(y, x.detach()) and torch.all(torch.isfinite(x.grad))


@pytest.mark.parametrize("link", ["exp", "softplus", "identity"])
def test_set_log_scale_gives_that_f(link):
    prior = build_prior("glm", d_pred=2, link=link)
    prior.set_log_scale(math.log(3e-7))
    f = torch.exp(prior(pred=torch.ones(4, 2), n=4))
    assert torch.allclose(f.double(), torch.full((4,), 3e-7, dtype=torch.float64), rtol=1e-4)


def test_identity_link_is_sldsc_linear_model():
    prior = build_prior("glm", d_pred=2, link="identity", alpha=0.7)
    assert float(prior.alpha) == 0.0                # no frequency term
    prior.set_standardisation(pred_mean=[5.0, 5.0], pred_scale=[2.0, 2.0])   # ignored
    prior.set_log_scale(math.log(1e-7))
    with torch.no_grad():
        prior.network.pred_weight.copy_(torch.tensor([2.0, 0.5]))
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.4]])
    f = torch.exp(prior(pred=a, freq=torch.full((3,), 0.1))).double().detach().numpy()
    b0, _, tau = prior.network.coefficients()
    np.testing.assert_allclose(tau, [2e-7, 0.5e-7], rtol=1e-6)
    assert b0 == pytest.approx(1e-7, rel=1e-4)
    np.testing.assert_allclose(f, b0 + a.double().numpy() @ tau, rtol=1e-5)
    with pytest.raises(ValueError, match="learn_alpha"):
        build_prior("glm", d_pred=1, link="identity", learn_alpha=True)


# ------------------------------------------------------------------ jackknife pieces
def test_jackknife_cov_is_pseudovalue_covariance_around_full_estimate():
    loo = np.array([[1.0, 2.0], [1.2, 2.1], [0.9, 1.7], [1.1, 2.4]])
    est = np.array([1.05, 2.0])
    n = 4
    ps = n * est - (n - 1) * loo
    np.testing.assert_allclose(jackknife_cov(est, loo), np.cov(ps.T, ddof=1) / n)
    # the variance is (n-1)/n sum (loo - mean)^2, whatever the full estimate
    np.testing.assert_allclose(jackknife_cov(est, loo)[0, 0],
                               (n - 1) / n * ((loo[:, 0] - loo[:, 0].mean()) ** 2).sum())


def test_jackknife_blocks_contiguous_and_fewer_windows():
    labels, n = jackknife_blocks(10, 4)
    assert n == 4 and np.all(np.diff(labels) >= 0) and len(set(labels)) == 4
    with pytest.warns(UserWarning, match="one block per window"):
        labels, n = jackknife_blocks(5, 200)
    assert n == 5 and list(labels) == [0, 1, 2, 3, 4]


# ------------------------------------------------------------------ a small fitted GLM
@pytest.fixture(scope="module")
def fitted(geno22):
    X, variants, R = geno22
    rng = np.random.default_rng(7)
    pos = variants["pos"].to_numpy()[SEL]
    annot = ((pos // 25_000) % 4 == 0).astype(float)          # 25-kb blocks, 1 in 4
    cont = rng.random(len(SEL))
    f = (1 + 4 * annot) * 1.0
    f *= 0.1 / f.sum()
    beta_hat = simulate_beta_hat(X[SEL], f, 0.9, 50_000, rng)
    stats = deepwas.SummaryStats.from_arrays(
        beta_hat, 50_000, variants["chrom"][SEL], pos, R[np.ix_(SEL, SEL)], sigma2=0.9,
        snp=variants["snp"].to_numpy()[SEL] if "snp" in variants else None,
        features=np.column_stack([annot, cont]).astype(np.float32),
        ld_regularisation="none", window_bp=200_000, flank_bp=1_000_000)
    est = deepwas.GLMPrior(alpha=0.0, random_state=0).fit(stats)
    return stats, est, np.column_stack([annot, cont])


def test_table_definitions_without_jackknife(fitted):
    stats, est, A = fitted
    res = est.partitioned_h2(stats, pd.DataFrame(A, columns=["A", "B"]), jackknife="none")
    assert list(res.columns[:10]) == RESULTS_COLUMNS
    f = est.predict_f(stats)
    M, h2 = len(f), f.sum()
    prop = A.T @ f / h2
    np.testing.assert_allclose(res["Prop._h2"], prop, rtol=1e-6)
    np.testing.assert_allclose(res["Prop._SNPs"], A.mean(0))
    np.testing.assert_allclose(res["Enrichment"], prop / A.mean(0), rtol=1e-6)
    tau = np.linalg.lstsq(np.column_stack([A, np.ones(M)]), f, rcond=None)[0][:2]
    np.testing.assert_allclose(res["Coefficient"], tau, rtol=1e-5)
    np.testing.assert_allclose(res["tau_star"], tau * A.std(0) * M / h2, rtol=1e-5)
    assert res.attrs["h2"] == pytest.approx(h2) and np.isnan(res.attrs["h2_std_error"])
    assert res["Enrichment"][0] > 1.5          # the simulated enrichment (truth ~2.3) is seen


def test_pseudo_jackknife_is_one_newton_step_of_the_refit(fitted):
    stats, est, _ = fitted
    labels, n = jackknife_blocks(len(stats), 3)
    _, theta, pseudo, _ = leave_out_priors(est, stats, labels, n, "pseudo")
    _, theta2, refit = leave_out_priors(est, stats, labels, n, "refit")[:3]
    np.testing.assert_allclose(theta, theta2)
    shift_p, shift_r = pseudo - theta, refit - theta
    # same leave-out parameters to a small fraction of their shift (sign and size)
    assert np.abs(shift_p - shift_r).max() < 0.1 * np.abs(shift_r).max()


def test_jackknife_ses_and_p_values(fitted):
    stats, est, A = fitted
    res = est.partitioned_h2(stats, pd.DataFrame(A, columns=["A", "B"]), n_blocks=len(stats))
    assert res.attrs["n_blocks"] == len(stats) and res.attrs["jackknife"] == "pseudo"
    assert res.attrs["jackknife_unit"] == "windows"
    assert np.all(res["Prop._h2_std_error"] > 0) and res.attrs["h2_std_error"] > 0
    np.testing.assert_allclose(res["Enrichment_std_error"],
                               res["Prop._h2_std_error"] / res["Prop._SNPs"])
    # a continuous annotation that sums below 0: the enrichment turns sign, its SE does not
    neg = est.partitioned_h2(stats, pd.DataFrame({"B": A[:, 1], "negB": -A[:, 1]}),
                             n_blocks=len(stats))
    b, nb = neg.iloc[0], neg.iloc[1]
    assert nb["Prop._SNPs"] < 0 and nb["Enrichment"] == pytest.approx(b["Enrichment"])
    assert b["Enrichment_std_error"] > 0
    assert nb["Enrichment_std_error"] == pytest.approx(b["Enrichment_std_error"])
    np.testing.assert_allclose(res["Coefficient_z-score"],
                               res["Coefficient"] / res["Coefficient_std_error"])
    assert 0 <= res["Enrichment_p"][1] <= 1 and res["Enrichment_p"][0] < res["Enrichment_p"][1]
    # the h2 interval: the t quantile of n_blocks - 1 degrees of freedom, not the normal's
    lo, hi = res.attrs["h2_ci95"]
    q = sps.t.ppf(0.975, len(stats) - 1)
    assert q > 2.0 and (hi - lo) / 2 == pytest.approx(q * res.attrs["h2_std_error"], rel=1e-12)
    assert (lo + hi) / 2 == pytest.approx(res.attrs["h2"], rel=1e-12)
    # the enrichment's interval likewise (also where M_c < 0: its SE stays positive)
    for tab in (res, neg):
        half = q * tab["Enrichment_std_error"]
        assert (half > 0).all()
        np.testing.assert_allclose(tab["Enrichment_ci95_upper"], tab["Enrichment"] + half,
                                   rtol=1e-12)
        np.testing.assert_allclose(tab["Enrichment_ci95_lower"], tab["Enrichment"] - half,
                                   rtol=1e-12)


def test_bad_annotations(fitted):
    stats, est, A = fitted
    v = stats.variants
    df = pd.DataFrame({"SNP": v["snp"], "A": A[:, 0], "zero": 0.0, "base": 1.0})
    part = df.iloc[50:]                              # 50 variants not covered
    with pytest.warns(UserWarning) as rec:
        res = est.partitioned_h2(stats, part, jackknife="none")
    text = " ".join(str(w.message) for w in rec)
    assert "do not cover 50 of" in text and "'zero' is 0 on every" in text and "constant" in text
    assert res.attrs["n_variants_not_annotated"] == 50 and res.attrs["n_variants"] == len(v) - 50
    assert np.isnan(res.attrs["h2_ci95"]).all()               # no jackknife, no interval
    assert res[["Enrichment_ci95_lower", "Enrichment_ci95_upper"]].isna().all(axis=None)
    f = est.predict_f(stats)[50:]
    # not zero-filled: sums over the covered variants only
    assert res.attrs["h2"] == pytest.approx(f.sum())
    assert res["Prop._SNPs"][0] == pytest.approx(A[50:, 0].mean())
    zero, base = res.iloc[1], res.iloc[2]
    assert np.isnan(zero["Enrichment"]) and np.isnan(zero["Enrichment_p"])
    assert base["Enrichment"] == 1.0 and np.isnan(base["Enrichment_p"])
    with pytest.raises(ValueError, match="one row per variant"):
        est.partitioned_h2(stats, pd.DataFrame({"A": A[:10, 0]}))


# ------------------------------------------------------------------ BED annotations
def _write_bed(path, chrom, intervals, gz=False):
    import gzip

    text = "track name=test\n" + "".join(f"{chrom}\t{s}\t{e}\n" for s, e in intervals)
    with (gzip.open(path, "wt") if gz else open(path, "w")) as fh:
        fh.write(text)
    return str(path)


def test_bed_annotations_go_straight_to_partitioned_h2(fitted, tmp_path):
    """BedAnnotations (or .bed paths, alone or next to .annot files) give the table of the
    same 0/1 columns as a DataFrame, named by file."""
    from deepwas.features import BedAnnotations

    stats, est, A = fitted
    v = stats.variants
    pos = v["pos"].to_numpy()
    blocks = np.unique(pos[A[:, 0] == 1] // 25_000)
    # 0-based half-open [25k b - 1, 25k (b + 1) - 1) holds the 1-based positions of block b
    a_bed = _write_bed(tmp_path / "blocks.bed", "chr22",
                       [(25_000 * b - 1, 25_000 * (b + 1) - 1) for b in blocks])
    lo = int(np.quantile(pos, 0.3))
    b_bed = _write_bed(tmp_path / "middle.bed.gz", "22", [(lo, lo + 150_000)], gz=True)
    inside = ((pos - 1 >= lo) & (pos - 1 < lo + 150_000)).astype(float)
    want = est.partitioned_h2(stats, pd.DataFrame({"blocks": A[:, 0], "middle": inside}),
                              jackknife="none")
    for annotations in (BedAnnotations([a_bed, b_bed]), [a_bed, b_bed]):
        got = est.partitioned_h2(stats, annotations, jackknife="none")
        assert list(got["Category"]) == ["blocks", "middle"]
        pd.testing.assert_frame_equal(got, want)
    # .annot and BED files together: the columns of each, side by side
    annot = tmp_path / "cont.annot"
    pd.DataFrame({"CHR": 22, "BP": pos, "SNP": v["snp"], "CM": 0.0, "B": A[:, 1]}).to_csv(
        annot, sep="\t", index=False)
    both = est.partitioned_h2(stats, [str(annot), a_bed], jackknife="none")
    assert list(both["Category"]) == ["B", "blocks"]
    ref = est.partitioned_h2(stats, pd.DataFrame({"B": A[:, 1], "blocks": A[:, 0]}),
                             jackknife="none")
    pd.testing.assert_frame_equal(both, ref)
    with pytest.raises(ValueError, match="annotation 'blocks' is named twice"):
        est.partitioned_h2(stats, [a_bed, a_bed], jackknife="none")


def test_duplicated_snps_are_named(fitted, tmp_path):
    stats, est, A = fitted
    v = stats.variants
    df = pd.DataFrame({"SNP": v["snp"], "A": A[:, 0]})
    dup = pd.concat([df, df.iloc[[3, 7]]], ignore_index=True)
    snps = list(v["snp"].iloc[[3, 7]])
    with pytest.raises(ValueError, match=f"2 SNPs listed more than once \\(e.g. {snps[0]}, "
                                         f"{snps[1]}\\)"):
        est.partitioned_h2(stats, dup, jackknife="none")
    path = tmp_path / "dup.annot"
    dup.assign(CHR=22, BP=0, CM=0.0).to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match=f"dup.annot: 2 SNPs listed more than once "
                                         f"\\(e.g. {snps[0]}"):
        est.partitioned_h2(stats, str(path), jackknife="none")


def test_a_prior_without_features_reports_the_total_h2(geno22):
    """No annotations and no scalar features (a constant prior): one all-ones row, ``base``,
    whose h2 is the prior's and whose SE comes from the jackknife (``deepwas h2`` on a constant
    model stopped with "no scalar features" before)."""
    from conftest import chr22_small_windows

    stats, _ = chr22_small_windows(geno22, 0)
    est = deepwas.ConstantPrior(random_state=0).fit(stats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # 'base' is constant: enrichment 1, no test
        tab = est.partitioned_h2(stats, n_blocks=10)
    assert list(tab["Category"]) == ["base"] and tab["Enrichment"].iat[0] == 1.0
    assert tab.attrs["h2"] == pytest.approx(est.h2(stats), rel=1e-10)
    assert 0 < tab.attrs["h2_std_error"] < tab.attrs["h2"]


def test_an_annotation_at_the_links_bound_gets_no_standard_error(fitted):
    """An unpenalised fit (LD score regression's GLM) can run to where one side of a binary
    annotation has f ~ 0: there every leave-out fit sits at the bound too, so the jackknife
    gave SE ~0 and Enrichment_p ~1e-5 (the reference-panel study: 4.94 +- 0.00002, truth
    2.1). Such rows get NaN SEs and p, with a warning; the other rows keep theirs."""
    stats, est, A = fitted
    bound = copy.deepcopy(est)
    with torch.no_grad():
        w = bound.prior_.network.pred_weight
        w[0] = 40.0                 # log f of A's variants 40 / sd(A) above the rest's
    tab = pd.DataFrame(A, columns=["A", "B"])
    with pytest.warns(UserWarning, match="'A' carries 100.0000% of h2.*NaN"):
        res = bound.partitioned_h2(stats, tab, n_blocks=len(stats))
    a, b = res.iloc[0], res.iloc[1]
    assert a["Enrichment"] == pytest.approx(1 / a["Prop._SNPs"], rel=1e-6)
    assert np.isnan(a["Enrichment_std_error"]) and np.isnan(a["Enrichment_p"])
    assert np.isnan(a["Prop._h2_std_error"]) and np.isnan(a["Coefficient_std_error"])
    assert b["Enrichment_std_error"] > 0 and res.attrs["h2_std_error"] > 0
    # the complement at the bound: the annotation carries ~0 of h2
    with torch.no_grad():
        w[0] = -40.0
    with pytest.warns(UserWarning, match="'A' carries 0.0000% of h2"):
        res = bound.partitioned_h2(stats, tab, n_blocks=len(stats))
    assert np.isnan(res["Enrichment_std_error"][0])
    # the fitted GLM itself (enrichment ~2.3) is far from the bound: no warning, real SEs
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert est.partitioned_h2(stats, tab, n_blocks=len(stats))[
            "Enrichment_std_error"].gt(0).all()
    assert not [w for w in seen if "of h2 in the fitted prior" in str(w.message)]

"""Collinear and constant predictors, runaway fits and the ridge penalty (issue 21, item 3).

On a PLINK 1 panel A1 is the minor allele, so ``freq`` and ``maf`` are one column: the GLM
drops ``maf`` with a warning, and the dropped predictor stays out of predict_f, save/load and
partitioned_h2. On one real LDGM block with 304 SNPs, the unpenalised GLM runs to the bound
of log f; the default ridge keeps it finite and the unpenalised fit warns."""
import warnings

import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas import load_model, save_model
from deepwas.features import ArrayFeatures, BasicPredictors
from deepwas.utils.collinearity import redundant_columns

from conftest import bfile, simulate_beta_hat


def test_redundant_columns_rule():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5000, 3))
    cols = np.column_stack([x[:, 0], x[:, 0],                       # an exact copy
                            np.full(5000, 2.5),                      # constant
                            x[:, 1], x[:, 0] + x[:, 1] + 1e-4 * x[:, 2],   # R2 = 1 - 5e-9
                            x[:, 1] + 0.05 * x[:, 2]])               # R2 = 1 - 2.5e-3: kept
    names = ["freq", "maf", "const", "b", "sum", "b_noisy"]
    got = redundant_columns(cols.mean(0), np.cov(cols.T), names)
    assert sorted(got) == [1, 2, 4]
    assert got[1].startswith("collinear with freq (R² = 1 - ") and got[2] == "constant"
    assert "collinear with" in got[4] and "freq" in got[4] and "b" in got[4]


@pytest.fixture(scope="module")
def plink22(geno22):
    """The shipped chr22 panel (A1 = the minor allele in its .bim) with freq/maf predictors."""
    X, variants, R = geno22
    rng = np.random.default_rng(5)
    f = np.full(len(variants), 0.05 / len(variants))
    z = simulate_beta_hat(X, f, 0.95, 100_000, rng) * np.sqrt(100_000)
    ss = pd.DataFrame({"SNP": variants["snp"], "A1": variants["a1"], "A2": variants["a2"],
                       "Z": z, "N": 100_000})
    return deepwas.SummaryStats.from_plink([bfile(22)], ss, sigma2=0.95, keep_ambiguous=True,
                                           features=BasicPredictors(), window_bp=250_000,
                                           flank_bp=250_000, ld_regularisation="none")


def test_freq_and_maf_on_a_plink_panel_fit_one_weight(plink22, tmp_path):
    st = plink22
    pred = st.get_features().pred
    assert np.array_equal(pred[:, 0], pred[:, 1])               # the premise: one column
    with pytest.warns(UserWarning, match=r"1 feature dropped before the fit.*maf: collinear "
                                         r"with freq \(R² = 1 - "):
        est = deepwas.GLMPrior(random_state=0).fit(st)
    assert list(est.dropped_features_) == ["maf"]
    assert est.prior_.network.pred_weight[1].item() == 0.0
    assert list(est.prior_.pred_keep.numpy()) == [1.0, 0.0]
    # the same prior as a GLM on freq alone
    alone = st.with_beta_hat(st.variants["beta_hat"].to_numpy(),
                             features=ArrayFeatures(pred=pred[:, :1], pred_names=["freq"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)             # nothing to drop there
        ref = deepwas.GLMPrior(random_state=0).fit(alone)
    np.testing.assert_allclose(est.predict_f(st), ref.predict_f(alone), rtol=1e-6)
    # saved and loaded: the mask and the names travel
    save_model(est, tmp_path / "m")
    back, cfg = load_model(tmp_path / "m")
    assert cfg["fitted"]["dropped_features"] == est.dropped_features_
    assert back.dropped_features_ == est.dropped_features_
    np.testing.assert_array_equal(back.predict_f(st), est.predict_f(st))
    # partitioned_h2 on the model's features: no row (and no coefficient) for maf
    with pytest.warns(UserWarning, match="maf"):
        tab = back.partitioned_h2(st, jackknife="none")
    assert list(tab["Category"]) == ["freq"]
    # annotations that are copies of each other: one coefficient, the copy's is NaN
    both = pd.DataFrame({"SNP": st.variants["snp"], "freq": pred[:, 0], "maf": pred[:, 1]})
    with pytest.warns(UserWarning, match="'maf' is collinear with freq"):
        tab = est.partitioned_h2(st, both, jackknife="none")
    assert np.isfinite(tab["Coefficient"][0]) and np.isnan(tab["Coefficient"][1])
    assert np.isnan(tab["tau_star"][1])
    assert tab["Enrichment"][0] == pytest.approx(tab["Enrichment"][1])


def test_constant_predictor_is_dropped_for_every_model(plink22):
    st = plink22
    pred = np.column_stack([st.get_features().pred[:, 0], np.full(st.n_variants, 3.0)])
    data = st.with_beta_hat(st.variants["beta_hat"].to_numpy(),
                            features=ArrayFeatures(pred=pred, pred_names=["freq", "three"]))
    for model in ("glm", deepwas.priors.GLMNet(d_pred=2)):
        with pytest.warns(UserWarning, match="three: constant"):
            est = deepwas.FunctionalPrior(model=model, random_state=0).fit(data)
        assert est.dropped_features_ == {"three": "constant"}


def _ldgm_stats(ldgm_block, start, n_snps=304):
    """304 contiguous SNPs of the real LDGM block, graphld's simulated z (a prior that does not
    depend on frequency), freq/maf predictors."""
    ref = np.load(ldgm_block / "graphld_reference.npz")
    sel = np.arange(start, start + n_snps)
    ss = pd.DataFrame({"SNP": ref["snp"][sel], "CHR": "1", "BP": ref["pos"][sel],
                       "A1": ref["a1"][sel], "A2": ref["a2"][sel], "Z": ref["z"][sel],
                       "N": float(ref["n"])})
    return deepwas.SummaryStats.from_ldgm(ldgm_block / "metadata.csv", ss, keep_ambiguous=True,
                                          features=BasicPredictors())


def _network_output(est, st):
    import torch

    with torch.no_grad():
        return est.prior_.network_output(None, torch.as_tensor(st.get_features().pred),
                                         n=st.n_variants).numpy()


def test_glm_on_one_ldgm_block_stays_finite(ldgm_block):
    st = _ldgm_stats(ldgm_block, 1341)
    assert len(st) == 1 and st.n_variants == 304
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)         # no 'not to be trusted'
        est = deepwas.GLMPrior(random_state=0).fit(st)
    assert est.ridge_ == 1.0
    raw = _network_output(est, st)
    assert raw.min() > est.prior_.lo + 5                     # far from the bound of log f
    assert np.abs(est.prior_.network.pred_weight.numpy()).max() < 2
    f = np.sort(est.predict_f(st))
    assert f[-10:].sum() < 0.5 * f.sum()
    # unpenalised, the same fit runs to the bound (intercept -116, weights 52 and 31) and says so
    with pytest.warns(RuntimeWarning, match=r"not to be trusted: \d+ % of the 304 training "
                                            r"variants end at the lower bound of log f.*"
                                            r"ridge=0\). Fit on more windows, with fewer "
                                            r"predictors, or with a larger ridge"):
        free = deepwas.GLMPrior(random_state=0, ridge=0).fit(st)
    assert np.mean(_network_output(free, st) < free.prior_.lo + 1) > 0.5


def test_ridge_is_refused_with_adamw_and_validated(plink22):
    with pytest.raises(ValueError, match="ridge=0.5 applies to L-BFGS fits"):
        deepwas.GLMPrior(optimizer="adamw", ridge=0.5, max_epochs=1).fit(plink22)
    with pytest.raises(ValueError, match="ridge must be"):
        deepwas.GLMPrior(ridge=-1).fit(plink22)

"""FunctionalPrior and presets on real 1000 Genomes LD with simulated GWAS.

Data: the shipped 1000 Genomes EUR genotypes (489 people, one 1 Mb region per chromosome),
every third SNP, 100 kb core windows whose extended set is the whole region; beta_hat drawn
by :func:`deepwas.simulate.semi_synthetic` (h2 = 0.5, N = 1e5).
"""
import math
import os
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

import deepwas
from deepwas.estimators import (ConstantPrior, FunctionalPrior, GLMPrior, TransformerPrior,
                                likelihood_increase_percent)
from deepwas.features.base import ArrayFeatures, Features
from deepwas.likelihood import marginal_loglik
from deepwas.solvers import IterativeConfig
from deepwas.utils.estimator_checks import check_estimator, check_grid_search

import simdata as sd

FAST = dict(max_epochs=1, init_windows=2, accumulate=2, warmup_steps=1, lr=0.01)
MICRO = dict(dim=8, depth=1, heads=2, pooled_len=4)
PRESETS = [
    (ConstantPrior, {}),
    (GLMPrior, {}),
    (GLMPrior, {"solver": "ldsr"}),
    (TransformerPrior, {"model_params": MICRO}),
]
TEST_CHROMS = ("9", "10")


@pytest.fixture(scope="module")
def small():
    """12 windows (3 on each of chromosomes 1-4), every 8th SNP: the contract-check data, with
    the package's default LD model (mismatch)."""
    sim, f = sd.simulated("glm", chroms=(1, 2, 3, 4), thin=8, ld_regularisation="mismatch")
    keep = np.concatenate([np.flatnonzero(sim.groups == c)[[0, 4, 8]]
                           for c in ("1", "2", "3", "4")])
    stats = sim[keep]
    train, test = sd.split_by_chrom(stats, ["4"])
    return stats, train, test


@pytest.fixture(scope="module")
def glm_data():
    sim, f = sd.simulated("glm")
    sim.precompute()
    train, test = sd.split_by_chrom(sim, TEST_CHROMS)
    return sim, f, train, test


@pytest.fixture(scope="module")
def glm_fits(glm_data):
    sim, f, train, test = glm_data
    fits = {
        "constant": ConstantPrior(random_state=0).fit(train),     # defaults: L-BFGS to the ML
        "glm": GLMPrior(random_state=0).fit(train),
        "glm_ldsr": GLMPrior(solver="ldsr", random_state=0).fit(train),
    }
    return fits


# ------------------------------------------------------------------------------ contract
@pytest.mark.parametrize("cls,extra", PRESETS, ids=[f"{c.__name__}-{e.get('solver', 'deepwas')}"
                                                    for c, e in PRESETS])
def test_presets_pass_the_public_check_suite(small, cls, extra):
    stats, train, test = small
    est = cls(**FAST, **extra)
    assert est.model == {"ConstantPrior": "constant", "GLMPrior": "glm",
                         "TransformerPrior": "transformer"}[cls.__name__]
    assert np.isfinite(check_estimator(est, stats))


def test_grid_search_over_model(small):
    stats, _, _ = small
    gs = check_grid_search(ConstantPrior(**FAST, model_params={"size": "tiny"}), stats,
                           models=("constant", "glm", "transformer"))
    assert type(gs.best_estimator_) is ConstantPrior


def test_constructor_stores_params_and_fit_validates(small):
    stats, train, _ = small
    est = FunctionalPrior(model="mlp", solver="nope", lr=-1)     # no validation here
    assert est.get_params()["model"] == "mlp"
    with pytest.raises(ValueError, match="model"):
        est.fit(train)
    for bad in (dict(solver="nope"), dict(linalg="qr"), dict(sigma2=2.5), dict(lr=0.0),
                dict(max_epochs=0), dict(accumulate=0), dict(dtype="float16"),
                dict(patience=2), dict(h2_init=0.0)):
        with pytest.raises(ValueError):
            ConstantPrior(**{**FAST, **bad}).fit(train)
    with pytest.raises(TypeError, match="SummaryStats"):
        ConstantPrior().fit(np.zeros((3, 3)))


def test_feature_requirements(small):
    stats, train, _ = small
    plain = train.with_beta_hat(train.variants["beta_hat"].to_numpy())
    bare = deepwas.SummaryStats.from_arrays(
        np.zeros(6), 1e4, ["1"] * 6, np.arange(6) * 100, np.eye(6), freq=np.full(6, 0.3))
    with pytest.raises(ValueError, match="needs features"):
        GLMPrior(**FAST).fit(bare)
    preds_only = bare.with_beta_hat(np.zeros(6), features=np.ones((6, 2)))
    with pytest.raises(ValueError, match="tracks"):
        TransformerPrior(**FAST).fit(preds_only)
    assert plain.features is not None


# ------------------------------------------------------------------------------ learning
def _weighted_log_rmse(f_hat, f_true):
    """RMSE of log f weighted by f_true: recovery where the heritability is."""
    w = f_true / f_true.sum()
    return float(np.sqrt(np.sum(w * (np.log(f_hat) - np.log(f_true)) ** 2)))


def test_glm_truth_glm_beats_constant(glm_data, glm_fits):
    """On a GLM truth, the maximum-likelihood GLM beats the constant prior out of sample.

    Recovery is measured where the heritability is (log f error weighted by f_true): the
    likelihood hardly sees f of variants that carry almost none of it (here the 5 % binary
    "coding" predictor, whose ML weight drives their f towards 0 at a gain of a few nats), so
    the unweighted RMSE of log f is not what the maximum likelihood optimises.
    """
    sim, f, train, test = glm_data
    f_test = sd.f_on(test, sim, f)
    rmse = {k: _weighted_log_rmse(est.predict_f(test), f_test) for k, est in glm_fits.items()}
    score = {k: est.score(test) for k, est in glm_fits.items()}
    truth = marginal_loglik(test, f_test, relative_to_null=True) / test.n
    print("f-weighted RMSE(log f) on held-out chromosomes:", rmse)
    print("held-out score (nats/person):", score, "truth:", truth)
    assert rmse["glm"] < 0.75 * rmse["constant"]
    assert score["glm"] > score["constant"]
    # the learned prior cannot beat the truth by more than noise (N * 1e-4 = 10 nats)
    assert score["glm"] < truth + 1e-4
    # LDSR path: trains (loss falls), predicts, scores; still learns the features
    ldsr = glm_fits["glm_ldsr"]
    losses = ldsr.history_[:, "train_loss"]
    assert losses[-1] < losses[0]
    assert np.isfinite(score["glm_ldsr"]) and score["glm_ldsr"] > score["constant"]
    assert rmse["glm_ldsr"] < rmse["constant"]
    assert ldsr.solver == "ldsr" and np.isfinite(ldsr.ldsr_h2_)


def test_score_is_exact_heldout_gain_per_person(glm_data, glm_fits):
    sim, f, train, test = glm_data
    est = glm_fits["glm"]
    expect = marginal_loglik(test, est.predict_f(test), relative_to_null=True,
                             linalg="cholesky") / test.n
    assert est.score(test) == pytest.approx(expect, rel=1e-12)
    assert likelihood_increase_percent(est.score(test)) == pytest.approx(100 * math.expm1(expect))
    assert deepwas.likelihood_increase_percent(0.0291) == pytest.approx(2.9528, abs=1e-3)


def test_constant_truth_recovers_h2():
    """ConstantPrior on constant-truth data: sum f_hat within 4 standard errors of h2.

    Standard error of log h2_hat from the Fisher information of the scale c in f = c f0:
    I = 1/2 sum_windows sum_j (k_j / (1 + k_j))^2, k_j the eigenvalues of G^T F G / s. The
    windows overlap in their extended sets (composite likelihood), which makes 1/sqrt(I)
    optimistic; the bound adds 0.05 for that and for optimisation (measured spread over seeds
    is in the issue note).
    """
    sim, f = sd.simulated("constant", chroms=(1, 2, 3, 4, 5), seed=1)
    s = sim.sigma2 / sim.n
    info = 0.0
    for k, (_, ext) in enumerate(sim.windows):
        G = sim.window_tensors(k).G.numpy()
        kap = np.linalg.eigvalsh((G * f[ext][:, None]).T @ G / s)
        info += 0.5 * np.sum((kap / (1 + kap)) ** 2)
    se = 1 / math.sqrt(info)
    est = ConstantPrior(random_state=0).fit(sim)
    h2_hat = est.h2(sim)
    print(f"h2_hat={h2_hat:.4f} (truth 0.5), se(log h2)={se:.4f}")
    assert abs(math.log(h2_hat / 0.5)) < 4 * se + 0.05


@pytest.mark.filterwarnings("ignore:LDSR intercept:RuntimeWarning")
def test_sigma2_given_or_estimated(small):
    stats, train, test = small
    est = ConstantPrior(**FAST, sigma2=0.8).fit(train)
    assert est.sigma2_ == 0.8
    assert est.score(test) == pytest.approx(
        marginal_loglik(test, est.predict_f(test), relative_to_null=True, sigma2=0.8,
                        mismatch=est.ld_mismatch_) / test.n)
    est = ConstantPrior(**FAST).fit(train)
    assert est.sigma2_ == train.sigma2 == 0.5
    est = ConstantPrior(**FAST, solver="ldsr", sigma2="estimate").fit(train)
    assert 0.01 <= est.sigma2_ <= 2.0 and est.sigma2_ == pytest.approx(
        np.clip(est.ldsr_intercept_, 0.01, 2.0))


# ------------------------------------------------------------------------------ features
def test_standardisation_uses_training_windows_only(small):
    stats, train, test = small
    est = GLMPrior(**FAST, random_state=0).fit(train)
    core = np.concatenate([c for c, _ in train.windows])
    feats = train.get_features(core)
    np.testing.assert_allclose(est.pred_mean_, feats.pred.astype(np.float64).mean(0), rtol=1e-6)
    np.testing.assert_allclose(est.func_mean_, feats.func.astype(np.float64).mean((0, 2)),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(est.func_scale_, feats.func.astype(np.float64).std((0, 2)),
                               rtol=1e-5)
    # the held-out chromosome's features play no part: same fit with them shifted
    v = stats.variants
    shifted = stats.get_features()
    on_test = np.isin(v["chrom"].to_numpy(), ["4"])
    shifted.pred[on_test] += 100.0
    stats2 = stats.with_beta_hat(v["beta_hat"].to_numpy(), features=(shifted.func, shifted.pred))
    train2, _ = sd.split_by_chrom(stats2, ["4"])
    est2 = GLMPrior(**FAST, random_state=0).fit(train2)
    np.testing.assert_array_equal(est2.pred_mean_, est.pred_mean_)
    np.testing.assert_array_equal(est2.predict_f(train2), est.predict_f(train))


def test_predict_f_accepts_tables_and_features(small):
    stats, train, test = small
    est = GLMPrior(**FAST, random_state=0).fit(train)
    f = est.predict_f(test)
    v = test.variants
    feats = test.get_features()
    # a provider plus a variant table (variants need no LD)
    prov = ArrayFeatures(func=feats.func, pred=feats.pred)
    table = v.assign(row=np.arange(len(v)))
    np.testing.assert_allclose(est.predict_f(table, features=prov), f, rtol=1e-6)
    np.testing.assert_allclose(est.predict_f(v, features=feats), f, rtol=1e-6)
    np.testing.assert_allclose(est.predict_f(feats, freq=v["freq"].to_numpy()), f, rtol=1e-6)
    with pytest.raises(ValueError, match="features="):
        est.predict_f(v)
    with pytest.raises(ValueError, match="tracks of shape"):
        est.predict_f(Features(func=feats.func[:, :2], pred=feats.pred), freq=v["freq"].to_numpy())
    with pytest.raises(TypeError):
        est.predict_f(np.zeros(3))
    # the constant prior needs no features at all
    c = ConstantPrior(**FAST).fit(train)
    np.testing.assert_allclose(c.predict_f(v[["chrom", "pos", "freq"]]), c.predict_f(test),
                               rtol=1e-6)


# ------------------------------------------------------------------------------ training loop
def test_validation_checkpoint_restores_best_epoch(small, tmp_path):
    stats, train, test = small
    est = GLMPrior(optimizer="adamw", max_epochs=8, init_windows=2, accumulate=2, warmup_steps=1,
                   lr=0.2, validation=["3"], patience=2, checkpoint_dir=str(tmp_path),
                   dtype="float64", random_state=0).fit(train)
    assert est.valid_chromosomes_ == ["3"] and "3" not in est.train_chromosomes_
    valid_loss = np.array(est.history_[:, "valid_loss"])
    # each fit checkpoints into a folder of its own under checkpoint_dir
    assert os.path.dirname(est.checkpoint_path_) == str(tmp_path)
    assert os.path.exists(os.path.join(est.checkpoint_path_, "params.pt"))
    valid = train[train.groups == "3"]
    fit_part = train[train.groups != "3"]
    mean_core = np.mean([len(c) for c, _ in fit_part.windows])
    # valid_loss = mean over validation windows of -gain / mean core size, so the restored
    # (best) epoch reproduces min(valid_loss) through the exact held-out score
    restored = -est.score(valid) * valid.n / (len(valid) * mean_core)
    print("valid_loss per epoch", valid_loss, "restored", restored)
    assert restored == pytest.approx(valid_loss.min(), rel=1e-6)
    if valid_loss.argmin() != len(valid_loss) - 1:      # the best epoch, not the last one
        assert restored != pytest.approx(valid_loss[-1], rel=1e-6)
    assert est.n_iter_ < 8                                  # early stopping ended it
    # standardisation came from the training part only
    core = np.concatenate([c for c, _ in fit_part.windows])
    np.testing.assert_allclose(est.pred_mean_, fit_part.get_features(core).pred.mean(0), rtol=1e-5)
    # a fraction picks whole chromosomes
    est = ConstantPrior(**FAST, validation=0.34, random_state=1).fit(train)
    assert len(est.valid_chromosomes_) == 1


def test_warmup_accumulation_and_clipping(small):
    stats, train, _ = small
    n_train = len(train)
    est = ConstantPrior(optimizer="adamw", max_epochs=2, init_windows=2, accumulate=4,
                        warmup_steps=3, lr=0.01, random_state=0).fit(train)
    steps_per_epoch = math.ceil(n_train / 4)
    assert est.n_steps_ == 2 * steps_per_epoch
    lrs = [b["event_lr"] for e in est.history_ for b in e["batches"]]
    assert max(lrs) == pytest.approx(0.01) and lrs[0] < 0.01
    assert np.all(np.diff(lrs) >= -1e-15)                 # linear warm-up, then constant
    assert est.warmup_steps_ == min(3, math.ceil(steps_per_epoch / 2))
    assert est.accumulate_ == 4
    assert est.n_parameters_ == 1  # the constant prior trains its intercept only
    # a warm-up longer than the run is capped at half an epoch and half the planned steps
    capped = ConstantPrior(optimizer="adamw", max_epochs=2, init_windows=2, accumulate=4,
                           warmup_steps=100, lr=0.01,
                           random_state=0).fit(train)
    assert capped.warmup_steps_ == min(math.ceil(steps_per_epoch / 2), est.n_steps_ // 2)
    lrs = [b["event_lr"] for e in capped.history_ for b in e["batches"]]
    assert max(lrs) == pytest.approx(0.01)


def test_auto_accumulate_and_warmup_cap():
    """accumulate="auto": the paper's 12 windows per step at genome scale, fewer where that
    would leave under 10 steps per epoch; warm-up within half an epoch (early stopping counts
    epochs), the paper's 100 steps standing at its ~225 steps per epoch."""
    from types import SimpleNamespace

    from deepwas.estimators._stopping import capped_warmup, planned_epochs, resolve_accumulate
    assert resolve_accumulate("auto", 2700) == 12
    assert resolve_accumulate("auto", 60) == 6
    assert resolve_accumulate("auto", 9) == 1
    assert resolve_accumulate(5, 9) == 5
    assert capped_warmup(100, 225, 2250) == 100
    assert capped_warmup(100, 9, 207) == 5           # a demo fold: 9 windows, one per step
    assert capped_warmup(100, 9, 9) == 4              # one planned epoch
    # max_epochs="auto": min_steps' worth, at least 10; at least 50 under early stopping
    auto = SimpleNamespace(max_epochs="auto", min_steps=200)
    assert planned_epochs(auto, 9, 1) == 23
    assert planned_epochs(auto, 9, 1, early_stopping=True) == 50
    assert planned_epochs(auto, 2700, 12, early_stopping=True) == 50
    assert planned_epochs(auto, 900, 12) == 10
    assert planned_epochs(SimpleNamespace(max_epochs=7, min_steps=200), 9, 1, True) == 7


def test_verbose_prints_progress(small, capsys):
    stats, train, _ = small
    for optimizer in ("adamw", "lbfgs"):
        GLMPrior(**FAST, optimizer=optimizer, verbose=1).fit(train)
        out = capsys.readouterr()
        assert "train_loss" in out.out + out.err


def test_learn_alpha_and_float64(small):
    stats, train, test = small
    est = ConstantPrior(**{**FAST, "lr": 0.1, "max_epochs": 2}, learn_alpha=True,
                        dtype="float64").fit(train)
    assert est.alpha_ != 0.7
    assert np.isfinite(est.score(test))


def test_iterative_linalg_trains(small):
    stats, train, test = small
    est = ConstantPrior(**FAST, optimizer="adamw", linalg="iterative",
                        random_state=0).fit(train[:4])
    assert np.isfinite(est.score(test))
    # solver diagnostics are in the batch history, one entry per training window
    batches = [b for epoch in est.history_ for b in epoch["batches"] if "cg_iterations" in b]
    assert len(batches) == 4 * est.n_iter_
    assert all(b["linalg"] == "iterative" and b["logdet_stderr"] > 0 for b in batches)
    assert all(1 <= b["lanczos_steps"] <= IterativeConfig().lanczos_steps for b in batches)
    # a fresh probe seed per step, yet a seeded fit repeats exactly
    again = ConstantPrior(**FAST, optimizer="adamw", linalg="iterative",
                          random_state=0).fit(train[:4])
    np.testing.assert_array_equal(est.predict_f(test), again.predict_f(test))
    with pytest.raises(ValueError, match="iterative_options"):
        ConstantPrior(iterative_options={"n_probe": 8}).fit(train[:4])


def test_custom_network_module(small):
    from deepwas.priors import GLMNet

    stats, train, test = small
    prov = train.features
    net = GLMNet(prov.d_func, prov.width, prov.d_pred)
    est = FunctionalPrior(model=net, **FAST, random_state=0)
    c = clone(est)
    assert c.model is not net                      # clone deep-copies the module parameter
    est.fit(train)
    assert est.prior_.network is not net           # fit works on its own copy
    assert torch.all(net.func_weight == 0)
    ref = GLMPrior(**FAST, random_state=0).fit(train)
    np.testing.assert_allclose(est.predict_f(test), ref.predict_f(test), rtol=1e-6)
    assert est.n_parameters_ == ref.n_parameters_ == sum(p.numel() for p in net.parameters())


def test_likelihood_increase_percent():
    assert likelihood_increase_percent(0.0) == 0.0
    np.testing.assert_allclose(likelihood_increase_percent([math.log(1.1170), 0.0]), [11.70, 0.0])


# ------------------------------------------------------------------------------ convergence
def test_adamw_stops_on_a_plateau_and_warns_when_cut_short(small):
    from sklearn.exceptions import ConvergenceWarning

    stats, train, _ = small
    # lr ~ 0: the loss is flat, so training stops after 1 + n_iter_no_change epochs
    flat = ConstantPrior(optimizer="adamw", lr=1e-30, max_epochs=50, n_iter_no_change=2,
                         min_steps=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        flat.fit(train)
    assert flat.n_iter_ == 3 and flat.converged_ and flat.max_epochs_ == 50
    # min_steps holds the plateau check back
    held = ConstantPrior(optimizer="adamw", lr=1e-30, max_epochs=6, n_iter_no_change=2,
                         min_steps=10_000, random_state=0).fit(train)
    assert held.n_iter_ == 6 and held.converged_
    # a run that ends while the loss still falls says so
    with pytest.warns(ConvergenceWarning, match="still falling"):
        short = ConstantPrior(optimizer="adamw", lr=0.05, h2_init=1e-4, max_epochs=3,
                              random_state=0).fit(train)
    assert not short.converged_
    # "auto" epochs: enough for min_steps optimizer steps, at least 10
    # (validation=None: the default holds out one of the 3 chromosomes and stops early)
    auto = TransformerPrior(model_params=MICRO, lr=1e-30, min_steps=30, accumulate=4,
                            n_iter_no_change=50, validation=None, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        auto.fit(train)
    assert auto.max_epochs_ == 10 and auto.n_steps_ == 30    # 9 windows: 3 steps per epoch


def test_lbfgs_warns_when_it_stops_early(small):
    from sklearn.exceptions import ConvergenceWarning

    stats, train, _ = small
    with pytest.warns(ConvergenceWarning, match="L-BFGS stopped after 1 iterations"):
        est = GLMPrior(max_iter=1, random_state=0).fit(train)
    assert est.optimizer_ == "lbfgs" and est.n_iter_ == 1 and not est.converged_
    est = GLMPrior(random_state=0).fit(train)
    assert est.converged_ and est.history_[-1, "grad_max"] <= est.tol


def test_transformer_size_default_and_files_saved_before_it(small, tmp_path):
    """The default transformer is "tiny" with its learning rate; a model file that records no
    size (saved while the default was "small") still loads as "small"."""
    import json

    from deepwas.estimators import TRANSFORMER_LR, load_model, save_model
    from deepwas.priors import build_prior

    stats, train, test = small
    est = TransformerPrior(max_epochs=1, validation=None, random_state=0).fit(train)

    def numel(prior):
        return sum(p.numel() for p in prior.network.flexible.parameters())

    sizes = est.n_func_, est.width_, est.n_pred_
    assert numel(est.prior_) == numel(build_prior("transformer", *sizes, size="tiny"))
    assert est.lr_ == TRANSFORMER_LR["tiny"] == 3e-3
    assert est.accumulate_ == 1                          # 9 training windows
    _, js = save_model(est, tmp_path / "tiny")
    assert json.load(open(js))["fitted"]["transformer_size"] == "tiny"
    back, _ = load_model(tmp_path / "tiny")
    np.testing.assert_allclose(back.predict_f(test), est.predict_f(test), rtol=1e-6)

    old = TransformerPrior(max_epochs=1, validation=None, model_params={"size": "small"},
                           random_state=0).fit(train)
    assert old.lr_ == TRANSFORMER_LR["small"]
    _, js = save_model(old, tmp_path / "old")
    cfg = json.load(open(js))
    del cfg["fitted"]["transformer_size"]
    cfg["params"]["model_params"] = None                 # as the former default wrote it
    json.dump(cfg, open(js, "w"))
    back, _ = load_model(tmp_path / "old")
    np.testing.assert_allclose(back.predict_f(test), old.predict_f(test), rtol=1e-6)

"""Default fits reach the maximum of the likelihood they claim to maximise.

Oracle: a direct scipy maximisation of :func:`deepwas.marginal_loglik` (the public likelihood,
numpy and torch paths), with its own parameterisation of the constant and GLM priors; on 40
windows of real 1000 Genomes LD with a GLM truth. The estimators with default settings must
reach its h2 and enrichments to 0.2 % (the issue asks for 1 %; measured: 3e-7 for the constant
h2, 8e-5 for the GLM h2, 2e-4 and 9e-4 for the enrichments).
"""
import numpy as np
import pytest
import torch
from scipy.optimize import minimize, minimize_scalar

from deepwas import ConstantPrior, GLMPrior, marginal_loglik

import simdata as sd


@pytest.fixture(scope="module")
def oracle():
    sim, _ = sd.simulated("glm", chroms=(1, 2, 3, 4))
    v = sim.variants
    freq = np.clip(v["freq"].to_numpy(), 1e-4, 1 - 1e-4)
    lpq = 0.7 * np.log(freq * (1 - freq))
    feats = sim.get_features()
    X = np.concatenate([feats.func.astype(np.float64).mean(-1), feats.pred.astype(np.float64)], 1)
    X = (X - X.mean(0)) / X.std(0)       # any standardisation: h2 and enrichment do not see it

    def neg_const(log_c):
        return -marginal_loglik(sim, np.exp(lpq + log_c), relative_to_null=True)

    c = minimize_scalar(neg_const, bounds=(-25, 0), method="bounded", options={"xatol": 1e-8}).x
    lpq_t, X_t = torch.as_tensor(lpq), torch.as_tensor(X)

    def neg_glm(theta):
        th = torch.tensor(theta, requires_grad=True)
        loss = -marginal_loglik(sim, torch.exp(lpq_t + th[0] + X_t @ th[1:]), relative_to_null=True)
        loss.backward()
        return float(loss.detach()), th.grad.numpy().copy()

    res = minimize(neg_glm, np.r_[c, np.zeros(X.shape[1])], jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-9, "ftol": 1e-15, "maxiter": 1000})
    track = feats.func[:, 0].mean(-1)
    annotations = {"top track": track > np.quantile(track, 0.8), "coding": feats.pred[:, 0] > 0.5}
    return dict(sim=sim, f_const=np.exp(lpq + c), f_glm=np.exp(lpq + res.x[0] + X @ res.x[1:]),
                annotations=annotations)


def _enrichment(f, a):
    return (f[a].sum() / f.sum()) / a.mean()


def test_default_constant_fit_is_the_ml_h2(oracle):
    est = ConstantPrior(random_state=0).fit(oracle["sim"])
    assert est.optimizer_ == "lbfgs" and est.converged_
    assert est.h2(oracle["sim"]) == pytest.approx(oracle["f_const"].sum(), rel=2e-3)


def test_default_glm_fit_is_the_ml_h2_and_enrichment(oracle):
    # with the default ridge (a N(0, 1) prior on each standardised weight) against the
    # unpenalised oracle: on well-posed data the penalty moves nothing measurable
    sim = oracle["sim"]
    est = GLMPrior(random_state=0).fit(sim)
    assert est.optimizer_ == "lbfgs" and est.converged_ and est.ridge_ == 1.0
    f = est.predict_f(sim)
    assert f.sum() == pytest.approx(oracle["f_glm"].sum(), rel=2e-3)
    for name, a in oracle["annotations"].items():
        assert _enrichment(f, a) == pytest.approx(_enrichment(oracle["f_glm"], a), rel=2e-3), name

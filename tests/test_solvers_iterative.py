"""The iterative window solver (CG + SLQ) against the exact Cholesky solver on real 1000G LD.

Value accuracy is stated against the window's total negative log-likelihood (DESIGN section 1):
``NLL = NLL0 - gain`` with ``NLL0 = 1/2 [q/s + r log s + logdet+ R_II + r log 2 pi]``, so the
test compares ``|gain_iter - gain_exact| / |NLL_exact|``.
"""
import math
import warnings

import numpy as np
import pytest
import torch

from deepwas.solvers import IterativeConfig, choose_linalg, exact_gain, iterative_gain
from deepwas.solvers.iterative import _DataTerm, _ScaledWindow
from deepwas.windows import window_factors

N_GWAS = 300_000
S = 0.7 / N_GWAS  # sigma^2 / N with h^2 = 0.3


def _window(ref22, n_core, n_ext, ratio, seed):
    """Real-LD window factors with beta_hat ~ N(R beta, s R), beta ~ N(0, f_true),
    f_true/s ~ ratio."""
    rng = np.random.default_rng(seed)
    ext = np.flatnonzero(~ref22.monomorphic)[:n_ext]
    X = ref22.standardised(ext) / math.sqrt(ref22.n_ref)  # R_EE = X X^T
    f_true = S * ratio * rng.exponential(size=len(ext))
    beta = rng.normal(size=len(ext)) * np.sqrt(f_true)
    beta_hat = X @ (X.T @ beta) + X @ rng.normal(size=X.shape[1]) * math.sqrt(S)
    R_EI = X @ X[:n_core].T
    wf = window_factors(R_EI[:n_core], R_EI, beta_hat[:n_core])
    f0 = S * ratio * rng.exponential(size=len(ext))  # the prior being evaluated, != f_true
    return wf, f0


def _nll0(wf):
    return 0.5 * (wf.q / S + wf.rank * math.log(S) + wf.logdet_R + wf.rank * math.log(2 * math.pi))


def _exact(wf, f0):
    f = torch.tensor(f0, requires_grad=True)
    g = exact_gain(torch.tensor(wf.G), torch.tensor(wf.y), f, S)
    g.backward()
    return g.item(), f.grad


def _iterative(wf, f0, dtype=torch.float64, **cfg):
    f = torch.tensor(f0, dtype=dtype, requires_grad=True)
    g, info = iterative_gain(torch.tensor(wf.G, dtype=dtype), torch.tensor(wf.y, dtype=dtype),
                             f, S, IterativeConfig(**cfg))
    g.backward()
    return g.item(), f.grad.double(), info


def _cos(a, b):
    return float(a @ b / (a.norm() * b.norm()))


@pytest.fixture(scope="module")
def big(ref22):
    out = {ratio: _window(ref22, 1000, 2000, ratio, seed=1) for ratio in (0.3, 5.0)}
    # A prior spread over orders of magnitude (sd 1.5 in log f): the hardest case measured.
    wf, f0 = out[5.0]
    rng = np.random.default_rng(5)
    out["5.0-lognormal"] = wf, S * 5.0 * np.exp(1.5 * rng.normal(size=len(f0)) - 1.125)
    return out


@pytest.fixture(scope="module")
def small(ref22):
    return _window(ref22, 600, 1500, 1.0, seed=2)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
# Default settings at realistic (f/s ~ 0.3) and high (f/s ~ 5) signal.
@pytest.mark.parametrize("ratio", [0.3, 5.0, "5.0-lognormal"])
def test_value_and_gradient_match_exact(big, ratio, dtype):
    wf, f0 = big[ratio]
    assert wf.rank > 400  # a real window, not a toy
    g_ex, grad_ex = _exact(wf, f0)
    nll = _nll0(wf) - g_ex
    g_it, grad_it, info = _iterative(wf, f0, dtype)
    assert info["converged"] and not info["fallback"]
    assert abs(g_it - g_ex) / abs(nll) < 1e-3
    # The reported standard error is honest: the value is within 4 of them.
    assert abs(g_it - g_ex) < 4 * 0.5 * info["logdet_stderr"]
    assert _cos(grad_it, grad_ex) >= 0.99


def test_estimates_are_unbiased(small):
    """Averaging over seeds approaches exact: value within 3 s.e., gradient error shrinks."""
    wf, f0 = small
    g_ex, grad_ex = _exact(wf, f0)
    runs = [_iterative(wf, f0, seed=k, n_probes=8) for k in range(20)]
    vals = np.array([g for g, _, _ in runs])
    assert abs(vals.mean() - g_ex) < 3 * vals.std(ddof=1) / math.sqrt(len(vals))
    grads = torch.stack([gr for _, gr, _ in runs])
    err_single = (grads - grad_ex).norm(dim=1)
    err_mean = (grads.mean(0) - grad_ex).norm()
    # Independent noise shrinks like 1/sqrt(20) ~ 0.22; allow up to 0.4 of the typical single error.
    assert err_mean < 0.4 * err_single.median()


# Measured: value 5.9e-12 (float64) / 2.7e-7 (float32) relative -- second order in the CG
# residual, no cancellation -- and gradient 1.2e-5, first order in cg_tol = 1e-5.
@pytest.mark.parametrize("dtype, value_tol, grad_tol",
                         [(torch.float64, 1e-9, 1e-4), (torch.float32, 2e-6, 1e-4)])
def test_data_term_matches_dense_autograd_with_rhs_term(small, dtype, value_tol, grad_tol):
    """Q and dQ/df at the default CG tolerance match dense autograd of DESIGN's w = C^-1 v form.

    Differentiating that form with its right-hand side v(f) frozen -- what cola's CG autograd
    returns -- is far off, so the test would catch a gradient that lost the RHS term.
    """
    wf, f0 = small
    G, y, z = torch.tensor(wf.G), torch.tensor(wf.y), torch.tensor(wf.z)
    f = torch.tensor(f0, dtype=dtype, requires_grad=True)
    Q = _DataTerm.apply(f, _ScaledWindow(G.to(dtype), f.detach() / S), y.to(dtype), S,
                        IterativeConfig(), {})
    Q.backward()

    def dense_Q(f, v_f):
        C = torch.eye(G.shape[1], dtype=G.dtype) + G.T @ (G * (f / S)[:, None])
        v = G.T @ (v_f * z)
        return ((z * f * z).sum() - v @ torch.linalg.solve(C, v) / S) / S**2

    fr = torch.tensor(f0, requires_grad=True)
    Q_ref = dense_Q(fr, fr)
    Q_ref.backward()
    fo = torch.tensor(f0, requires_grad=True)  # RHS frozen: what cola's CG autograd returns
    dense_Q(fo, torch.tensor(f0)).backward()
    rel = lambda a, b: float((a.double() - b).norm() / b.norm())  # noqa: E731
    assert abs(Q.item() - Q_ref.item()) / Q_ref.item() < value_tol
    assert rel(f.grad, fr.grad) < grad_tol
    assert rel(fo.grad, fr.grad) > 0.1


def test_deterministic_for_fixed_seed(small):
    wf, f0 = small
    a = _iterative(wf, f0, seed=7)
    b = _iterative(wf, f0, seed=7)
    c = _iterative(wf, f0, seed=8)
    assert a[0] == b[0] and torch.equal(a[1], b[1])
    assert a[0] != c[0]


def test_nonconvergence_warns_and_falls_back(small):
    wf, f0 = small
    g_ex, grad_ex = _exact(wf, f0)
    with pytest.warns(RuntimeWarning, match="falling back to the exact"):
        g_it, grad_it, info = _iterative(wf, f0, cg_max_iters=1)
    assert info["fallback"] and not info["converged"]
    assert g_it == pytest.approx(g_ex, rel=1e-12)
    assert torch.allclose(grad_it, grad_ex, rtol=1e-10)


def test_value_only_needs_no_probe_solves(small):
    wf, f0 = small
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")
        _, info = iterative_gain(torch.tensor(wf.G), torch.tensor(wf.y), torch.tensor(f0), S)
    assert "probe_cg_iterations" not in info and info["cg_iterations"] > 0


def test_lanczos_stops_early_without_changing_the_value(big):
    wf, f0 = big[5.0]
    early = _iterative(wf, f0)
    full = _iterative(wf, f0, lanczos_rtol=0.0)
    assert early[2]["lanczos_steps"] < full[2]["lanczos_steps"] == IterativeConfig().lanczos_steps
    nll = abs(_nll0(wf) - early[0])
    assert abs(early[0] - full[0]) / nll < 1e-6


def test_config_validation():
    with pytest.raises(ValueError):
        IterativeConfig(probe="sobol")
    with pytest.raises(ValueError):
        IterativeConfig(n_probes=2)
    with pytest.raises(ValueError):
        IterativeConfig(lanczos_rtol=-1.0)


def test_choose_linalg():
    assert choose_linalg(2000, 500, "cpu") == "cholesky"
    assert choose_linalg(6000, 2000, "cpu") == "iterative"
    assert choose_linalg(6000, 2000, "cuda") == "cholesky"
    assert choose_linalg(20000, 20000, "cpu") == "iterative"

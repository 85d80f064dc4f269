"""The GPU path: same numbers on CUDA as on the CPU (skipped where no CUDA device exists)."""
import numpy as np
import pytest
import torch

from deepwas import ConstantPrior, marginal_loglik

from conftest import simulated_stats

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


@pytest.fixture(scope="module")
def stats(geno22):
    sel = np.arange(0, 1200)
    rng = np.random.default_rng(0)
    f = 0.3 / 1e6 * np.exp(rng.normal(size=len(sel)))
    st = simulated_stats(geno22, sel, f, 0.8, 300_000, rng, window_bp=200_000, flank_bp=100_000)
    return st, f


@pytest.mark.parametrize("linalg,rtol", [("cholesky", 1e-5), ("iterative", 1e-3)])
def test_likelihood_and_gradient_on_cuda(stats, linalg, rtol):
    st, f = stats
    cpu = torch.tensor(f, dtype=torch.float64, requires_grad=True)
    gpu = torch.tensor(f, dtype=torch.float32, device="cuda", requires_grad=True)
    v_cpu = marginal_loglik(st, cpu, linalg="cholesky")
    v_gpu = marginal_loglik(st, gpu, linalg=linalg)
    assert v_gpu.device.type == "cuda"
    assert abs(float(v_gpu) - float(v_cpu)) <= rtol * abs(float(v_cpu))
    v_cpu.backward()
    v_gpu.backward()
    a, b = cpu.grad.numpy(), gpu.grad.double().cpu().numpy()
    assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.99


def test_estimator_trains_on_cuda(stats):
    st, _ = stats
    est = ConstantPrior(device="cuda", max_epochs=1, accumulate=2, warmup_steps=1,
                        init_windows=2, random_state=0).fit(st)
    # the fitted prior is moved to the CPU
    assert next(est.prior_.parameters()).device.type == "cpu"
    assert np.isfinite(est.score(st))

"""Prior modules: features -> log f, no LD involved."""
import pytest
import torch

from deepwas.priors import (
    GLMNet, PriorModule, TRANSFORMER_PRESETS, TransformerNet, build_network, build_prior,
    count_parameters, soft_clamp)


def test_soft_clamp_is_identity_inside_and_bounded_outside():
    x = torch.linspace(-25, -5, 50, dtype=torch.float64, requires_grad=True)
    y = soft_clamp(x, -30.0, 0.0)
    assert torch.allclose(y, x, atol=1e-2)
    y.sum().backward()
    assert torch.all(x.grad > 0.99)
    big = torch.tensor([-1e6, -50.0, 10.0, 1e6], dtype=torch.float64, requires_grad=True)
    yb = soft_clamp(big, -30.0, 0.0)
    assert torch.all(yb >= -30.0) and torch.all(yb <= 0.0)
    yb.sum().backward()
    assert torch.all(torch.isfinite(big.grad))


def test_constant_prior_log_f_formula_and_alpha():
    prior = build_prior("constant", alpha=0.7)
    prior.set_intercept(-10.0)
    freq = torch.tensor([0.01, 0.2, 0.5, 0.9])
    logf = prior(freq=freq)
    expect = -10.0 + 0.7 * torch.log(freq * (1 - freq))
    assert torch.allclose(logf, expect, atol=1e-5)
    # no frequencies: just the (bounded) intercept
    assert torch.allclose(prior(n=3), torch.full((3,), -10.0), atol=1e-5)
    # alpha is a buffer by default, a parameter when learnable
    assert not any(n == "alpha" for n, _ in prior.named_parameters())
    lp = build_prior("constant", learn_alpha=True)
    assert "alpha" in dict(lp.named_parameters())
    lp(freq=freq).sum().backward()
    assert lp.alpha.grad is not None and lp.alpha.grad != 0


def test_f_never_overflows_or_vanishes():
    prior = build_prior("constant")
    freq = torch.tensor([0.0, 1.0, 0.5])   # monomorphic frequencies are clipped
    for b in (-1e6, 1e6):
        prior.set_intercept(b)
        f = torch.exp(prior(freq=freq))
        assert torch.all(torch.isfinite(f)) and torch.all(f > 0) and torch.all(f <= 1.0)


def test_glm_matches_its_formula_with_standardisation():
    g = torch.Generator().manual_seed(0)
    func = torch.randn(7, 3, 5, generator=g) * 2 + 1
    pred = torch.randn(7, 2, generator=g) * 3 - 1
    prior = build_prior("glm", 3, 5, 2, alpha=0.0)
    wf, wp = torch.tensor([0.5, -1.0, 0.25]), torch.tensor([0.3, -0.2])
    with torch.no_grad():
        prior.network.func_weight.copy_(wf)
        prior.network.pred_weight.copy_(wp)
    prior.set_intercept(-8.0)
    fm, fs = func.mean((0, 2)), func.std((0, 2))
    pm, ps = pred.mean(0), pred.std(0)
    prior.set_standardisation(fm, fs, pm, ps)
    expect = (-8.0 + ((func - fm[None, :, None]) / fs[None, :, None]).mean(-1) @ wf
              + ((pred - pm) / ps) @ wp)
    assert torch.allclose(prior(func, pred), soft_clamp(expect, -30.0, 0.0), atol=1e-5)
    # zero scale is replaced by one rather than dividing by zero
    prior.set_standardisation(pred_scale=torch.zeros(2))
    assert torch.all(prior.pred_scale == 1)


def test_untrained_glm_and_transformer_start_constant():
    func, pred = torch.randn(5, 2, 16), torch.randn(5, 3)
    for name in ("glm", "transformer"):
        prior = build_prior(name, 2, 16, 3, alpha=0.0)
        prior.set_intercept(-9.0)
        prior.eval()
        assert torch.allclose(prior(func, pred), torch.full((5,), -9.0), atol=1e-4), name


def test_transformer_variants_are_independent_and_trainable():
    torch.manual_seed(0)
    net = TransformerNet(3, 32, 2, dim=16, depth=1, heads=2, pooled_len=4, dropout=0.0)
    assert net.n_pool == 3 and net.length == 4
    with torch.no_grad():
        net.out.weight.normal_()
    net.eval()
    func, pred = torch.randn(9, 3, 32), torch.randn(9, 2)
    full = net(func, pred)
    part = net(func[2:5], pred[2:5])
    assert full.shape == (9,)
    assert torch.allclose(full[2:5], part, atol=1e-5)   # per-variant normalisation, no batch mixing
    net.train()
    net(func, pred).sum().backward()
    no_grad = [n for n, p in net.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert no_grad == [], no_grad


def test_transformer_odd_width_and_errors():
    net = TransformerNet(2, 21, 0, dim=8, heads=2, pooled_len=4)
    assert net(torch.randn(4, 2, 21)).shape == (4,)
    with pytest.raises(ValueError, match="tracks"):
        TransformerNet(0, 0, 3)
    with pytest.raises(ValueError, match="unknown model"):
        build_network("mlp")
    with pytest.raises(ValueError, match="unknown transformer size"):
        build_network("transformer", 2, 8, size="huge")
    with pytest.raises(ValueError, match="increasing"):
        PriorModule(GLMNet(), log_f_bounds=(0.0, -1.0))


def test_paper_preset_size():
    """The paper-sized network: dim 1536, 2 layers, 256 -> 32 positions (165 tracks,
    9 predictors)."""
    net = build_network("transformer", 165, 256, 9, size="paper").flexible   # the GLM part: 175
    n = count_parameters(net)
    assert TRANSFORMER_PRESETS["paper"]["dim"] == 1536 and net.length == 32
    assert 45e6 < n < 70e6, n
    # the two transformer layers alone: 2 * (4 d^2 + 2 * 2 d^2) ~ 37.8 M
    assert count_parameters(net.transformer) == pytest.approx(2 * 8 * 1536 ** 2, rel=0.01)

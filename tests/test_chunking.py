"""Variant chunking (issue 13, item 1): the prior evaluated a chunk at a time gives the gradient
of one pass, with its graph and its features bounded by the chunk."""
import numpy as np
import pytest
import torch

from deepwas.estimators import GLMPrior, TransformerPrior
from deepwas.fitting import _chunking, _features
from deepwas.fitting._chunking import (activation_bytes_per_variant, chunked_backward,
                                       resolve_chunk_size)
from deepwas.distributed import ProcessGroup
from deepwas.fitting._full_batch import _window_losses, mean_loss
from deepwas.priors import build_prior

import simdata as sd

MICRO = dict(dim=8, depth=1, heads=2, pooled_len=4)
FAST = dict(max_epochs=2, init_windows=2, accumulate=2, warmup_steps=1, lr=0.01, random_state=0,
            dtype="float64")


@pytest.fixture(scope="module")
def small():
    sim, _ = sd.simulated("glm", chroms=(1, 2, 3), thin=8)
    keep = np.concatenate([np.flatnonzero(sim.groups == c)[[0, 4]] for c in ("1", "2", "3")])
    return sim[keep]


@pytest.fixture
def float64_network():
    """The network in float64 too (the estimator's dtype sets only the likelihood's)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _params(est):
    return torch.cat([p.detach().reshape(-1).double() for p in est.prior_.parameters()])


def _window(n=37, d_func=3, width=16, d_pred=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d_func, width, generator=g), torch.randn(n, d_pred, generator=g),
            torch.rand(n, generator=g) * 0.5 + 0.01, torch.randn(n, generator=g))


def _loss(weights):
    # couples all variants, like the likelihood: a log-sum-exp and a quadratic form
    return lambda log_f: torch.logsumexp(log_f * 3, 0) + (torch.exp(log_f) * weights).sum() ** 2


def _grads(prior):
    return torch.cat([p.grad.reshape(-1) for p in prior.parameters() if p.requires_grad])


def test_chunked_gradient_equals_one_pass_and_dropout_is_replayed():
    func, pred, freq, w = _window()
    torch.manual_seed(0)
    prior = build_prior("transformer", 3, 16, 2, **MICRO, dropout=0.3).double()
    prior.train()
    get = lambda lo, hi: (func[lo:hi], pred[lo:hi], freq[lo:hi], hi - lo)  # noqa: E731
    # one pass, eval mode (no dropout): the reference gradient
    prior.eval()
    prior.zero_grad()
    ref_loss = _loss(w.double())(prior(func, pred, freq))
    ref_loss.backward()
    ref = _grads(prior).clone()
    prior.zero_grad()
    loss, log_f = chunked_backward(prior, get, 37, 5, _loss(w.double()))
    assert float(loss) == pytest.approx(float(ref_loss), rel=1e-12)
    assert torch.allclose(_grads(prior), ref, rtol=1e-10, atol=1e-13)
    # train mode: dropout in both evaluations of a chunk draws the same masks, so the outputs
    # that were back-propagated are the ones the loss was computed from
    prior.train()
    prior.zero_grad()
    seen = []
    hook = prior.register_forward_hook(
        lambda m, i, o: seen.append((torch.is_grad_enabled(), o.detach().clone())))
    torch.manual_seed(1)
    loss, log_f = chunked_backward(prior, get, 37, 5, _loss(w.double()))
    hook.remove()
    first = torch.cat([o for grad, o in seen if not grad])
    second = torch.cat([o for grad, o in seen if grad])
    assert torch.equal(first, log_f) and torch.equal(second, log_f)
    got = _grads(prior).clone()
    # ... and the gradient is that of the loss of those outputs, in one graph
    torch.manual_seed(1)
    prior.zero_grad()
    one = torch.cat([prior(*get(lo, min(37, lo + 5))[:3]) for lo in range(0, 37, 5)])
    assert torch.equal(one.detach(), log_f)
    _loss(w.double())(one).backward()
    assert torch.allclose(got, _grads(prior), rtol=1e-10, atol=1e-13)
    # the generator ends where one evaluation of the window leaves it
    torch.manual_seed(1)
    with torch.no_grad():
        for lo in range(0, 37, 5):
            prior(*get(lo, min(37, lo + 5))[:3])
    after = torch.get_rng_state()
    torch.manual_seed(1)
    chunked_backward(prior, get, 37, 5, _loss(w.double()))
    assert torch.equal(torch.get_rng_state(), after)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lbfgs_gradient_and_fit_identical_when_chunked(small):
    stats = small
    est = GLMPrior(init_windows=2, random_state=0, tol=1e-9, max_iter=5).fit(stats)
    prior = est.prior_.double()
    for p in prior.parameters():
        p.requires_grad_(True)
    with torch.no_grad():
        for p in prior.network.parameters():   # move off the optimum: a gradient to compare
            p.add_(0.05)
    from deepwas.fitting._objective import WindowObjective

    ids = np.arange(len(stats))
    obj = WindowObjective(stats, "deepwas", ids, est.sigma2_, torch.float64)
    fetch = _features.WindowFeatures(stats, (est.n_func_, est.width_, est.n_pred_),
                                     stats.variants["freq"].to_numpy(), "cpu", budget=0)
    v1, g1 = _window_losses(prior, obj, fetch, ids, True)
    v2, g2 = _window_losses(prior, obj, fetch, ids, True, chunk_size=13)
    print("L-BFGS gradient, chunked vs one pass: max abs diff", np.abs(g1 - g2).max(),
          "max abs", np.abs(g1).max())
    assert v1 == pytest.approx(v2, rel=1e-12)
    np.testing.assert_allclose(g2, g1, rtol=1e-9, atol=1e-12 * np.abs(g1).max())
    a = GLMPrior(init_windows=2, random_state=0, tol=1e-9, max_iter=5).fit(stats)
    b = GLMPrior(init_windows=2, random_state=0, tol=1e-9, max_iter=5, chunk_size=13).fit(stats)
    assert b.chunk_size_ == 13 and a.chunk_size_ is None and a.n_iter_ > 0
    assert float((_params(a) - _params(b)).abs().max()) <= 1e-6


# the transformer without validation windows: with them its part, trained 2 epochs on this
# small set, is dropped for the GLM and the AdamW parameters compared would not matter
@pytest.mark.parametrize("cls,extra", [(GLMPrior, dict(optimizer="adamw")),
                                       (TransformerPrior,
                                        dict(model_params=dict(MICRO, dropout=0.0),
                                             validation=None))],
                         ids=["glm", "transformer"])
def test_adamw_fit_identical_when_chunked(small, cls, extra, float64_network):
    a = cls(**FAST, **extra).fit(small)
    assert a.prior_.network.intercept.dtype == torch.float64
    b = cls(**FAST, **extra, chunk_size=50).fit(small)
    diff = float((_params(a) - _params(b)).abs().max())
    print(cls.__name__, "AdamW fit, chunked vs one pass: max abs parameter diff", diff)
    assert diff <= 1e-6
    assert float((_params(a) - _params(cls(**dict(FAST, lr=0.02), **extra).fit(small)))
                 .abs().max()) > 1e-4


def test_graph_and_features_bounded_by_the_chunk(small, monkeypatch):
    rows, graph = [], []
    get = small.get_features
    monkeypatch.setattr(type(small), "get_features",
                        lambda self, idx=None: rows.append(len(idx)) or get(idx), raising=True)
    monkeypatch.setattr(_features.WindowFeatures.__init__, "__defaults__", (0,))  # no cache
    whole = []
    call = _features.WindowFeatures.__call__
    monkeypatch.setattr(_features.WindowFeatures, "__call__",
                        lambda self, k: whole.append(k) or call(self, k))
    from deepwas.priors.base import PriorModule

    fwd = PriorModule.forward

    def spy(self, func=None, pred=None, freq=None, n=None):
        out = fwd(self, func, pred, freq, n)
        if torch.is_grad_enabled():
            graph.append(out.shape[0])
        return out

    monkeypatch.setattr(PriorModule, "forward", spy)
    est = TransformerPrior(**FAST, model_params=MICRO, chunk_size=40, validation=["3"])
    rows.clear()
    est.fit(small)
    ext = max(len(e) for _, e in small.windows)
    assert ext > 40 and max(graph) == 40
    assert not whole                          # no window's whole feature tensor was built
    training_reads = [r for r in rows if r <= 40]
    assert len(training_reads) > 0 and max(rows) <= max(
        40, max(len(c) for c, _ in small.windows))   # standardisation reads core windows


def test_chunk_size_validation_and_auto(small, monkeypatch):
    for bad in (0, -3, 2.5, "big"):
        with pytest.raises(ValueError, match="chunk_size"):
            GLMPrior(chunk_size=bad).fit(small)
    est = GLMPrior(chunk_size=0)
    assert est.get_params()["chunk_size"] == 0            # stored verbatim
    prior = build_prior("transformer", 3, 16, 2, **MICRO)
    per = activation_bytes_per_variant(prior, (3, 16, 2))
    bigger = activation_bytes_per_variant(build_prior("transformer", 3, 16, 2, dim=32, depth=1,
                                                      heads=2, pooled_len=4), (3, 16, 2))
    assert 4 * 3 * 16 < per < bigger
    assert resolve_chunk_size("auto", prior, (3, 16, 2)) == int(_chunking.AUTO_CHUNK_BYTES // per)
    assert resolve_chunk_size(None, prior, (3, 16, 2)) is None
    monkeypatch.setattr(_chunking, "AUTO_CHUNK_BYTES", int(per * 30))
    fitted = TransformerPrior(**FAST, model_params=MICRO, chunk_size="auto").fit(small)
    assert 20 <= fitted.chunk_size_ <= 40      # d_func 4 here, 3 above


class _LocalGroup(ProcessGroup):
    """One rank of a group whose all-reduce returns the local values (the test sums them)."""

    def all_reduce_sum(self, tensor):
        return tensor


def test_mean_loss_counts_every_window_once_across_processes(small):
    # the residual transformer's keep-or-drop decision compares this with the GLM's
    # validation loss: with each process evaluating every window, a 2-process fit summed
    # the loss twice and always kept the flexible part
    stats = small
    est = GLMPrior(init_windows=2, random_state=0, tol=1e-9, max_iter=5).fit(stats)
    prior = est.prior_.double()
    from deepwas.fitting._objective import WindowObjective

    ids = np.arange(len(stats))
    obj = WindowObjective(stats, "deepwas", ids, est.sigma2_, torch.float64)
    fetch = _features.WindowFeatures(stats, (est.n_func_, est.width_, est.n_pred_),
                                     stats.variants["freq"].to_numpy(), "cpu", budget=0)
    one = mean_loss(prior, obj, fetch, ids)
    assert one == pytest.approx(_window_losses(prior, obj, fetch, ids, False)[0], rel=1e-15)
    parts = [mean_loss(prior, obj, fetch, ids, group=_LocalGroup(rank=r, world_size=3))
             for r in range(3)]
    assert sum(parts) == pytest.approx(one, rel=1e-12)
    assert all(p != 0 for p in parts)

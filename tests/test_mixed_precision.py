"""bf16 autocast of the prior in AdamW training (issue 13, item 5): the network's products run in
bfloat16, the likelihood never sees it. No GPU here: the CPU autocast path is what runs."""
import warnings

import numpy as np
import pytest
import torch

from deepwas.estimators import FunctionalPrior
from deepwas.fitting._objective import WindowObjective

import distributed_fits as df

# residual=False: the dtypes seen are AdamW's alone (a residual transformer first fits its GLM
# part by float64 L-BFGS, which bf16 does not touch)
KW = dict(model="transformer", model_params=dict(df.MICRO, residual=False), max_epochs=2,
          init_windows=2, accumulate=3, warmup_steps=1, lr=0.01, random_state=0)


def _fit(stats, monkeypatch, **extra):
    """Fit; returns the estimator and the dtypes the likelihood and the Linear layers saw."""
    seen = {"loss": set(), "linear": set()}
    call, forward = WindowObjective.__call__, torch.nn.Linear.forward

    def recording_call(self, k, log_f, training):
        seen["loss"].add(log_f.dtype)
        return call(self, k, log_f, training)

    def recording_forward(self, x):
        out = forward(self, x)
        seen["linear"].add(out.dtype)
        return out

    with monkeypatch.context() as m, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.setattr(WindowObjective, "__call__", recording_call)
        m.setattr(torch.nn.Linear, "forward", recording_forward)
        est = FunctionalPrior(**KW, **extra).fit(stats)
    return est, seen


def test_bf16_autocast_trains_the_prior_and_feeds_the_likelihood_float32(monkeypatch):
    stats = df.small_stats()
    full, seen32 = _fit(stats, monkeypatch)
    half, seen16 = _fit(stats, monkeypatch, mixed_precision="bf16")
    assert seen32["linear"] == {torch.float32} and seen32["loss"] == {torch.float32}
    assert torch.bfloat16 in seen16["linear"]              # the network ran in bfloat16
    assert seen16["loss"] == {torch.float32}               # the likelihood did not
    p32 = torch.cat([p.reshape(-1) for p in full.prior_.parameters()])
    p16 = torch.cat([p.reshape(-1) for p in half.prior_.parameters()])
    assert p16.dtype == torch.float32 and torch.isfinite(p16).all()
    assert float((p32 - p16).abs().max()) > 0               # autocast was on
    loss32 = np.asarray(full.history_[:, "train_loss"])
    loss16 = np.asarray(half.history_[:, "train_loss"])
    print("train loss per epoch, float32:", loss32, "bf16:", loss16)
    np.testing.assert_allclose(loss16, loss32, rtol=1e-4)   # same fit to bf16's precision
    f = half.predict_f(stats)
    assert f.dtype == np.float64 and np.isfinite(f).all()


def test_bf16_is_for_adamw_only():
    stats = df.small_stats()
    with pytest.raises(ValueError, match="L-BFGS needs exact float64 gradients"):
        FunctionalPrior(model="glm", mixed_precision="bf16", init_windows=2).fit(stats)
    with pytest.raises(ValueError, match="mixed_precision must be"):
        FunctionalPrior(mixed_precision="fp16").fit(stats)

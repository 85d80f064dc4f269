"""window_order="contiguous" (issue 13, item 2): consecutive windows per optimizer step, the
prior evaluated once per distinct variant of the step, with the gradient of per-window
evaluation."""
import os
import types

import numpy as np
import pytest
import torch

from deepwas.estimators import TransformerPrior
from deepwas.estimators import _resume
from deepwas.estimators._design import standardisation
from deepwas.fitting._features import WindowFeatures, feature_sizes, freq_array
from deepwas.fitting._objective import WindowObjective
from deepwas.estimators._window_module import WindowModule
from deepwas.estimators._window_sampling import contiguous_groups
from deepwas.priors import build_prior

import simdata as sd
from resume_helpers import crash_after

MICRO = dict(dim=8, depth=1, heads=2, pooled_len=4)


@pytest.fixture(scope="module")
def sim():
    stats, _ = sd.simulated("glm", chroms=(1, 2, 3), thin=8)
    return stats


def _grad(prior):
    return torch.cat([p.grad.reshape(-1) for p in prior.parameters() if p.grad is not None])


@pytest.mark.parametrize("chunk", [None, 37])
def test_shared_evaluation_gives_the_per_window_gradient(sim, chunk):
    ks = [int(k) for k in np.flatnonzero(sim.groups == "2")[:5]]
    sizes = feature_sizes("transformer", sim)
    freq = freq_array(sim.variants["freq"].to_numpy(), len(sim.variants), "fit")
    torch.manual_seed(0)
    prior = build_prior("transformer", *sizes, dropout=0.0, **MICRO)
    prior.set_standardisation(*standardisation(sim, ks, sizes))
    prior.double()
    fetch = WindowFeatures(sim, sizes, freq, "cpu")
    objective = WindowObjective(sim, "deepwas", ks, float(sim.sigma2), torch.float64)
    acc = 12
    # shuffled order: each window evaluated on its own
    for k in ks[::-1]:
        func, pred, fq, n = fetch(k)
        (objective(k, prior(func, pred, fq, n=n), True) / acc).backward()
    ref = _grad(prior).clone()
    prior.zero_grad(set_to_none=True)
    module = WindowModule(prior, chunk)
    module.fetch = fetch
    n_union = module.begin_group(ks, "cpu")
    for k in ks:
        (objective(k, module.shared_log_f(k), True) / acc).backward()
    module.end_group()
    got = _grad(prior)
    assert n_union < sum(fetch.size(k) for k in ks)
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-10,
                               atol=1e-10 * float(ref.abs().max()))


def test_evaluations_per_epoch_at_three_times_the_core():
    """|(i)+| = 3 |(i)| (one core of flank each side), accumulate 12: >= 2.5x fewer."""
    core, n_win, windows = 100, 240, []
    for i in range(n_win):
        c = np.arange(i * core, (i + 1) * core)
        e = np.arange(max(0, (i - 1) * core), min(n_win * core, (i + 2) * core))
        windows.append((c, e))
    fake = types.SimpleNamespace(windows=windows)
    fetch = WindowFeatures(fake, (0, 0, 0), None, "cpu")
    ids = np.arange(n_win)
    shuffled = sum(fetch.size(k) for k in ids)
    contiguous = sum(fetch.union([int(ids[j]) for j in g])[0]
                     for g in contiguous_groups(ids, np.zeros(n_win, int), 12))
    ratio = shuffled / contiguous
    print(f"evaluations per epoch: shuffled {shuffled}, contiguous {contiguous}, ratio {ratio:.3f}")
    assert ratio >= 2.5


def test_groups_are_consecutive_windows_of_a_chromosome():
    groups = contiguous_groups(np.arange(7), np.array(list("aaaaabb")), 2)
    assert groups == [[0, 1], [2, 3], [4], [5, 6]]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_contiguous_fit_counts_evaluations_and_resumes(sim, tmp_path, monkeypatch):
    keep = np.concatenate([np.flatnonzero(sim.groups == c)[:6] for c in ("1", "2")])
    small = sim[keep]
    kw = dict(max_epochs=2, init_windows=2, accumulate=3, warmup_steps=1, lr=0.01,
              random_state=0, model_params=MICRO, checkpoint_every=1)
    shuffled = TransformerPrior(**kw).fit(small)
    ref = TransformerPrior(**kw, window_order="contiguous").fit(small)
    assert ref.n_steps_ == 8                         # 4 groups of 3 per epoch
    ev_s, ev_c = shuffled.history_[:, "prior_evaluations"], ref.history_[:, "prior_evaluations"]
    assert ev_s[0] == sum(len(small.windows[k][1]) for k in range(len(small)))
    assert all(c < s for c, s in zip(ev_c, ev_s))
    # killed after step 3 (mid-epoch 1), rerun: ends where the uninterrupted fit ends
    folder = tmp_path / "ck"
    with monkeypatch.context() as m:
        crash_after(m, 3)
        with pytest.raises(RuntimeError, match="simulated crash"):
            TransformerPrior(**kw, window_order="contiguous", checkpoint_dir=str(folder)).fit(small)
    assert len(os.listdir(folder)) == 1
    # window_order is in the fingerprint: the shuffled fit never resumes the contiguous state
    assert "window_order" not in _resume.NOT_FINGERPRINTED
    other = TransformerPrior(**kw, checkpoint_dir=str(folder)).fit(small)
    assert other.resumed_step_ is None
    est = TransformerPrior(**kw, window_order="contiguous", checkpoint_dir=str(folder)).fit(small)
    assert est.resumed_step_ == 3
    a = torch.cat([p.reshape(-1) for p in est.prior_.parameters()])
    b = torch.cat([p.reshape(-1) for p in ref.prior_.parameters()])
    assert float((a - b).abs().max()) <= 1e-6
    np.testing.assert_array_equal(est.history_[:, "prior_evaluations"], ev_c)


def test_window_order_is_validated(sim):
    with pytest.raises(ValueError, match="window_order must be one of 'shuffled', 'contiguous'"):
        TransformerPrior(window_order="random").fit(sim)


def test_cli_window_order():
    from deepwas.cli._models import estimator_from_args
    from deepwas.cli._parser import build_parser

    parser = build_parser()
    base = ["fit", "--sumstats", "s.tsv", "--ld-dir", "ld", "--out", "o", "--model",
            "transformer"]
    args, _ = parser.parse_known_args(base + ["--window-order", "contiguous"])
    assert estimator_from_args(args).window_order == "contiguous"
    args, _ = parser.parse_known_args(base)
    assert estimator_from_args(args).window_order == "shuffled"
    with pytest.raises(SystemExit):
        parser.parse_known_args(base + ["--window-order", "random"])

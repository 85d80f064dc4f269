"""Training in several processes (issue 13, item 3): under torchrun the windows of each
optimizer step are divided among the processes and the gradient summed over them; the fit
ends where a fit in one process ends."""
import itertools
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from deepwas.cli import main
from deepwas.config import config_context
from deepwas.distributed import SINGLE, ProcessGroup, process_group
from deepwas.estimators import FunctionalPrior
from deepwas.fitting._sharding import (Sharding, StepReducer, balance, split_run,
                                       window_costs)
from deepwas.estimators._window_sampling import ContiguousSampler, PrefetchingSampler

import distributed_fits as df
from resume_helpers import crash_after, model_diff
from test_cli import workflow  # noqa: F401  (the CLI's small real data set)

HERE = os.path.dirname(os.path.abspath(__file__))


def _torchrun(args, nproc=2, timeout=600):
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=HERE)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def two_process_fits(tmp_path_factory):
    out = tmp_path_factory.mktemp("torchrun")
    ckpt = out / "ckpt"          # a one-process fit crashes after 3 resume states...
    with pytest.MonkeyPatch.context() as m, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        crash_after(m, 3)
        with pytest.raises(RuntimeError, match="simulated crash"):
            FunctionalPrior(**df.RESUMED, checkpoint_dir=str(ckpt)).fit(df.small_stats())
    _torchrun(["distributed_fits.py", str(out), str(ckpt)])   # ...two processes resume it
    return out


@pytest.mark.parametrize("name", list(df.FITS))
def test_two_processes_fit_what_one_fits(two_process_fits, name):
    # the processes ran with one thread each (torchrun's default): round alike
    with warnings.catch_warnings(), config_context(n_threads=1):
        warnings.simplefilter("ignore")
        one = df.record(df.fit(name))
    two = torch.load(two_process_fits / f"{name}.pt", weights_only=False)
    diff = float((one["params"] - two["params"]).abs().max())
    print(f"{name}: 2 processes vs 1, max abs parameter diff {diff:.3g}")
    assert (one["world_size"], two["world_size"]) == (1, 2)
    assert diff <= 1e-5
    if df.FITS[name][0].get("window_order") != "contiguous":
        # shuffled steps sum each window's gradient in float64: the same bits in 1 or 2
        assert diff == 0.0
    assert one["n_steps"] == two["n_steps"]
    np.testing.assert_allclose(two["train_loss"], one["train_loss"], rtol=1e-6)
    if one["valid_loss"] is not None:
        np.testing.assert_allclose(two["valid_loss"], one["valid_loss"], rtol=1e-6)
    # each epoch, the processes trained every training window exactly once between them
    for mine, both in zip(one["rank_windows"], two["rank_windows"]):
        assert len(both) == 2 and sorted(both[0] + both[1]) == sorted(mine[0])
    idle = [w for w in two["warnings"] if "will only join the all-reduces" in w]
    if df.FITS[name][1] == 1:    # one window, two processes: one had nothing and still joined
        assert [len(r) for r in two["rank_windows"][-1]] == [1, 0]
        assert idle and idle[0].startswith("2 processes but at most 1 windows per")
    else:
        assert not idle
        if name != "glm_contiguous":
            assert all(len(r) > 0 for r in two["rank_windows"][-1])


def test_two_processes_resume_what_one_process_checkpointed(two_process_fits):
    with warnings.catch_warnings(), config_context(n_threads=1):
        warnings.simplefilter("ignore")
        ref = df.record(FunctionalPrior(**df.RESUMED).fit(df.small_stats()))
    two = torch.load(two_process_fits / "resumed.pt", weights_only=False)
    diff = float((ref["params"] - two["params"]).abs().max())
    print(f"resumed in 2 processes from a 1-process checkpoint: max abs parameter diff {diff}")
    assert two["resumed_step"] == 3 and two["world_size"] == 2
    assert diff <= 1e-5


def test_an_error_on_rank_0_reaches_every_process(two_process_fits):
    done = sorted(p.name for p in two_process_fits.iterdir() if p.name.endswith(".done"))
    assert done == ["rank0.done", "rank1.done"]
    for name in done:     # rank 0 checked the folder; rank 1 raised its error, did not hang
        assert (two_process_fits / name).read_text() == "2 PermissionError"


def test_cli_fit_under_torchrun(workflow, tmp_path, capsys):  # noqa: F811
    w = workflow
    args = ["fit", *w["data"], *w["feat"], "--model", "glm", "--optimizer", "adamw",
            "--epochs", "4", "--accumulate", "2", "--warmup-steps", "1", "--lr", "0.01",
            "--test-chrom", "22", "--threads", "1"]
    proc = _torchrun(["-m", "deepwas", *args, "--out", str(tmp_path / "two")])
    assert proc.stdout.count("fitting the glm prior") == 1, proc.stdout   # rank 0 prints
    assert "in 2 processes" in proc.stdout
    # the step's loss is detached before it becomes a float: no warning on every step
    assert "requires_grad=True to a scalar" not in proc.stderr, proc.stderr[-2000:]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    diff = model_diff(tmp_path / "two", tmp_path / "one")
    print(f"CLI under torchrun (2 processes) vs one process: max abs parameter diff {diff}")
    assert diff <= 1e-5
    meta = json.loads((tmp_path / "two" / "model.json").read_text())
    assert meta["extra"]["world_size"] == 2


# ---------------------------------------------------------------- the pieces, in one process

def test_balance_gives_the_largest_first_to_the_least_loaded():
    costs = [5, 1, 4, 2, 3, 3]
    owner = balance(costs, 2)
    loads = [sum(c for c, o in zip(costs, owner) if o == r) for r in range(2)]
    assert sorted(loads) == [9, 9]
    assert list(balance(costs, 1)) == [0] * 6
    # more processes than items: each item alone, the rest idle
    assert sorted(balance([3, 1], 4).tolist()) == [0, 1]
    assert list(balance([2, 2, 2], 3)) == [0, 1, 2]           # ties go to the lower rank


def test_split_run_is_the_best_cut_into_consecutive_pieces():
    rng = np.random.default_rng(0)
    for n, world in [(7, 2), (7, 3), (5, 5), (4, 6), (9, 4)]:
        costs = rng.uniform(1, 10, n)
        owner = split_run(costs, world)
        assert np.all(np.diff(owner) >= 0) and owner[0] == 0     # consecutive pieces
        worst = max(costs[owner == r].sum() for r in np.unique(owner))
        best = min(max(costs[a:b].sum() for a, b in zip((0,) + cuts, cuts + (n,)))
                   for k in range(min(world, n))
                   for cuts in itertools.combinations(range(1, n), k))
        assert worst == pytest.approx(best)


def test_window_costs_follow_the_likelihood_and_the_prior():
    stats = df.small_stats()
    c0 = window_costs(stats, [0, 1], prior_flops=0.0)
    c1 = window_costs(stats, [0, 1], prior_flops=1e6)
    (core, ext) = stats.windows[0]
    r = min(len(core), stats.ld.panel_size or len(core))
    assert c0[0] == pytest.approx(2 * len(ext) * r * r + r ** 3 / 3)
    assert c1[0] - c0[0] == pytest.approx(1e6 * len(ext))


def test_samplers_hand_each_step_to_its_owners_and_prefetch_only_their_own():
    ids = np.arange(10, 20)
    costs = {int(k): float(k) for k in ids}
    for rank in (0, 1):
        group = ProcessGroup(rank=rank, world_size=2)
        fetched = []
        s = PrefetchingSampler(ids, torch.Generator().manual_seed(0), fetched.append,
                               accumulate=4, sharding=Sharding(group, costs))
        order = [int(ids[j]) for j in s]
        assert order == [int(ids[j]) for j in PrefetchingSampler(
            ids, torch.Generator().manual_seed(0), lambda k: None)]    # same order as 1
        mine = [k for k in order if s.owner(k) == rank]
        assert fetched == mine[1:] or fetched == mine          # only its own windows
        for step in (order[i:i + 4] for i in range(0, 10, 4)):  # each step shared out
            owners = [s.owner(k) for k in step]
            assert list(balance([costs[k] for k in step], 2)) == owners
    groups = [[0, 1, 2], [3, 4], [5, 6, 7, 8, 9]]
    s = ContiguousSampler(ids, groups, torch.Generator().manual_seed(1), lambda k: None,
                          sharding=Sharding(ProcessGroup(0, 2), costs, contiguous=True))
    list(s)
    for g in groups:      # consecutive windows stay together: one run per process
        assert np.all(np.diff([s.owner(int(ids[j])) for j in g]) >= 0)


def test_step_gradient_is_a_float64_sum_independent_of_order():
    p = torch.nn.Parameter(torch.zeros(3))
    q = torch.nn.Parameter(torch.zeros(2))        # receives no gradient: stays None
    grads = [torch.tensor([1e8, 1.0, -3.0]), torch.tensor([1.0, 1e-8, 3.0]),
             torch.tensor([-1e8, 2.0, 1e-3])]
    results = []
    for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        r = StepReducer(SINGLE)
        for i in order:
            p.grad = grads[i].clone()
            r.add([p, q])
            assert p.grad is None
        assert list(r.finish([p, q], [1.5, 2.5])) == [1.5, 2.5]
        results.append(p.grad.clone())
        assert q.grad is None
    assert all(torch.equal(results[0], x) for x in results)
    assert torch.equal(results[0], torch.tensor([1.0, 3.0, 1e-3], dtype=torch.float32))


def test_one_process_without_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    g = process_group("cpu")
    assert g is SINGLE and not g.distributed and g.is_main
    assert g.on_main(lambda: 3) == 3
    with pytest.raises(PermissionError):
        g.on_main(lambda: (_ for _ in ()).throw(PermissionError("no")))
    assert g.device("cuda") == torch.device("cuda")          # one process: as given
    assert ProcessGroup(1, 2, local_rank=1).device("cuda") == torch.device("cuda", 1)


def test_a_gloo_group_deepwas_initialised_is_destroyed_at_exit(monkeypatch, tmp_path):
    """process_group registers _destroy_own_group with atexit when it initialises a gloo group
    itself (left to the interpreter's finalisation, gloo's threads can abort the process);
    the handler destroys the group while the interpreter is whole."""
    import torch.distributed as dist

    from deepwas import distributed

    registered = []
    monkeypatch.setattr(distributed.atexit, "register", registered.append)
    real_init = dist.init_process_group
    # torchrun's env with two processes, but a real group of one (nothing to wait for)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(dist, "init_process_group", lambda backend, timeout: real_init(
        backend, init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1,
        timeout=timeout))
    try:
        assert process_group("cpu") is SINGLE          # a world of one trains alone
        assert registered == [distributed._destroy_own_group]
        assert dist.is_initialized()
        distributed._destroy_own_group()
        assert not dist.is_initialized()
        distributed._destroy_own_group()                # again: nothing left, no error
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@pytest.mark.parametrize("barrier_fails", [False, True])
def test_own_gloo_group_waits_for_every_process_before_its_destroy(monkeypatch, barrier_fails):
    """At exit, a rank that destroyed its gloo group while another still worked aborted
    (SIGABRT, 4 of 25 two-process CLI fits), so the exit handler waits at a barrier first;
    a barrier that fails (a process died) must not keep the group from being destroyed."""
    import torch.distributed as dist

    from deepwas.distributed import _destroy_own_group

    calls = []

    def barrier():
        calls.append("barrier")
        if barrier_fails:
            raise RuntimeError("Connection closed by peer")

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_backend", lambda *a: "gloo")
    monkeypatch.setattr(dist, "barrier", barrier)
    monkeypatch.setattr(dist, "destroy_process_group", lambda *a: calls.append("destroy"))
    _destroy_own_group()
    assert calls == ["barrier", "destroy"]

"""Checkpoint and resume (issue 13, item 4): a fit interrupted and run again with the same
checkpoint_dir ends where an uninterrupted fit ends; a state from another fit is refused."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from deepwas.cli import main
from deepwas.estimators import GLMPrior, TransformerPrior
from deepwas.estimators import _resume

import simdata as sd
from resume_helpers import crash_after, model_diff
from test_cli import workflow  # noqa: F401  (the CLI's small real data set)

MICRO = dict(dim=8, depth=1, heads=2, pooled_len=4)      # dropout 0.1: the RNG must resume
KW = dict(max_epochs=3, init_windows=2, accumulate=2, warmup_steps=2, lr=0.01, random_state=0,
          model_params=MICRO, validation=["3"], patience=5, checkpoint_every=1)


@pytest.fixture(scope="module")
def small():
    sim, _ = sd.simulated("glm", chroms=(1, 2, 3), thin=8)
    keep = np.concatenate([np.flatnonzero(sim.groups == c)[[0, 4, 8]] for c in ("1", "2", "3")])
    return sim[keep]


def _params(est):
    return torch.cat([p.detach().reshape(-1).double() for p in est.prior_.parameters()])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_resumed_fit_ends_where_an_uninterrupted_one_ends(small, tmp_path, monkeypatch):
    # keep the transformer part whatever it gains on the validation chromosome: dropped (as
    # on this small set it would be), the parameters compared below would be the GLM's
    monkeypatch.setattr("deepwas.estimators._fitting.KEEP_MIN_GAIN_NATS", -np.inf)
    ref = TransformerPrior(**KW).fit(small)          # 6 training windows: 3 steps per epoch
    for n_saves in (5, 3):                # mid-epoch 2; after the last window of epoch 1
        folder = tmp_path / str(n_saves)
        with monkeypatch.context() as m:
            crash_after(m, n_saves)
            with pytest.raises(RuntimeError, match="simulated crash"):
                TransformerPrior(**KW, checkpoint_dir=str(folder)).fit(small)
        (fit_dir,) = os.listdir(folder)
        assert os.path.exists(folder / fit_dir / _resume.RESUME_FILE)   # kept for resuming
        est = TransformerPrior(**KW, checkpoint_dir=str(folder)).fit(small)
        assert est.resumed_step_ == n_saves and est.checkpoint_path_ == str(folder / fit_dir)
        diff = float((_params(est) - _params(ref)).abs().max())
        print(f"resumed after step {n_saves}: max abs parameter diff {diff}")
        assert diff <= 1e-6
        assert est.n_steps_ == ref.n_steps_
        for key in ("train_loss", "valid_loss", "train_batch_count"):
            np.testing.assert_allclose(est.history_[:, key], ref.history_[:, key], rtol=1e-7)
        # the state is removed once the fit completes; the best parameters stay
        assert sorted(os.listdir(est.checkpoint_path_)) == ["params.pt"]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_state_of_another_fit_is_refused(small, tmp_path, monkeypatch):
    kw = dict(KW, model_params=dict(MICRO, dropout=0.0), validation=None, patience=None)
    with monkeypatch.context() as m:
        crash_after(m, 2)
        with pytest.raises(RuntimeError):
            TransformerPrior(**kw, checkpoint_dir=str(tmp_path)).fit(small)
    (old,) = os.listdir(tmp_path)
    # another configuration: a folder of its own, nothing loaded from the first
    other = TransformerPrior(**dict(kw, lr=0.02), checkpoint_dir=str(tmp_path)).fit(small)
    assert other.resumed_step_ is None and os.path.basename(other.checkpoint_path_) != old
    # a state copied under the other fit's name (or a hash collision) is refused, not loaded
    new = os.path.basename(other.checkpoint_path_)
    os.replace(tmp_path / old / _resume.RESUME_FILE, tmp_path / new / _resume.RESUME_FILE)
    with pytest.raises(ValueError, match=r"different fit \(differs in: params.lr\)"):
        TransformerPrior(**dict(kw, lr=0.02), checkpoint_dir=str(tmp_path)).fit(small)
    # other data: the training windows' fingerprint differs
    fp = _resume.fingerprint(GLMPrior(), small, np.arange(4), np.arange(0), 0, (np.zeros(1),))
    fp2 = _resume.fingerprint(GLMPrior(), small[np.arange(1, 5)], np.arange(4), np.arange(0), 0,
                              (np.zeros(1),))
    assert fp["data"] != fp2["data"] and fp["params"] == fp2["params"]


def test_unwritable_checkpoint_dir_fails_before_training(small, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    started = []
    monkeypatch.setattr("deepwas.estimators._fitting.build_net",
                        lambda *a, **k: started.append(1))
    for bad in (blocker / "sub", blocker):
        with pytest.raises(PermissionError, match="checkpoint_dir: cannot write in"):
            TransformerPrior(**KW, checkpoint_dir=str(bad)).fit(small)
    assert not started
    with pytest.raises(ValueError, match="checkpoint_every"):
        GLMPrior(checkpoint_every=0).fit(small)


def test_cli_fit_killed_and_rerun_resumes(workflow, tmp_path, capsys):  # noqa: F811
    w = workflow
    args = ["fit", *w["data"], *w["feat"], "--model", "glm", "--optimizer", "adamw",
            "--epochs", "80", "--accumulate", "1", "--warmup-steps", "1", "--lr", "0.01",
            "--test-chrom", "22", "--checkpoint-every", "1",
            # one thread in all three runs: the killed process and the in-process reruns must
            # round alike (2 threads against 1 moved the parameters by 5e-5 after 80 epochs)
            "--threads", "1"]
    ckpt = tmp_path / "ckpt"
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.Popen([sys.executable, "-m", "deepwas", *args, "--checkpoint-dir",
                             str(ckpt), "--out", str(tmp_path / "killed")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    state = None
    while time.time() < deadline and proc.poll() is None:
        found = [os.path.join(r, f) for r, _, fs in os.walk(ckpt) for f in fs
                 if f == _resume.RESUME_FILE]
        if found:
            state = found[0]
            time.sleep(0.3)                         # a few more steps, then SIGKILL
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert state is not None and os.path.exists(state)
    assert not (tmp_path / "killed" / "model.pt").exists()
    step = torch.load(state, weights_only=True)["n_optimizer_steps"]
    assert 0 < step < 80
    # the same command again resumes; an uninterrupted run (no checkpoint) is the reference
    assert main([*args, "--checkpoint-dir", str(ckpt), "--out", str(tmp_path / "resumed")]) == 0
    assert f"resumed from the checkpoint at optimizer step {step} " in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    diff = model_diff(tmp_path / "resumed", tmp_path / "plain")
    print(f"CLI: killed at step >= {step}, resumed: max abs parameter diff {diff}")
    assert diff <= 1e-5
    assert not os.path.exists(state)


def test_best_parameters_are_written_atomically_and_a_failed_write_raises(tmp_path):
    class Net:
        def __init__(self, fail):
            self.fail = fail

        def save_params(self, f_params):
            with open(f_params, "wb") as fh:
                fh.write(b"partial")
            if self.fail:
                raise OSError("disk full")
            with open(f_params, "ab") as fh:
                fh.write(b" and complete")

    cp = _resume.AtomicCheckpoint(dirname=str(tmp_path))
    target = str(tmp_path / "params.pt")
    cp._save_params(target, Net(False), "f_params", "model state")
    with pytest.raises(OSError, match="disk full"):     # skorch would only have logged it
        cp._save_params(target, Net(True), "f_params", "model state")
    assert (tmp_path / "params.pt").read_bytes() == b"partial and complete"   # the old file
    assert os.listdir(tmp_path) == ["params.pt"]                               # no temporary

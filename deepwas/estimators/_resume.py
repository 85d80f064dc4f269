"""Checkpoint and resume of AdamW training (``checkpoint_dir``, ``checkpoint_every``).

A fit's folder under ``checkpoint_dir`` is named by a fingerprint of its training data and of
the parameters that shape its result (:func:`fingerprint`), so the same fit finds the same
folder again and different fits (cross-validation folds, grid-search candidates) never share
one. Every ``checkpoint_every`` optimizer steps the training state is written there
atomically (a temporary file renamed over ``resume.pt``): the prior's and the optimizer's
state (the warm-up lives in the step count and the groups' rates), the random generators
(torch's, and the window order's at the start of the epoch), the epoch and the windows done in
it, the objective's step counter (probe seeds), the skorch history and the callbacks' scalar
state (plateau losses, early-stopping counters, best scores). :func:`restore` puts it all back
so that the resumed fit ends where an uninterrupted one ends. The file holds tensors and JSON
text only and is read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile

import numpy as np
import torch
from skorch.callbacks import Checkpoint
from skorch.history import History

from ..fitting._chunking import rng_state

__all__ = ["RESUME_FILE", "RESUME_FORMAT", "fingerprint", "fit_folder", "Resumer", "capture",
           "restore", "restore_callbacks", "check_writable", "AtomicCheckpoint"]

RESUME_FILE = "resume.pt"
RESUME_FORMAT = "deepwas-resume-v1"
#: parameters that do not change what a fit computes (or that it may change when resumed)
NOT_FINGERPRINTED = ("checkpoint_dir", "checkpoint_every", "chunk_size", "device", "verbose",
                     "random_state")


def _digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
    return h.hexdigest()


def _plain(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, torch.nn.Module):
        return {"module": repr(v), "state": _digest(*[t.detach().cpu().numpy()
                                                      for t in v.state_dict().values()])}
    return repr(v)


def fingerprint(est, stats, train_ids, valid_ids, seed, standardisation):
    """What a fit's result depends on, as a JSON-serialisable dict.

    The data: each training and validation window's content key (the LD it reads, its
    beta-hats, the LD model: ``stats.window_key``), the variants (position, alleles, frequency,
    beta-hat), N, sigma2 and the feature standardisation; the configuration: the estimator's
    parameters but :data:`NOT_FINGERPRINTED`, and the seed drawn from ``random_state``.
    """
    v = stats.variants
    cols = [c for c in ("chrom", "pos", "a1", "a2", "freq", "beta_hat") if c in v]
    ids = [int(k) for k in np.concatenate([train_ids, valid_ids])]
    keys = [stats.window_key(k) if hasattr(stats, "window_key") else
            _digest(*stats.windows[k]) for k in ids]
    data = dict(windows=_digest(np.array(keys, dtype=object), np.asarray(train_ids),
                                np.asarray(valid_ids)),
                variants=_digest(*[v[c].to_numpy() for c in cols]), n=float(stats.n),
                sigma2=float(stats.sigma2), features=_digest(*standardisation))
    params = {k: _plain(x) for k, x in est.get_params(deep=False).items()
              if k not in NOT_FINGERPRINTED}
    return dict(format=RESUME_FORMAT, data=data, params=params, seed=int(seed))


def fit_folder(checkpoint_dir, fp):
    """``checkpoint_dir/fit-<16 hex digits of the fingerprint>``."""
    text = json.dumps(fp, sort_keys=True)
    return os.path.join(os.fspath(checkpoint_dir),
                        "fit-" + hashlib.sha256(text.encode()).hexdigest()[:16])


def _differences(old, new, prefix=""):
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, prefix + k + ".")
        elif a != b:
            out.append(prefix + k)
    return out


class Resumer:
    """The resume state of one fit: ``folder/resume.pt``, written every ``every`` steps.

    Parameters
    ----------
    folder : str
        The fit's folder (:func:`fit_folder`); must exist and be writable.
    fp : dict
        The fit's :func:`fingerprint`.
    every : int
        Optimizer steps between two states.
    """

    def __init__(self, folder, fp, every):
        self.folder, self.fp, self.every = folder, fp, int(every)
        self.path = os.path.join(folder, RESUME_FILE)

    def save(self, state):
        """Write ``state`` (with the fingerprint) atomically: a crash leaves the old file."""
        state = dict(state, fingerprint=json.dumps(self.fp, sort_keys=True))
        fd, tmp = tempfile.mkstemp(prefix=".resume-", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(state, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def load(self):
        """The saved state, or None when there is none; ``ValueError`` when it belongs to a
        different fit (data or configuration)."""
        if not os.path.exists(self.path):
            return None
        state = torch.load(self.path, weights_only=True, map_location="cpu")
        old = json.loads(state.get("fingerprint", "{}"))
        if old != json.loads(json.dumps(self.fp, sort_keys=True)):
            diff = _differences(old, json.loads(json.dumps(self.fp)))
            raise ValueError(
                f"the checkpoint {self.path} was written by a different fit (differs in: "
                f"{', '.join(diff) or 'format'}); refusing to resume from it: remove it or "
                "use another checkpoint_dir")
        return state

    def discard(self):
        """Remove the state (the fit completed)."""
        if os.path.exists(self.path):
            os.remove(self.path)


def check_writable(folder):
    """Create ``folder`` and check that a file can be written there (``PermissionError`` with
    the folder's name otherwise)."""
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise PermissionError(f"checkpoint_dir: cannot write in {folder!r} ({exc.strerror or exc})"
                              ) from exc


def _callback_states(net):
    out = {}
    for name, cb in net.callbacks_:
        attrs = {a: v for a, v in vars(cb).items() if a.endswith("_") and not a.startswith("_")}
        out[name] = {a: _plain(v) for a, v in attrs.items()
                     if v is None or isinstance(v, (bool, int, float, str, list, tuple))}
    return out


def capture(net):
    """The training state of a :class:`~._training.WindowNet` after an optimizer step."""
    sampler = net.iterator_train__sampler
    cpu, cuda = rng_state(net.device)
    state = dict(module=net.module_.state_dict(), optimizer=net.optimizer_.state_dict(),
                 n_optimizer_steps=int(net.n_optimizer_steps_), seen=int(net._seen),
                 epochs=len(net.history), window_order=sampler.epoch_state, rng=cpu,
                 objective_step=int(getattr(net.window_loss, "step", 0)),
                 windows_seen=int(getattr(net, "windows_seen_", 0)),
                 history=json.dumps(list(net.history)),
                 callbacks=json.dumps(_callback_states(net)))
    if cuda is not None:
        state["cuda_rng"] = cuda
    return state


def restore(net, state):
    """Put ``state`` (:func:`capture`) back into an initialised net; returns the epochs left.

    Callbacks get their scalar state back after ``on_train_begin`` resets it
    (:meth:`~._training.WindowNet.notify`); the window order of the interrupted epoch is drawn
    again from its generator state and the windows done are skipped, and torch's generator is
    set where it stood (:class:`~._window_sampling.PrefetchingSampler`).
    """
    net.module_.load_state_dict(state["module"])
    net.optimizer_.load_state_dict(state["optimizer"])
    net.n_optimizer_steps_ = int(state["n_optimizer_steps"])
    net.history_ = History(json.loads(state["history"]))
    if hasattr(net.window_loss, "step"):
        net.window_loss.step = int(state["objective_step"])
    net.windows_seen_ = int(state.get("windows_seen", state["objective_step"]))
    net._resume_pending = dict(seen=int(state["seen"]),
                               callbacks=json.loads(state["callbacks"]))
    net.iterator_train__sampler.resume(state["window_order"], int(state["seen"]),
                                       (state["rng"], state.get("cuda_rng")))
    return int(net.max_epochs) - (int(state["epochs"]) - 1)


def restore_callbacks(net, states):
    """Set the callbacks' scalar attributes saved by :func:`capture`."""
    for name, cb in net.callbacks_:
        for a, v in states.get(name, {}).items():
            setattr(cb, a, v)


class AtomicCheckpoint(Checkpoint):
    """skorch's ``Checkpoint`` (the best epoch's parameters, loaded at the end of a fit with
    validation windows) writing each file atomically, and raising when it cannot.

    skorch writes ``params.pt`` in place and only logs a failed write: a crash during the
    write, or a full disk, would leave a truncated or stale file that a resumed fit loads as
    its best parameters.
    """

    def _save_params(self, f, net, f_name, log_name):
        if not isinstance(f, (str, os.PathLike)):
            return net.save_params(**{f_name: f})
        folder = os.path.dirname(os.fspath(f)) or "."
        fd, tmp = tempfile.mkstemp(prefix=".params-", suffix=".tmp", dir=folder)
        os.close(fd)
        try:
            net.save_params(**{f_name: tmp})
            os.replace(tmp, f)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

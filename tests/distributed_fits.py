"""Fits that tests/test_distributed.py runs in one process and under torchrun.

``python -m torch.distributed.run --standalone --nproc-per-node 2 distributed_fits.py OUT
[CHECKPOINT_DIR]`` fits every entry of :data:`FITS` in each process; rank 0 saves the
parameters and what the fits recorded to ``OUT/<name>.pt``, every rank writes
``OUT/rank<r>.done``. With ``CHECKPOINT_DIR`` the fit :data:`RESUMED` resumes from the state
found there (``OUT/resumed.pt``).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import simdata as sd  # noqa: E402
from deepwas.estimators import FunctionalPrior  # noqa: E402

MICRO = dict(dim=8, depth=1, heads=2, pooled_len=4)       # dropout 0.1
ADAMW = dict(max_epochs=3, init_windows=2, accumulate=3, warmup_steps=1, lr=0.01,
             random_state=0, optimizer="adamw")

#: name -> (estimator parameters, windows: "all" or the number of training windows)
FITS = {
    "glm_adamw_validation": (dict(model="glm", validation=["3"], patience=5, **ADAMW), "all"),
    "transformer_dropout": (dict(model="transformer", model_params=MICRO,
                                 **dict(ADAMW, optimizer="auto")), "all"),
    "glm_contiguous": (dict(model="glm", window_order="contiguous", **ADAMW), "all"),
    "glm_lbfgs": (dict(model="glm", init_windows=2, random_state=0, tol=1e-7,
                       validation=["3"]), "all"),
    "one_window": (dict(model="glm", **ADAMW), 1),           # a rank with nothing to do
    "one_window_lbfgs": (dict(model="glm", init_windows=1, random_state=0), 1),
}


#: the fit a crashed one-process run leaves a checkpoint of, resumed under torchrun
RESUMED = dict(FITS["glm_adamw_validation"][0], checkpoint_every=1)


def small_stats():
    sim, _ = sd.simulated("glm", chroms=(1, 2, 3), thin=8)
    keep = np.concatenate([np.flatnonzero(sim.groups == c)[[0, 2, 4, 6, 8]]
                           for c in ("1", "2", "3")])
    return sim[keep]


def fit(name, stats=None):
    params, n = FITS[name]
    stats = small_stats() if stats is None else stats
    if n != "all":
        stats = stats[np.arange(n)]
    return FunctionalPrior(**params).fit(stats)


def record(est):
    params = torch.cat([p.detach().reshape(-1).double() for p in est.prior_.parameters()])
    hist = est.history_
    return dict(params=params, world_size=est.world_size_, n_steps=est.n_steps_,
                train_loss=[float(x) for x in hist[:, "train_loss"]],
                rank_windows=hist[:, "rank_windows"],
                valid_loss=[float(x) for x in hist[:, "valid_loss"]]
                if "valid_loss" in hist[-1] else None)


def main(out, checkpoint_dir=None):
    import warnings

    import torch.distributed as dist

    warnings.simplefilter("ignore")
    stats = small_stats()
    for name in FITS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = fit(name, stats)
        if dist.get_rank() == 0:
            torch.save(dict(record(est), warnings=[str(w.message) for w in caught]),
                       os.path.join(out, name + ".pt"))
    if checkpoint_dir is not None:
        est = FunctionalPrior(**RESUMED, checkpoint_dir=checkpoint_dir).fit(stats)
        if dist.get_rank() == 0:
            torch.save(dict(record(est), resumed_step=est.resumed_step_),
                       os.path.join(out, "resumed.pt"))
    # a checkpoint folder only rank 0 checks: its error must reach rank 1 too (no hang)
    blocker = os.path.join(out, "a-file")
    open(blocker, "w").close()
    try:
        FunctionalPrior(**FITS["one_window"][0],
                        checkpoint_dir=os.path.join(blocker, "sub")).fit(stats)
        error = "none"
    except PermissionError as exc:
        error = type(exc).__name__
    with open(os.path.join(out, f"rank{dist.get_rank()}.done"), "w") as fh:
        fh.write(f"{dist.get_world_size()} {error}")


if __name__ == "__main__":
    main(*sys.argv[1:])

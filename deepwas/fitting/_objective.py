"""The training loss of one window, for either solver.

``WindowObjective(k, log_f_ext, training)`` returns the loss of window ``k`` given log prior
variances on its extended set, in nats per core variant (divided by the mean core size of the
training windows, so losses and learning rates do not depend on the window size):

* ``solver="deepwas"``: minus the exact (or, in training with ``linalg="iterative"``,
  stochastic) log-likelihood gain of the window over the null model;
* ``solver="ldsr"``: the weighted LD score regression loss of :mod:`._ldsr`.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..likelihood import window_gain

__all__ = ["WindowObjective"]


class WindowObjective:
    """Per-window loss; see the module docstring.

    Parameters
    ----------
    stats : SummaryStats
        The training data (windows indexed as in ``stats``).
    solver : {"deepwas", "ldsr"}
    train_ids : array of int
        Training windows (set the normalising mean core size).
    sigma2 : float
    dtype : torch.dtype
        Precision of the likelihood.
    linalg : str
        Linear algebra in training; evaluation (``training=False``) is always Cholesky.
    iterative_config : IterativeConfig
    seed0 : int
        Probe seed of the first training step; step ``t`` uses ``seed0 + t`` so the
        iterative solver's gradient noise is independent across steps.
    blocks, ldsr_h2, n_variants :
        LDSR pieces (``solver="ldsr"``).
    mismatch : float
        The LD mismatch variance ``kappa`` (fixed during training; :mod:`deepwas.ld_model`).
    """

    def __init__(self, stats, solver, train_ids, sigma2, dtype, linalg="cholesky",
                 iterative_config=None, seed0=0, blocks=None, ldsr_h2=None, n_variants=None,
                 mismatch=0.0):
        self.stats, self.solver, self.sigma2, self.dtype = stats, solver, sigma2, dtype
        self.mismatch = mismatch
        wins = stats.windows
        self.mean_core = float(np.mean([len(wins[k][0]) for k in train_ids]))
        self.linalg, self.config, self.seed0 = linalg, iterative_config, seed0
        self.blocks, self.ldsr_h2, self.n_variants = blocks, ldsr_h2, n_variants
        self.step = 0          # training windows evaluated so far
        self.last_info = None  # solver diagnostics of the last training window

    def prefetch(self, k):
        """Start loading window ``k``'s factors in the background (the window store's thread)
        while the current window trains; LDSR needs no factors."""
        if self.solver == "deepwas" and hasattr(self.stats, "prefetch"):
            self.stats.prefetch(int(k))

    def __call__(self, k, log_f, training):
        if self.solver == "deepwas":
            f = torch.exp(log_f.to(self.dtype))
            info = []
            cfg = self.config
            if training and cfg is not None:
                cfg = dataclasses.replace(cfg, seed=self.seed0 + self.step)
            gain = window_gain(self.stats, k, f, linalg=self.linalg if training else "cholesky",
                               sigma2=self.sigma2, config=cfg, info=info,
                               mismatch=self.mismatch)
            if training:
                self.step += 1
                self.last_info = info[-1]
            return -gain / self.mean_core
        # float64, as the LDSR loss is (fitting/_ldsr.py: a float32 loss stalls L-BFGS)
        f = torch.exp(log_f.double())
        return self.blocks.loss(k, f, self.sigma2, self.ldsr_h2, self.n_variants) / self.mean_core

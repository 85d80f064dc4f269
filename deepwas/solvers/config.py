"""Settings of the iterative (CG + stochastic Lanczos quadrature) window solver."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IterativeConfig"]


@dataclass(frozen=True)
class IterativeConfig:
    """Settings of :func:`deepwas.solvers.iterative_gain`.

    Parameters
    ----------
    cg_tol : float
        Relative residual tolerance of the conjugate-gradient solves (data term and probes).
    cg_max_iters : int
        CG iteration cap; a window that does not reach ``cg_tol`` within it falls back to the
        exact Cholesky solver with a warning.
    n_probes : int
        Number P of probe vectors for the log-determinant (value and Hutchinson gradient).
    lanczos_steps : int
        Number K of Lanczos steps per probe (capped at the rank r).
    seed : int or None
        Seed of the probe generator (a ``torch.Generator`` on ``f``'s device): a fixed seed makes
        the result deterministic.  During training pass a different seed per step (e.g.
        ``dataclasses.replace(cfg, seed=step)``) so the gradient noise is independent across
        steps; ``None`` draws from torch's default generator.
    probe : {"rademacher", "gaussian"}
        Probe distribution; Rademacher has the smaller Hutchinson variance.
    control_variate : bool
        Subtract a fitted multiple of a zero-mean baseline whose expectation is known exactly
        (``xi^T (C - I) xi`` for the value, ``(g_k . xi)^2`` for the gradient); cross-fitted
        over two halves of the probes so the estimates stay unbiased.

    Notes
    -----
    Defaults measured on a real 1000G chr22 window (m = 2000, r = 486, s = 1/3e5), float64,
    against exact Cholesky:

    * ``lanczos_steps``: mean over seeds of log|C| moved by 0.05 nats from K = 10 to 20 and
      < 1e-7 beyond at f/s ~ 0.3; at f/s ~ 5 (cond(C) ~ 700) K = 20 was still 1.3 nats off
      K = 60 and K = 30 was 0.04 off, so K = 30.
    * ``n_probes``: gradient cosine to exact 0.992 / 0.995 / 0.998 with P = 16 / 32 / 64
      (f/s ~ 0.3); the value's s.e. is ~1 nat of log|C| with 32 probes, 1e-4 .. 4e-4 of the
      window's NLL.  At f/s ~ 5 the s.e. grows to ~5 nats (1e-3 of the NLL): use 128 probes
      where the value must be that accurate.
    * ``cg_tol``: 1e-5 is reachable in float32 (cond(C) up to ~700 -> 20..60 iterations); the
      value's data term is made second order in the CG error (see ``_DataTerm``), the data-term
      gradient has ~1e-3 relative error at this tolerance.
    """

    cg_tol: float = 1e-5
    cg_max_iters: int = 1000
    n_probes: int = 32
    lanczos_steps: int = 30
    seed: int | None = 0
    probe: str = "rademacher"
    control_variate: bool = True

    def __post_init__(self):
        if self.probe not in ("rademacher", "gaussian"):
            raise ValueError(f"probe must be 'rademacher' or 'gaussian', got {self.probe!r}")
        if self.n_probes < 4:
            raise ValueError("n_probes must be at least 4 (two halves of two probes each)")
        if self.lanczos_steps < 1 or self.cg_max_iters < 1:
            raise ValueError("lanczos_steps and cg_max_iters must be positive")
        if not self.cg_tol > 0:
            raise ValueError("cg_tol must be positive")

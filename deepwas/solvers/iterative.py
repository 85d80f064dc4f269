"""Iterative per-window likelihood: conjugate gradients + stochastic Lanczos quadrature.

Same quantity as :func:`deepwas.solvers.exact_gain` (DESIGN section 1), with
``C = I_r + G^T F G / s``, ``z = G y``, ``v = G^T (f * z)`` and ``t = C^{-1} y``::

    gain = 1/2 * [ Q - log|C| ],     Q = v^T t / s^2

but without ever forming or factorising ``C``: every operation is a product with ``G`` or
``G^T`` (4 m r flops per column), so time is O(m r (K P + iters)) instead of O(m r^2 + r^3).
All of it runs on the Jacobi-scaled ``Ct = c C c``, ``c = diag(C)^{-1/2}``, which the stored
orthogonal columns of ``G`` make nearly diagonal (:class:`_ScaledWindow`).

* ``Q`` -- ``t`` by CG (cola, through :mod:`deepwas.solvers._cola`).  DESIGN section 4 writes
  ``Q`` with ``w = C^{-1} v``, whose right-hand side depends on ``f`` and whose gradient
  term ``2 z_k g_k.w / s^3`` cola's CG autograd silently drops.  Here the right-hand side
  ``y`` is f-free and the gradient has the closed form ``dQ/df_k = (g_k.t / s)^2`` (equal to
  the full derivative of the ``w`` form, RHS term included; tested against dense autograd),
  so cola's backward is not used at all and no second solve is needed.
* ``log|C|`` -- stochastic Lanczos quadrature with a block of P probes (one ``r x P`` matmat
  per Lanczos step, full reorthogonalisation), returning the value and its standard error over
  probes.  Its gradient ``d log|C| / d f_k = g_k^T C^{-1} g_k / s`` is estimated by Hutchinson,
  ``mean_p (g_k . C^{-1} xi_p)(g_k . xi_p) / s``, with the probe solves done by block CG; this
  estimate is unbiased (up to the CG tolerance), unlike differentiating the Lanczos value.

Both solves run in the forward pass when ``f`` requires grad, so a window whose CG does not
converge is detected before anything is returned and falls back to the exact solver.
"""
from __future__ import annotations

import math
import warnings

import torch

from ._cola import cg_solve
from .config import IterativeConfig
from .exact import exact_gain

__all__ = ["iterative_gain", "slq_logdet", "choose_linalg", "IterativeConfig"]

# A converged CG column has true relative residual <= ~2 tol (see cg_solve); allow a further
# factor for the drift between the recurrence residual cola tests and the true residual in
# float32.  Anything above this is reported as non-convergence.
_CONVERGED_SLACK = 10.0


def _relative(residual, rhs):
    """Column-wise |residual| / |rhs| (a scalar for vectors)."""
    return residual.norm(dim=0) / rhs.norm(dim=0).clamp_min(torch.finfo(rhs.dtype).tiny)


def _probes(r, cfg, like):
    """The (r, P) probe block, reproducible for a fixed ``cfg.seed`` on ``like``'s device."""
    gen = None
    if cfg.seed is not None:
        gen = torch.Generator(device=like.device)
        gen.manual_seed(int(cfg.seed))
    shape = (r, cfg.n_probes)
    if cfg.probe == "rademacher":
        xi = torch.randint(0, 2, shape, generator=gen, device=like.device).to(like.dtype)
        return 2.0 * xi - 1.0
    return torch.randn(shape, generator=gen, device=like.device, dtype=like.dtype)


class _ScaledWindow:
    """The Jacobi-scaled window matrix ``Ct = c C c`` with ``C = I + G^T diag(d) G``,
    ``c = diag(C)^-1/2``.

    ``log|C| = -2 sum(log c) + log|Ct|`` and ``C^-1 = c Ct^-1 c``, so everything stochastic or
    iterative is done on ``Ct``.  With G's columns orthogonal (as :func:`deepwas.windows.
    factors_from_basis` stores them) ``C`` is diagonal for constant ``f`` and nearly so otherwise:
    on a real 1000G window (r = 486, f/s ~ 5) scaling brings cond from ~700 to ~12 (CG and
    Lanczos need a few times fewer steps) and the Hutchinson s.e. of the log-determinant from
    5.7 to 2.4 nats (rotation and scaling together; DESIGN section 4).
    """

    # Rows of G per chunk when forming squares of G: bounds the temporary to 4096 x r.
    _CHUNK = 4096

    def __init__(self, G, d):
        self.G, self.d = G, d
        diag = torch.ones(G.shape[1], dtype=G.dtype, device=G.device)  # diag(C), >= 1
        for G_rows, d_rows in zip(G.split(self._CHUNK), d.split(self._CHUNK)):
            diag += d_rows @ G_rows.square()
        self.c = diag.rsqrt()
        self.log_diag = torch.log(diag.double()).sum()

    def matmat(self, X):
        """``Ct X`` for an (r, k) block: two products with G (4 m r k flops)."""
        c = self.c.unsqueeze(1)
        Y = c * X
        return c * (Y + self.G.T @ (self.d.unsqueeze(1) * (self.G @ Y)))

    def row_norms(self):
        """``|c * g_k|^2`` per row k of G: the diagonal of ``G c^2 G^T``."""
        c2 = self.c.square()
        return torch.cat([G_rows.square() @ c2 for G_rows in self.G.split(self._CHUNK)])


def _gauss_quadrature(alpha, beta, floor):
    """Ritz values/vectors of the (P, k, k) tridiagonal Lanczos matrices and ``e1^T log(T) e1``.

    Solved in float64 (negligible cost, no precision loss).  ``floor`` is a lower bound on the
    spectrum: the clamp only removes round-off and the zero blocks of exhausted columns.
    """
    T = torch.diag_embed(alpha.T.double())
    if beta.shape[0]:
        off = beta.T.double()
        T = T + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)
    theta, U = torch.linalg.eigh(T)
    theta = theta.clamp_min(floor)
    return theta, U, (U[:, 0, :] ** 2 * torch.log(theta)).sum(1)


def _lanczos_quadrature(op, xi, max_steps, rtol):
    """Per-probe Lanczos estimates of ``xi_p^T log(Ct) xi_p`` for a :class:`_ScaledWindow` op.

    Returns the estimates (P,), the control variates ``xi_p^T Ct xi_p`` (P,), the Lanczos
    approximation of ``Ct^{-1} xi`` (r, P) and the number of steps run.

    One matmat with the whole (r, P) block per step; each column runs its own Lanczos
    recurrence, fully reorthogonalised against its previous vectors (cheap: K^2 r P flops
    against 4 K m r P for the matmats) so that float32 does not produce ghost Ritz values.
    Stops early once no column's quadrature moved by more than ``rtol`` (relative) in the last
    step: Gauss quadrature converges geometrically, so the remaining error is a small multiple
    of that change.
    """
    r, P = xi.shape
    K = min(int(max_steps), r)
    norms = xi.norm(dim=0)
    sq = norms.double() ** 2
    q = xi / norms
    # Basis laid out (P, r, K) so reorthogonalisation is two batched BLAS calls.
    basis = xi.new_zeros(P, r, K)
    alpha = xi.new_zeros(K, P)
    beta = xi.new_zeros(max(K - 1, 0), P)
    # Ct >= c^2 (because C >= I), hence so are its Ritz values.
    floor = float(op.c.min()) ** 2
    # Columns whose Krylov space is exhausted (beta ~ 0) continue with q = 0; their T then
    # decouples into a zero block, whose Ritz values have weight 0 in the quadrature.
    breakdown = 100.0 * torch.finfo(xi.dtype).eps
    quad = None
    for j in range(K):
        basis[:, :, j] = q.T
        w = op.matmat(q)
        a = (q * w).sum(0)
        alpha[j] = a
        theta, U, new = _gauss_quadrature(alpha[: j + 1], beta[:j], floor)
        done = quad is not None and bool(((new - quad).abs() <= rtol * new.abs()).all())
        quad = new
        if done or j == K - 1:
            break
        prev = basis[:, :, : j + 1]
        # Classical Gram-Schmidt twice ("twice is enough") against the stored basis.
        wt = w.T.unsqueeze(2)
        for _ in range(2):
            wt = wt - torch.bmm(prev, torch.bmm(prev.transpose(1, 2), wt))
        w = wt.squeeze(2).T
        b = w.norm(dim=0)
        beta[j] = b
        ok = b > breakdown * a.abs().clamp_min(1.0)
        q = torch.where(ok, w / torch.where(ok, b, torch.ones_like(b)), torch.zeros_like(w))
    k = j + 1
    # Lanczos and CG span the same Krylov space: |xi| Q T^{-1} e_1 is the k-step CG iterate for
    # Ct x = xi, a free warm start for the probe solves of the gradient.
    t_inv_e1 = torch.einsum("pij,pj->pi", U, U[:, 0, :] / theta).to(xi.dtype)
    x0 = torch.bmm(basis[:, :, :k], t_inv_e1.unsqueeze(2)).squeeze(2).T * norms
    # xi_p^T Ct xi_p = |xi_p|^2 alpha_0: a free control variate.
    return sq * quad, sq * alpha[0].double(), x0, k


def _cross_fitted(samples, baseline):
    """Control-variate adjusted samples ``samples_p - c * baseline_p`` (baseline has mean 0).

    ``samples`` and ``baseline`` have shape (P, ...) with one row per probe.  The scalar ``c``
    (least-squares slope over all entries) is fitted on one half of the probes and applied to
    the other, and vice versa, so that the adjusted mean stays exactly unbiased; fitting ``c``
    on the same probes would add an O(1/P) bias.
    """
    P = samples.shape[0]
    halves = (slice(0, P // 2), slice(P // 2, P))
    out = torch.empty_like(samples)
    for fit, use in (halves, halves[::-1]):
        a = samples[fit] - samples[fit].mean(0)
        b = baseline[fit] - baseline[fit].mean(0)
        c = (a * b).sum() / (b * b).sum().clamp_min(torch.finfo(b.dtype).tiny)
        out[use] = samples[use] - c * baseline[use]
    return out


class _SLQLogdet(torch.autograd.Function):
    """log|I + G^T diag(f/s) G| by SLQ (forward) with a Hutchinson gradient (backward)."""

    @staticmethod
    def forward(ctx, f, op, s, xi, cfg, info):
        per_probe, quad_c, x0, steps = _lanczos_quadrature(op, xi, cfg.lanczos_steps,
                                                           cfg.lanczos_rtol)
        if cfg.control_variate:
            # xi^T Ct xi has the exactly known mean tr(Ct) = r: Ct has a unit diagonal.
            per_probe = _cross_fitted(per_probe, quad_c - xi.shape[0])
        P = per_probe.shape[0]
        value = op.log_diag + per_probe.mean()
        stderr = per_probe.std() / math.sqrt(P)
        info["logdet_stderr"] = float(stderr)
        info["lanczos_steps"] = steps
        X = None
        if ctx.needs_input_grad[0]:
            X, iters, res = cg_solve(op.matmat, xi, tol=cfg.cg_tol, max_iters=cfg.cg_max_iters,
                                     x0=x0)
            info["probe_cg_iterations"] = iters
            info["probe_cg_residual"] = float(_relative(res, xi).max())
        ctx.save_for_backward(xi, X)
        ctx.op, ctx.s, ctx.control_variate = op, s, cfg.control_variate
        return value.to(f.dtype), stderr.to(f.dtype)

    @staticmethod
    def backward(ctx, grad_value, grad_stderr):
        xi, X = ctx.saved_tensors
        op = ctx.op
        c = op.c.unsqueeze(1)
        # d log|C| / d f_k = g_k^T C^-1 g_k / s = (c g_k)^T Ct^-1 (c g_k) / s, by Hutchinson.
        Gxi = op.G @ (c * xi)
        per_probe = (op.G @ (c * X)) * Gxi / ctx.s  # (m, P)
        if ctx.control_variate:
            # ((c g_k).xi_p)^2 / s has the exactly known mean |c g_k|^2 / s.
            baseline = (Gxi * Gxi - op.row_norms().unsqueeze(1)) / ctx.s
            per_probe = _cross_fitted(per_probe.T, baseline.T).T
        # The standard error is a diagnostic; its gradient is not propagated.
        return grad_value * per_probe.mean(1), None, None, None, None, None


def slq_logdet(G, f, s, config=None, info=None):
    """Stochastic Lanczos estimate of ``log|I + G^T diag(f) G / s|`` and its standard error.

    Parameters
    ----------
    G : torch.Tensor, shape (m, r)
        Any factor; orthogonal columns (as the precompute stores them) make the estimate far
        less noisy (see :class:`_ScaledWindow`).
    f : torch.Tensor, shape (m,)
        May require grad; the gradient is the Hutchinson estimate with CG-solved probes.
    s : float
    config : IterativeConfig, optional
    info : dict, optional
        Filled with ``logdet_stderr``, ``lanczos_steps`` and, when ``f`` requires grad,
        ``probe_cg_iterations`` and ``probe_cg_residual``.

    Returns
    -------
    value, stderr : torch.Tensor
        Scalar estimate (differentiable w.r.t. ``f``) and its standard error over probes.
    """
    cfg = config or IterativeConfig()
    info = {} if info is None else info
    return _logdet(_ScaledWindow(G, f.detach() / float(s)), f, float(s), cfg, info)


def _logdet(op, f, s, cfg, info):
    xi = _probes(op.G.shape[1], cfg, f)
    return _SLQLogdet.apply(f, op, s, xi, cfg, info)


class _DataTerm(torch.autograd.Function):
    """Q = v^T C^{-1} y / s^2 (see exact.py) with t = C^{-1} y by CG and a closed-form gradient."""

    @staticmethod
    def forward(ctx, f, op, y, s, cfg, info):
        v = op.G.T @ (f * (op.G @ y))
        # C t = y  <=>  Ct tau = c y with t = c tau (Jacobi-preconditioned CG).  The right-hand
        # side does not depend on f, so the gradient cola's CG drops (DESIGN section 4) is
        # zero here; the whole gradient is the closed form in backward.
        b = op.c * y
        tau, iters, res = cg_solve(op.matmat, b, tol=cfg.cg_tol, max_iters=cfg.cg_max_iters)
        t = op.c * tau
        info["cg_iterations"] = iters
        info["cg_residual"] = float(_relative(res, b))
        # With rho = y - C t = res / c the true residual:  s Q = y^T (I - C^-1) y
        #   = v^T t / s + (y - t)^T rho - rho^T C^-1 rho,
        # so adding (y - t)^T rho leaves an error second order in the CG residual.
        sQ = v @ t / s + ((y - t) / op.c) @ res
        ctx.save_for_backward(t)
        ctx.G, ctx.s = op.G, s
        return sQ / s

    @staticmethod
    def backward(ctx, grad_out):
        (t,) = ctx.saved_tensors
        # dQ/df_k = t^T g_k g_k^T t / s^2: only the operator depends on f.
        u = (ctx.G @ t) / ctx.s
        return grad_out * u * u, None, None, None, None, None


def iterative_gain(G, y, f, s, config=None):
    """Log-likelihood gain over the null model for one window, by CG and SLQ.

    Parameters
    ----------
    G : torch.Tensor, shape (m, r)
        Window factor with ``G G^T = R_EI R_II^+ R_IE``; same device and dtype as ``f``.
    y : torch.Tensor, shape (r,)
        Data coordinates with ``G y = R_EI R_II^+ beta_hat_I``.
    f : torch.Tensor, shape (m,)
        Prior effect variances on the extended set; may require grad.
    s : float
        ``sigma^2 / N``.
    config : IterativeConfig, optional
        Solver settings; the defaults are justified in :class:`IterativeConfig`.

    Returns
    -------
    gain : torch.Tensor
        Scalar gain, differentiable with respect to ``f``.  Stochastic through ``log|C|``: its
        value has standard error ``info["logdet_stderr"] / 2``.
    info : dict
        ``cg_iterations``, ``cg_residual`` (data-term solve), ``logdet_stderr``,
        ``lanczos_steps``, ``probe_cg_iterations`` and ``probe_cg_residual`` (when ``f``
        requires grad), ``converged`` and ``fallback`` (True when the window was recomputed by
        :func:`exact_gain` because a CG solve missed its tolerance; a warning is issued).
    """
    cfg = config or IterativeConfig()
    s = float(s)
    info = {"fallback": False}
    op = _ScaledWindow(G, f.detach() / s)
    Q = _DataTerm.apply(f, op, y, s, cfg, info)
    logdet, _ = _logdet(op, f, s, cfg, info)
    worst = max(info["cg_residual"], info.get("probe_cg_residual", 0.0))
    info["converged"] = bool(worst <= _CONVERGED_SLACK * cfg.cg_tol)
    if not info["converged"]:
        warnings.warn(
            f"CG did not reach tol={cfg.cg_tol:g} within {cfg.cg_max_iters} iterations "
            f"(relative residual {worst:.2e}, window m={G.shape[0]}, r={G.shape[1]}); "
            "falling back to the exact Cholesky solver for this window",
            RuntimeWarning, stacklevel=2)
        info["fallback"] = True
        return exact_gain(G, y, f, s), info
    return 0.5 * (Q - logdet), info


# Rank from which the iterative path is chosen (see choose_linalg).
_CROSSOVER_RANK = {"cpu": 2000, "cuda": 8000}


def choose_linalg(m, r, device="cpu"):
    """Pick the per-window solver: ``"cholesky"`` or ``"iterative"``.

    Parameters
    ----------
    m, r : int
        Extended-set size and rank of the window factor ``G`` (m x r).
    device : str or torch.device

    Returns
    -------
    str

    Notes
    -----
    Measured by ``benchmarks/bench_solvers.py`` (2 CPU cores, nothing else running, torch
    2.13, default :class:`IterativeConfig`, loss + gradient, best of 2; synthetic windows with
    a real-LD spectrum, m = 3 r, f/s ~ 0.3), ratio = exact time / iterative time::

        r      250   500   1000  2000  3000  4000
        f64    0.64  0.49  1.08  1.27  2.90  3.60
        f32    0.13  0.37  0.85  1.81  2.71  3.16

    and by ``benchmarks/bench_likelihood.py`` (float32, m = 3 r): 1.0 at r = 1000, 1.9 at
    2000, 2.9 at 4000 and 6.2 at 8000.  Parity is at r ~ 1000 on this CPU; the iterative path
    is chosen from r >= 2000, where it is ~1.3x (float64) to ~1.8x (float32) faster already,
    so windows that need more CG/Lanczos steps than these (stronger signal) do not end up
    slower.  It needs only O(m r) memory against O(r^2) for Cholesky.  m scales both costs
    alike and does not enter the rule.  CUDA was not measured (no GPU was available): dense
    Cholesky and GEMM are relatively more efficient there, and the iterative path synchronises
    with the host once per CG iteration and Lanczos step, so the crossover is assumed to be
    no lower than r = 8000 until measured.
    """
    kind = torch.device(device).type
    threshold = _CROSSOVER_RANK.get(kind, _CROSSOVER_RANK["cpu"])
    return "iterative" if r >= threshold else "cholesky"

"""Iterative per-window likelihood: conjugate gradients + stochastic Lanczos quadrature.

Same quantity as :func:`deepwas.solvers.exact_gain` (DESIGN section 1), with
``C = I_r + G^T F G / s``, ``v = G^T (f * z)`` and ``w = C^{-1} v``::

    gain = 1/2 * [ Q - log|C| ],     Q = (z^T F z - v^T w / s) / s^2

but without ever forming or factorising ``C``: every operation is a product with ``G`` or
``G^T`` (4 m r flops per column), so time is O(m r (K P + iters)) instead of O(m r^2 + r^3).

* ``Q`` -- ``w`` by CG (cola, through :mod:`deepwas.solvers._cola`).  Its gradient has the
  closed form ``dQ/df_k = ((z_k - g_k.w / s) / s)^2``: the operator term ``-(g_k.w)^2 / s^3``
  plus the right-hand-side term ``2 z_k g_k.w / s^3`` that cola's CG autograd silently drops
  (``v`` depends on ``f``).  The closed form needs no second solve, so cola's backward is not
  used at all.
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


def _lanczos_quadrature(G, d, xi, steps):
    """Per-probe Lanczos estimates of ``xi_p^T log(C) xi_p`` with ``C = I + G^T diag(d) G``.

    Returns the estimates (P,), the control variates ``xi_p^T (C - I) xi_p`` (P,) and the
    Lanczos approximation of ``C^{-1} xi`` (r, P).

    One matmat with the whole (r, P) block per step; each column runs its own Lanczos
    recurrence, fully reorthogonalised against its previous vectors (cheap: K^2 r P flops
    against 4 K m r P for the matmats) so that float32 does not produce ghost Ritz values.
    """
    r, P = xi.shape
    K = min(int(steps), r)
    norms = xi.norm(dim=0)
    q = xi / norms
    # Basis laid out (P, r, K) so reorthogonalisation is two batched BLAS calls.
    basis = xi.new_zeros(P, r, K)
    alpha = xi.new_zeros(K, P)
    beta = xi.new_zeros(max(K - 1, 0), P)
    # Columns whose Krylov space is exhausted (beta ~ 0) continue with q = 0; their T then
    # decouples into a zero block whose Ritz values are clamped to 1 below (weight 0, log 1 = 0).
    breakdown = 100.0 * torch.finfo(xi.dtype).eps
    for j in range(K):
        basis[:, :, j] = q.T
        w = q + G.T @ (d.unsqueeze(1) * (G @ q))
        a = (q * w).sum(0)
        alpha[j] = a
        if j == K - 1:
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
    # Small (P, K, K) tridiagonal eigenproblems in float64: negligible cost, no precision loss.
    T = torch.diag_embed(alpha.T.double())
    if K > 1:
        off = beta.T.double()
        T = T + torch.diag_embed(off, 1) + torch.diag_embed(off, -1)
    theta, U = torch.linalg.eigh(T)
    # Eigenvalues of C are >= 1, hence so are its Ritz values; the clamp only removes round-off
    # and the decoupled zero blocks of exhausted columns.
    theta = theta.clamp_min(1.0)
    quad = (U[:, 0, :] ** 2 * torch.log(theta)).sum(1)
    sq = norms.double() ** 2
    # Lanczos and CG span the same Krylov space: |xi| Q T^{-1} e_1 is the K-step CG iterate for
    # C x = xi, a free warm start for the probe solves of the gradient.
    t_inv_e1 = torch.einsum("pij,pj->pi", U, U[:, 0, :] / theta).to(xi.dtype)
    x0 = torch.bmm(basis, t_inv_e1.unsqueeze(2)).squeeze(2).T * norms
    # xi_p^T (C - I) xi_p = |xi_p|^2 (alpha_0 - 1): a free control variate.
    return sq * quad, sq * (alpha[0].double() - 1.0), x0


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
    def forward(ctx, f, G, s, xi, cfg, info):
        d = f / s
        per_probe, quad_c, x0 = _lanczos_quadrature(G, d, xi, cfg.lanczos_steps)
        if cfg.control_variate:
            # xi^T (C - I) xi has the exactly known mean tr(C - I) = sum_k d_k |g_k|^2.
            trace = (d * (G * G).sum(1)).sum().double()
            per_probe = _cross_fitted(per_probe, quad_c - trace)
        P = per_probe.shape[0]
        value = per_probe.mean()
        stderr = per_probe.std() / math.sqrt(P)
        info["logdet_stderr"] = float(stderr)
        info["lanczos_steps"] = min(int(cfg.lanczos_steps), xi.shape[0])
        X = None
        if ctx.needs_input_grad[0]:
            X, iters, res = cg_solve(G, d, xi, tol=cfg.cg_tol, max_iters=cfg.cg_max_iters,
                                     x0=x0)
            info["probe_cg_iterations"] = iters
            info["probe_cg_residual"] = float(_relative(res, xi).max())
        ctx.save_for_backward(G, xi, X)
        ctx.s = s
        ctx.control_variate = cfg.control_variate
        return value.to(f.dtype), stderr.to(f.dtype)

    @staticmethod
    def backward(ctx, grad_value, grad_stderr):
        G, xi, X = ctx.saved_tensors
        Gxi = G @ xi
        per_probe = (G @ X) * Gxi / ctx.s  # (m, P): (g_k.C^-1 xi_p)(g_k.xi_p) / s
        if ctx.control_variate:
            # (g_k.xi_p)^2 / s has the exactly known mean |g_k|^2 / s.
            baseline = (Gxi * Gxi - (G * G).sum(1, keepdim=True)) / ctx.s
            per_probe = _cross_fitted(per_probe.T, baseline.T).T
        # The standard error is a diagnostic; its gradient is not propagated.
        return grad_value * per_probe.mean(1), None, None, None, None, None


def slq_logdet(G, f, s, config=None, info=None):
    """Stochastic Lanczos estimate of ``log|I + G^T diag(f) G / s|`` and its standard error.

    Parameters
    ----------
    G : torch.Tensor, shape (m, r)
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
    xi = _probes(G.shape[1], cfg, f)
    return _SLQLogdet.apply(f, G, float(s), xi, cfg, info)


class _DataTerm(torch.autograd.Function):
    """Q = (z^T F z - v^T C^{-1} v / s) / s^2 with w = C^{-1} v by CG and a closed-form gradient."""

    @staticmethod
    def forward(ctx, f, G, z, s, cfg, info):
        fz = f * z
        v = G.T @ fz
        w, iters, res = cg_solve(G, f / s, v, tol=cfg.cg_tol, max_iters=cfg.cg_max_iters)
        info["cg_iterations"] = iters
        info["cg_residual"] = float(_relative(res, v))
        # v^T C^{-1} v = v^T w + w^T res + O(|w - C^{-1} v|_C^2): the residual correction makes
        # the CG error second order.  It matters because z^T F z and v^T C^{-1} v / s nearly
        # cancel (by a factor ~ 100 on real windows), which would amplify a first-order error.
        vCv = v @ w + w @ res
        ctx.save_for_backward(G, z, w)
        ctx.s = s
        return ((z * fz).sum() - vCv / s) / s**2

    @staticmethod
    def backward(ctx, grad_out):
        G, z, w = ctx.saved_tensors
        s = ctx.s
        # d/df_k of z^T F z - v^T C^{-1} v / s, divided by s^2:
        #   z_k^2  -  2 z_k (g_k.w) / s  [RHS term, dropped by cola]  +  (g_k.w)^2 / s^2  [operator]
        resid = (z - (G @ w) / s) / s
        return grad_out * resid * resid, None, None, None, None, None


def iterative_gain(G, z, f, s, config=None):
    """Log-likelihood gain over the null model for one window, by CG and SLQ.

    Parameters
    ----------
    G : torch.Tensor, shape (m, r)
        Window factor with ``G G^T = R_EI R_II^+ R_IE``; same device and dtype as ``f``.
    z : torch.Tensor, shape (m,)
        ``R_EI R_II^+ beta_hat_I``.
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
    Q = _DataTerm.apply(f, G, z, s, cfg, info)
    logdet, _ = slq_logdet(G, f, s, cfg, info)
    worst = max(info["cg_residual"], info.get("probe_cg_residual", 0.0))
    info["converged"] = bool(worst <= _CONVERGED_SLACK * cfg.cg_tol)
    if not info["converged"]:
        warnings.warn(
            f"CG did not reach tol={cfg.cg_tol:g} within {cfg.cg_max_iters} iterations "
            f"(relative residual {worst:.2e}, window m={G.shape[0]}, r={G.shape[1]}); "
            "falling back to the exact Cholesky solver for this window",
            RuntimeWarning, stacklevel=2)
        info["fallback"] = True
        return exact_gain(G, z, f, s), info
    return 0.5 * (Q - logdet), info


# Rank from which the iterative path is chosen (see choose_linalg).
_CROSSOVER_RANK = {"cpu": 6000, "cuda": 8000}


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
    Measured by ``benchmarks/bench_solvers.py`` (2 shared CPU cores, torch 2.13, default
    :class:`IterativeConfig`, loss + gradient, best of 2; synthetic windows with a real-LD
    spectrum, m = 3 r), ratio = exact time / iterative time::

        r      250   500   1000  2000  3000
        f64    0.19  0.16  0.28  0.52  0.64
        f32    0.14  0.16  0.15  0.31  0.58

    Exact costs ~3 m r^2 flops in large GEMMs/triangular solves; the iterative path costs
    ~4 m r P (K + CG iterations) in skinny (r x P) products, so the ratio grows about linearly
    in r and extrapolates to 1 near r ~ 5000 (float64) and later in float32: on CPU the
    iterative path is chosen from r >= 6000 (and always when the r x r matrix would not fit:
    it needs only O(m r) memory).  m only scales both costs and does not enter the rule.
    CUDA was not measured (no GPU here): dense Cholesky/GEMM are even more efficient on GPU,
    and cola's CG synchronises with the host twice per iteration, so the crossover is assumed
    to be no lower -- r >= 8000 -- until measured.
    """
    kind = torch.device(device).type
    threshold = _CROSSOVER_RANK.get(kind, _CROSSOVER_RANK["cpu"])
    return "iterative" if r >= threshold else "cholesky"

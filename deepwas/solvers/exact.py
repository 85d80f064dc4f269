"""Exact per-window likelihood terms by Cholesky of the r x r matrix C.

Notation (DESIGN section 1): for one window, ``G`` (m x r) with ``G G^T = R_EI R_II^+ R_IE``,
``y`` (r) with ``z = G y = R_EI R_II^+ beta_I``, ``s = sigma^2 / N`` and prior variances ``f``
(m) on the extended set. With ``F = diag(f)``, ``C = I_r + G^T F G / s`` and ``v = G^T F z``::

    gain = 1/2 * [ Q - log|C| ],   Q = (z^T F z - v^T C^{-1} v / s) / s^2 = v^T t / s^2,
    t = C^{-1} y

is the log-likelihood of the window's marginal effects minus that of the null model ``f = 0``.
The second form of ``Q`` follows from ``v = s (C - I) y``; it sums positive terms, where the
first subtracts two numbers that agree to ~4 digits on real windows (at f/s ~ 5 float32 loses
``Q`` to 7.5e-5 relative that way, against 3.4e-7 here).  The gradient has the closed form
(``g_k`` the k-th row of ``G``)::

    d gain / d f_k = 1/2 * [ (g_k . t / s)^2 - g_k^T C^{-1} g_k / s ]

which costs one triangular solve with ``G`` -- cheaper and lighter on memory than letting
autograd differentiate through the Cholesky factorisation.
"""
from __future__ import annotations

import torch
from scipy.linalg import blas

__all__ = ["exact_gain"]

#: BLAS's symmetric rank-k update by dtype, for :func:`_gram` on the CPU
_SYRK = {torch.float32: blas.ssyrk, torch.float64: blas.dsyrk}


def _gram(G, w):
    """``G^T diag(w) G`` (r x r), symmetric to the last bit.

    On the CPU, for ``w >= 0``, as ``A^T A`` with ``A = G diag(sqrt(w))`` by BLAS's symmetric
    rank-k update (``?syrk``, which computes one triangle): half the multiplications of the
    general product, and the largest single cost of an exact likelihood evaluation (an
    m x r x r product for m variants and rank r; float64, m 3,900, r 488: 26 ms against 43 ms
    on one core, ``benchmarks/bench_likelihood.py``). torch exposes no ``syrk``; elsewhere
    (GPU, or a negative weight, whose square root does not exist) the general product.
    """
    syrk = _SYRK.get(G.dtype)
    if syrk is None or G.device.type != "cpu" or not bool((w >= 0).all()):
        return (G * w.unsqueeze(1)).T @ G
    A = (G.detach() * torch.sqrt(w.detach()).unsqueeze(1)).contiguous()
    # A (m x r, row-major) is A^T in BLAS's column-major view: "no transpose" then gives A^T A
    lower = torch.from_numpy(syrk(1.0, A.numpy().T, trans=0, lower=1))
    return torch.tril(lower) + torch.tril(lower, -1).mT


def _factor(G, f, s):
    """Cholesky factor of C = I + G^T diag(f) G / s (lower triangular)."""
    r = G.shape[1]
    C = _gram(G, f / s)
    C.diagonal().add_(1.0)
    L, info = torch.linalg.cholesky_ex(C)
    if int(info) != 0:
        raise FloatingPointError(
            "Cholesky of C = I + G^T F G / s failed; f holds non-finite or huge values "
            f"(max f / s = {float((f / s).max()):.3g}, r = {r})")
    return L


class _ExactGain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f, G, y, s):
        L = _factor(G, f, s)
        v = G.T @ (f * (G @ y))
        t = torch.cholesky_solve(y.unsqueeze(1), L).squeeze(1)
        logdet = 2.0 * torch.log(torch.diagonal(L)).sum()
        gain = 0.5 * ((v @ t) / s**2 - logdet)
        ctx.save_for_backward(G, L, t)
        ctx.s = s
        return gain

    @staticmethod
    def backward(ctx, grad_out):
        G, L, t = ctx.saved_tensors
        s = ctx.s
        u = (G @ t) / s
        # diag(G C^{-1} G^T) = row norms of X = G L^{-T}, solved from the right (X L^T = G):
        # the transpose of L^{-1} G^T, but BLAS reads G in its own row-major layout (float32,
        # m 3,900, r 488, one core: 15 ms against 23 ms; float64 the same)
        X = torch.linalg.solve_triangular(L.mT, G, upper=True, left=False)
        h = (X * X).sum(1)
        grad_f = 0.5 * (u * u - h / s)
        return grad_out * grad_f, None, None, None


def exact_gain(G, y, f, s):
    """Log-likelihood gain over the null model for one window, by Cholesky of C.

    Parameters
    ----------
    G : torch.Tensor, shape (m, r)
        Window factor with ``G G^T = R_EI R_II^+ R_IE``.
    y : torch.Tensor, shape (r,)
        Data coordinates with ``G y = R_EI R_II^+ beta_hat_I``
        (:attr:`deepwas.windows.WindowFactors.y`).
    f : torch.Tensor, shape (m,)
        Prior effect variances on the extended set; may require grad.
    s : float
        ``sigma^2 / N``.

    Returns
    -------
    torch.Tensor
        Scalar gain (differentiable with respect to ``f``).
    """
    return _ExactGain.apply(f, G, y, float(s))

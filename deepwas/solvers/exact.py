"""Exact per-window likelihood terms by Cholesky of the r x r matrix C.

Notation (DESIGN section 1): for one window, ``G`` (m x r) with ``G G^T = R_EI R_II^+ R_IE``,
``z = G y`` (m), ``s = sigma^2 / N`` and prior variances ``f`` (m) on the extended set. With
``F = diag(f)`` and ``C = I_r + G^T F G / s``::

    gain = 1/2 * [ (z^T F z - v^T C^{-1} v / s) / s^2 - log|C| ],   v = G^T F z

is the log-likelihood of the window's marginal effects minus that of the null model ``f = 0``.
The gradient has the closed form (``w = C^{-1} v``, ``g_k`` the k-th row of ``G``)::

    d gain / d f_k = 1/2 * [ ((z_k - g_k . w / s) / s)^2 - g_k^T C^{-1} g_k / s ]

which costs one triangular solve with ``G^T`` -- cheaper and lighter on memory than letting
autograd differentiate through the Cholesky factorisation.
"""
from __future__ import annotations

import torch

__all__ = ["exact_gain"]


def _factor(G, f, s):
    """Cholesky factor of C = I + G^T diag(f) G / s (lower triangular)."""
    r = G.shape[1]
    C = (G * (f / s).unsqueeze(1)).T @ G
    C.diagonal().add_(1.0)
    L, info = torch.linalg.cholesky_ex(C)
    if int(info) != 0:
        raise FloatingPointError(
            "Cholesky of C = I + G^T F G / s failed; f holds non-finite or huge values "
            f"(max f / s = {float((f / s).max()):.3g}, r = {r})")
    return L


class _ExactGain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f, G, z, s):
        L = _factor(G, f, s)
        fz = f * z
        v = G.T @ fz
        w = torch.cholesky_solve(v.unsqueeze(1), L).squeeze(1)
        logdet = 2.0 * torch.log(torch.diagonal(L)).sum()
        gain = 0.5 * (((z * fz).sum() - (v @ w) / s) / s**2 - logdet)
        ctx.save_for_backward(f, G, z, L, w)
        ctx.s = s
        return gain

    @staticmethod
    def backward(ctx, grad_out):
        f, G, z, L, w = ctx.saved_tensors
        s = ctx.s
        resid = (z - (G @ w) / s) / s
        # diag(G C^{-1} G^T) = column norms of L^{-1} G^T
        Linv_Gt = torch.linalg.solve_triangular(L, G.T, upper=False)
        h = (Linv_Gt * Linv_Gt).sum(0)
        grad_f = 0.5 * (resid * resid - h / s)
        return grad_out * grad_f, None, None, None


def exact_gain(G, z, f, s):
    """Log-likelihood gain over the null model for one window, by Cholesky of C.

    Parameters
    ----------
    G : torch.Tensor, shape (m, r)
        Window factor with ``G G^T = R_EI R_II^+ R_IE``.
    z : torch.Tensor, shape (m,)
        ``R_EI R_II^+ beta_hat_I``.
    f : torch.Tensor, shape (m,)
        Prior effect variances on the extended set; may require grad.
    s : float
        ``sigma^2 / N``.

    Returns
    -------
    torch.Tensor
        Scalar gain (differentiable with respect to ``f``).
    """
    return _ExactGain.apply(f, G, z, float(s))

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

which costs one triangular solve with ``G^T`` -- cheaper and lighter on memory than letting
autograd differentiate through the Cholesky factorisation.
"""
from __future__ import annotations

import torch

__all__ = ["exact_gain"]

#: :func:`_gram` splits a block of at least this many columns (below, the extra products
#: cost more than the multiplications they save) ...
GRAM_MIN_SPLIT = 128
#: ... at most this many times (two: 0.70-0.76x the general product's time at r 488, m
#: 3,900, float32 and float64, one or two threads; 0.85-0.9x at r 200; a third level saved
#: nothing more)
GRAM_DEPTH = 2


def _gram(G, w):
    """``G^T diag(w) G`` (r x r) for ``w >= 0``, exactly symmetric.

    As ``A^T A``, ``A = G diag(sqrt(w))``, by its lower triangle: with the columns split in
    halves, the two diagonal blocks recursively and the one block below them, in place of
    the general product's four blocks; then mirrored. This is the largest single cost of an
    exact likelihood evaluation (an m x r x r product). BLAS's symmetric rank-k update
    (``?syrk``) does the same but torch does not expose it, and scipy's, beside torch's
    OpenMP threads, ran 2-25 times slower than the general product on two cores. A negative
    weight, which has no square root, takes the general product.
    """
    if bool((w >= 0).all()):
        C = _lower_ata(G * torch.sqrt(w).unsqueeze(1), GRAM_DEPTH)
    else:
        C = (G * w.unsqueeze(1)).T @ G
    return torch.tril(C) + torch.tril(C, -1).mT


def _lower_ata(A, depth):
    """``A^T A`` correct on and below the diagonal (above it: whatever the blocks hold)."""
    r = A.shape[1]
    if depth == 0 or r < GRAM_MIN_SPLIT:
        return A.T @ A
    h = r // 2
    C = A.new_empty(r, r)
    C[:h, :h] = _lower_ata(A[:, :h], depth - 1)
    C[h:, h:] = _lower_ata(A[:, h:], depth - 1)
    torch.matmul(A[:, h:].T, A[:, :h], out=C[h:, :h])
    return C


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
        # diag(G C^{-1} G^T): row norms of X = G L^{-T} (X L^T = G), or column norms of its
        # transpose L^{-1} G^T. The same solve; in float32 the first, which reads G in its own
        # row-major layout, is 0.5-0.7x the time (m 3,900, r 488: 10 ms against 15 ms on two
        # threads), in float64 the second (the first up to 1.5x slower at small r)
        if G.dtype == torch.float32:
            X = torch.linalg.solve_triangular(L.mT, G, upper=True, left=False)
            h = (X * X).sum(1)
        else:
            X = torch.linalg.solve_triangular(L, G.T, upper=False)
            h = (X * X).sum(0)
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

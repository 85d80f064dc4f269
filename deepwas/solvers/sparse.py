"""Exact per-window likelihood terms when the LD is a sparse precision matrix.

Notation of :mod:`deepwas.precision_windows`: a block's precision ``P`` (``n_b`` indices), the
window's rows ``W`` (m), ``u = S beta_W``, ``q = beta_W^T u``, ``s = sigma^2 / N``, prior
variances ``f`` on ``W`` and ``T = s P + diag(f on W, 0 elsewhere)``::

    gain = 1/2 [ q / s - u^T x - (log|T| - log|s P|) ],     x = (T^-1 [u; 0])_W
    d gain / d f_k = 1/2 [ x_k^2 - (T^-1)_kk ]

One numeric sparse LDL^T of ``T`` per evaluation (its pattern, that of ``P``, is analysed once),
one solve, and for the gradient the diagonal of ``T^-1`` by selected inversion
(:mod:`deepwas.solvers.sparse_ldlt`). The computation runs in float64 on the CPU whatever the
dtype and device of ``f``; value and gradient are returned in those.
"""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["sparse_gain", "sparse_posterior_mean"]


def _solve(ldlt, W, u, f, s, with_inverse_diagonal):
    """``x = (T^-1 [u; 0])_W``, ``log|T|`` and (or None) ``diag(T^-1)_W``; the numeric factor
    of ``T`` lives only in this call (:class:`~deepwas.solvers.sparse_ldlt.SparseLDLT`)."""
    shift = np.zeros(ldlt.n)
    shift[W] = f
    T = ldlt.factor(s, shift)
    rhs = np.zeros(ldlt.n)
    rhs[W] = u
    x = T.solve(rhs)[W]
    zdiag = T.inverse_diagonal()[W] if with_inverse_diagonal else None
    return x, T.logdet(), zdiag


class _SparseGain(torch.autograd.Function):
    @staticmethod
    def forward(ctx, f, ldlt, W, u, q, logdet_P, s):
        fn = f.detach().to("cpu", torch.float64).numpy()
        if not np.all(np.isfinite(fn)):
            raise FloatingPointError("prior variances hold non-finite values")
        x, logdet_T, zdiag = _solve(ldlt, W, u, fn, s, ctx.needs_input_grad[0])
        logdet_sP = ldlt.n * math.log(s) + logdet_P
        gain = 0.5 * (q / s - float(u @ x) - (logdet_T - logdet_sP))
        if zdiag is not None:
            ctx.grad = torch.as_tensor(0.5 * (x * x - zdiag), dtype=f.dtype, device=f.device)
        return torch.as_tensor(gain, dtype=f.dtype, device=f.device)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out * ctx.grad, None, None, None, None, None, None


def sparse_gain(ldlt, W, u, q, logdet_P, f, s):
    """Log-likelihood gain over the null model of one window on a sparse precision block.

    Parameters
    ----------
    ldlt : SparseLDLT
        Symbolic factor of the block's precision ``P`` (factorised here as
        ``s P + diag(f)``).
    W : ndarray of int, shape (m,)
        Rows of ``P`` of the window's variants.
    u : ndarray, shape (m,)
        ``S beta_W``.
    q : float
        ``beta_W^T u``.
    logdet_P : float
        ``log|P|``.
    f : torch.Tensor, shape (m,)
        Prior effect variances of the window's variants; may require grad.
    s : float
        ``sigma^2 / N``.

    Returns
    -------
    torch.Tensor
        Scalar gain (differentiable with respect to ``f``).
    """
    return _SparseGain.apply(f, ldlt, W, u, float(q), float(logdet_P), float(s))


def sparse_posterior_mean(ldlt, W, u, f, s):
    """``E[beta_W | beta_hat] = F (F + s S)^-1 u`` (m,), float64.

    From ``E[beta | beta_hat] = F R (R F R + s R)^-1 beta_hat`` with ``R = S^-1``.
    """
    f = np.asarray(f, dtype=np.float64)
    x, _, _ = _solve(ldlt, W, u, f, s, False)
    return f * x

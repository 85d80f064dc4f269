"""The one place in deepwas that imports cola-ml: conjugate gradients on a window's SPD operator.

Why an adapter (DESIGN section 4, cola-ml 0.0.7 with torch 2.13):

* ``cola.linalg.inv(cola.PSD(op), cola.CG(tol, max_iters)) @ B`` is correct and handles a block
  of right-hand sides, so it is used for every linear solve of the iterative path;
* its autograd rule silently returns a zero gradient for the right-hand side, and costs a second
  CG solve in backward.  The callers differentiate in closed form instead, so solves here run
  on detached tensors with autograd off and never build a cola graph;
* operator ``+`` / ``@`` dispatch is fragile across beartype versions, so the operator is a
  plain ``LinearOperator`` subclass with its own ``_matmat`` (no operator algebra);
* cola's recorded residual is the CG recurrence residual averaged over columns; we report the
  true relative residual per column instead (one extra matmat).
"""
from __future__ import annotations

import functools
import logging

import torch


def _import_cola_quietly():
    """Import cola without letting it configure the root logger.

    cola 0.0.7 calls the module-level ``logging.debug`` while importing, which runs
    ``logging.basicConfig()`` when the root logger has no handler: the program importing
    deepwas would then print every warning as ``WARNING:deepwas...`` and could no longer
    configure logging itself. A NullHandler held on the root during the import makes that call
    a no-op; it is removed afterwards.
    """
    root = logging.getLogger()
    guard = None if root.handlers else logging.NullHandler()
    if guard is not None:
        root.addHandler(guard)
    try:
        import cola as module
    finally:
        if guard is not None:
            root.removeHandler(guard)
    return module


__all__ = ["cg_solve", "load_cola"]


@functools.cache
def load_cola():
    """cola and our operator class, imported at the first iterative solve: a fit on the
    exact or sparse path never uses them, and they cost every ``import deepwas`` (and CLI
    call) about 0.5 s and 11 MB of RSS (3.4 s / 381 MB against 3.6-4.2 s / 392 MB, measured
    on the 2-core machine)."""
    cola = _import_cola_quietly()

    class MatmatOperator(cola.ops.LinearOperator):
        """A symmetric positive definite operator given only by its product with an (r, k)
        block."""

        def __init__(self, matmat, like):
            super().__init__(like.dtype, (like.shape[0], like.shape[0]))
            self.matmat = matmat

        def _matmat(self, X):
            return self.matmat(X)

    return cola, MatmatOperator


def cg_solve(matmat, B, *, tol, max_iters, x0=None):
    """Solve ``A X = B`` by cola's conjugate gradients, ``A`` given by ``matmat(X) = A X``.

    Parameters
    ----------
    matmat : callable
        Maps an (r, k) tensor to ``A`` times it; ``A`` symmetric positive definite.  Called on
        detached tensors under ``torch.no_grad``.
    B : torch.Tensor, shape (r,) or (r, k)
        Right-hand side(s); solved together, one matmat per iteration.
    tol : float
        Relative residual tolerance handed to cola (it stops when every column's recurrence
        residual is below ``tol * (1 + |r_0|/|b|)``, i.e. about ``2 tol`` from a zero start).
    max_iters : int
        Iteration cap.
    x0 : torch.Tensor, optional
        Initial guess, same shape as ``B`` (zero when omitted).

    Returns
    -------
    X : torch.Tensor
        Solution, same shape as ``B``; no autograd graph.
    iterations : int
        CG iterations run.
    residual : torch.Tensor
        True residual ``B - C X`` (same shape as ``B``; one extra matmat).  cola's own record
        is the recurrence residual averaged over columns, which can drift from the true one.
    """
    cola, MatmatOperator = load_cola()
    with torch.no_grad():
        B = B.detach()
        op = MatmatOperator(matmat, B)
        if x0 is not None:
            # cola 0.0.7 scales each column of b to unit norm but not x0, so hand it x0 in
            # those units; its stopping threshold then becomes tol * (|r_0| / |b| + 1).
            x0 = x0.detach() / B.norm(dim=0).clamp_min(torch.finfo(B.dtype).tiny)
        solver = cola.linalg.inv(cola.PSD(op), cola.CG(tol=tol, max_iters=max_iters, x0=x0))
        X = solver @ B
        # cola counts loop-condition evaluations, one more than the steps taken.
        iterations = max(int(solver.info.get("iterations", 1)) - 1, 0)
        residual = B - matmat(X.unsqueeze(1) if X.ndim == 1 else X).reshape(B.shape)
    return X, iterations, residual

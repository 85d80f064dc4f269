"""Windows whose LD is a sparse precision matrix (LDGM blocks): their theta-free factors.

For a block with precision ``P`` (``R = P^-1`` on its indices) and the window's variants on
the indices ``W`` (the rest, ``V``, carry no statistics), the LD of the window is
``R_WW = S^-1`` with the Schur complement ``S = P_WW - P_WV P_VV^-1 P_VW`` (graphREML's
handling of missing variants). With ``u = S beta_W``::

    beta_W ~ N(0, R_WW F R_WW + s R_WW)   <=>   u ~ N(0, K),   K = F + s S

and ``log p(beta_W) = log N(u; 0, K) + log|S|``. ``K`` is the Schur complement onto ``W`` of
``T = s P + diag(f on W, 0 on V)``, which has the pattern of ``P``, so::

    log|K| = log|T| - log|s P_VV|,   K^-1 u = (T^-1 [u; 0])_W,   diag(K^-1) = diag(T^-1)_W

and the gain over the null model (``f = 0``) is (:mod:`deepwas.solvers.sparse`)::

    gain = 1/2 [ q / s - u^T K^-1 u - (log|T| - log|s P|) ],   q = beta_W^T S beta_W

All a window keeps is ``P`` (the block's sparse matrix), ``W``, ``u``, ``q`` and ``log|P_VV|``
(``log|P|`` comes with the first factorisation of the solver's :class:`PrecisionWindow`): no
dense matrix of the block's size is ever formed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .solvers.sparse_ldlt import SparseLDLT

__all__ = ["PrecisionFactors", "PrecisionWindow", "precision_factors"]

_EMPTY = np.zeros(0)


@dataclass
class PrecisionFactors:
    """theta-free quantities of a window on one sparse precision block (module docstring).

    ``rank``, ``q`` and ``logdet_R`` mean what they mean for dense windows
    (:class:`deepwas.windows.WindowFactors`): the null model's terms.
    """

    P: sp.csc_matrix       # (n_b, n_b) the block's precision
    W: np.ndarray          # (m,) rows of P of the window's variants, in the window's order
    u: np.ndarray          # (m,) S beta_W
    q: float               # beta_W^T S beta_W = beta_W^T R_WW^-1 beta_W
    logdet_PVV: float      # log|P_VV| (0 when every index is in W)
    rank: int              # m (R_WW has full rank)
    n_core: int
    d = None               # no mismatch variance on this path
    out_share: float = 0.0                 # beta_W is always in the span of R_WW
    tail_y2: np.ndarray = field(default_factory=lambda: _EMPTY)
    tail_a: np.ndarray = field(default_factory=lambda: _EMPTY)
    #: rebuilt from the LD files in a fraction of a second: not written to the disk cache
    cacheable = False

    @property
    def nbytes(self):
        P = self.P
        return int(P.data.nbytes + P.indices.nbytes + P.indptr.nbytes + self.W.nbytes
                   + self.u.nbytes)


def precision_factors(P, W, beta_W, n_core):
    """The factors of a window on the indices ``W`` of a precision block ``P``.

    Parameters
    ----------
    P : scipy.sparse matrix, shape (n_b, n_b)
        Symmetric positive definite precision of the block (every diagonal entry stored).
    W : array of int, shape (m,)
        Distinct rows of ``P`` holding the window's variants, in the window's order.
    beta_W : ndarray, shape (m,)
        Marginal effects of those variants.
    n_core : int

    Returns
    -------
    PrecisionFactors
    """
    P = sp.csc_matrix(P, dtype=np.float64)
    W = np.asarray(W, dtype=np.int64)
    beta_W = np.asarray(beta_W, dtype=np.float64)
    n_b = P.shape[0]
    if len(np.unique(W)) != len(W) or (len(W) and (W.min() < 0 or W.max() >= n_b)):
        raise ValueError("W must hold distinct rows of P")
    inW = np.zeros(n_b, dtype=bool)
    inW[W] = True
    V = np.flatnonzero(~inW)
    u = P[W][:, W] @ beta_W
    logdet_PVV = 0.0
    if len(V):
        P_VV = SparseLDLT(P[V][:, V]).factor()
        logdet_PVV = P_VV.logdet()
        u = u - P[W][:, V] @ P_VV.solve(P[V][:, W] @ beta_W)
    return PrecisionFactors(P=P, W=W, u=u, q=float(beta_W @ u), logdet_PVV=logdet_PVV,
                            rank=len(W), n_core=int(n_core))


class PrecisionWindow:
    """A precision window ready for the solver: its factors plus the symbolic sparse ``LDL^T``
    of the block (ordering and symbolic analysis done once, kept while the window is in
    memory; each likelihood evaluation makes its own numeric factor and drops it).

    Stands where dense windows have :class:`deepwas.window_store.WindowTensors`: the null
    model's ``q``, ``logdet_R`` and ``rank`` mean the same; ``G`` and ``y`` do not exist.
    """

    precision = True
    d = None

    def __init__(self, wf):
        self.ldlt = SparseLDLT(wf.P)
        self.logdet_P = self.ldlt.factor().logdet()
        self.logdet_R = wf.logdet_PVV - self.logdet_P      # log|R_WW| = -log|S|
        self.W, self.u, self.q = wf.W, wf.u, wf.q
        self.rank, self.n_core = wf.rank, wf.n_core

    @property
    def m(self):
        """Number of the window's variants."""
        return len(self.W)

    @property
    def nbytes(self):
        return int(self.ldlt.nbytes + self.W.nbytes + self.u.nbytes)

"""Sparse LDL^T of symmetric positive definite matrices that share one pattern, with the
log-determinant, solves and the diagonal of the inverse (selected inversion).

Used for LD given as a sparse precision matrix P (LDGMs): the likelihood needs, for
``T = s P + diag(f)`` (the pattern of P, only the diagonal changing with the prior), ``log|T|``,
one solve and ``diag(T^-1)`` (its gradient). A dense inverse would cost O(n^3) per block and
step; here the cost follows the fill of the factor.

Libraries, chosen by measurement on the shipped 1000 Genomes EUR LDGM block (5,354 indices,
94,556 entries of P; 2-core machine):

* factorisation: QDLDL (``qdldl`` on the package index, a C library with wheels; AMD ordering
  built in). The AMD ordering gives 482,042 entries in L (RCM: bandwidth 2,955; natural order:
  a profile of 1.0 M); a new numeric factorisation on the same pattern takes 0.04 s
  (``update``), the first one with the ordering 0.09 s. scikit-sparse (CHOLMOD) has no wheel
  on the index (it needs SuiteSparse from the system), so it cannot be a requirement;
  SuperLU (scipy) factorises but gives neither a symmetric factor for the selected inversion
  nor an ordering that keeps it small.
* selected inversion: the Takahashi recurrences on the pattern of L, compiled with numba
  (no package on the index provides it for a CSC factor), ~sum over columns of
  |col j| * |col k| flops: 0.03 s on the block above.

The Takahashi recurrences (``Z = A^-1``, ``A = L D L^T`` with unit lower ``L``), for columns
``j`` from the last to the first, ``S_j`` the rows of column ``j`` of ``L`` below the diagonal::

    Z[i, j] = - sum_{k in S_j} Z[i, k] L[k, j]          (i in S_j)
    Z[j, j] = 1 / D[j] - sum_{k in S_j} L[k, j] Z[k, j]

only need ``Z`` on the pattern of ``L`` (``S_j`` minus ``k`` lies in ``S_k`` for every ``k`` in
``S_j``: the filled graph's cliques), so the memory is one array the size of ``L``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["SparseLDLT"]


def _selinv_kernel():
    import numba

    @numba.njit(cache=True, nogil=True)
    def selinv_diag(n, Lp, Li, Lx, D):
        Zx = np.zeros(Lx.shape[0])
        Zd = np.zeros(n)
        pos = np.full(n, -1, dtype=np.int64)
        y = np.zeros(n)
        for j in range(n - 1, -1, -1):
            a0, a1 = Lp[j], Lp[j + 1]
            for a in range(a0, a1):
                pos[Li[a]] = a - a0
                y[a - a0] = 0.0
            for a in range(a0, a1):
                k = Li[a]
                lk = Lx[a]
                y[a - a0] += Zd[k] * lk
                for b in range(Lp[k], Lp[k + 1]):
                    p = pos[Li[b]]
                    if p >= 0:            # Z[i, k] with i > k, both in S_j
                        z = Zx[b]
                        y[p] += z * lk
                        y[a - a0] += z * Lx[a0 + p]
            d = 1.0 / D[j]
            for a in range(a0, a1):
                Zx[a] = -y[a - a0]
                d += Lx[a] * y[a - a0]
                pos[Li[a]] = -1
            Zd[j] = d
        return Zd

    return selinv_diag


_KERNEL = []


def _selinv(n, L, D):
    if not _KERNEL:
        _KERNEL.append(_selinv_kernel())
    return _KERNEL[0](n, L.indptr.astype(np.int64), L.indices.astype(np.int64),
                      L.data, D)


class SparseLDLT:
    """``LDL^T`` of ``scale * A + diag(shift)`` for one symmetric sparse ``A``.

    The ordering and the symbolic analysis are done once (at construction); every
    :meth:`factor` is numeric only.

    Parameters
    ----------
    A : scipy.sparse matrix, shape (n, n)
        Symmetric, with every diagonal entry stored (non-zero).
    """

    def __init__(self, A):
        import qdldl

        A = sp.csc_matrix(A, dtype=np.float64)
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be square, got {A.shape}")
        U = sp.triu(A, format="csc")
        U.sort_indices()
        self.n = A.shape[0]
        self._U = U
        self._base = U.data.copy()
        rows = U.indices
        cols = np.repeat(np.arange(self.n), np.diff(U.indptr))
        self._diag = np.flatnonzero(rows == cols)
        if len(self._diag) != self.n:
            raise ValueError("A must store every diagonal entry")
        self._solver = qdldl.Solver(U, upper=True)
        self._factored = None      # (scale, shift) of the current numeric factor
        self._L = self._D = self._perm = None
        self._set(1.0, None)

    @property
    def nbytes(self):
        """Bytes held: the matrix, and the factor when it has been read out."""
        lb = 0 if self._L is None else self._L.data.nbytes + self._L.indices.nbytes
        return int(self._U.data.nbytes * 2 + self._U.indices.nbytes + 2 * lb)

    def _set(self, scale, shift):
        data = self._base * scale
        if shift is not None:
            data[self._diag] += shift
        self._U.data = data
        self._solver.update(self._U, upper=True)
        L, D, perm = self._solver.factors()
        if not np.all(D > 0):
            raise FloatingPointError(
                "sparse LDL^T: the matrix is not positive definite (smallest pivot "
                f"{float(D.min()):.3g}); the precision matrix or the prior variances hold "
                "invalid values")
        self._L, self._D, self._perm = L.tocsc(), D, np.asarray(perm, dtype=np.int64)

    def factor(self, scale=1.0, shift=None):
        """Factorise ``scale * A + diag(shift)`` (``shift``: (n,) or None).

        Returns
        -------
        self
        """
        shift = None if shift is None else np.asarray(shift, dtype=np.float64)
        if shift is not None and shift.shape != (self.n,):
            raise ValueError(f"shift must have shape ({self.n},), got {shift.shape}")
        self._set(float(scale), shift)
        return self

    def logdet(self):
        """``log|scale * A + diag(shift)|`` of the current factor."""
        return float(np.log(self._D).sum())

    def solve(self, b):
        """``(scale * A + diag(shift))^-1 b`` for a vector ``b``."""
        return self._solver.solve(np.ascontiguousarray(b, dtype=np.float64))

    def inverse_diagonal(self):
        """``diag((scale * A + diag(shift))^-1)`` by selected inversion (module docstring)."""
        L = self._L
        if not L.has_sorted_indices:
            L.sort_indices()
        zd = _selinv(self.n, L, self._D)
        out = np.empty(self.n)
        out[self._perm] = zd         # row i of the permuted matrix is row perm[i] of A
        return out

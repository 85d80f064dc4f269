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
  (``update``; CPU time of one thread), the first one with the ordering 0.09 s. scikit-sparse (CHOLMOD) has no wheel
  on the index (it needs SuiteSparse from the system), so it cannot be a requirement;
  SuperLU (scipy) factorises but gives neither a symmetric factor for the selected inversion
  nor an ordering that keeps it small.
* selected inversion: the Takahashi recurrences on the pattern of L, by supernodes, compiled
  with numba (no package on the index provides it for a CSC factor).

The Takahashi recurrences (``Z = A^-1``, ``A = L D L^T`` with unit lower ``L``), for columns
``j`` from the last to the first, ``S_j`` the rows of column ``j`` of ``L`` below the diagonal::

    Z[i, j] = - sum_{k in S_j} Z[i, k] L[k, j]          (i in S_j)
    Z[j, j] = 1 / D[j] - sum_{k in S_j} L[k, j] Z[k, j]

only need ``Z`` on the pattern of ``L`` (``S_j`` minus ``k`` lies in ``S_k`` for every ``k`` in
``S_j``: the filled graph's cliques), so the memory is about the size of ``L``. By supernodes
(runs of columns ``J`` sharing the rows ``B`` below them) they become dense products
(SelInv, Lin et al. 2011): with ``Y = L_BJ L_JJ^-1``::

    Z_BJ = - Z_BB Y,      Z_JJ = L_JJ^-T D_J^-1 L_JJ^-1 - Y^T Z_BJ

where ``Z_BB`` is gathered from the supernodes holding the columns of ``B``. Measured on the
block above (CPU time of one thread): 0.24 s by columns, 0.04 s by supernodes (3,213 of them),
as much as the numeric factorisation (0.04 s).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["SparseLDLT"]


def _kernels():
    import numba

    @numba.njit(cache=True, nogil=True)
    def supernodes(n, Lp, Li):
        """Fundamental supernodes: runs of columns where column j's rows below the diagonal
        are j + 1 followed by column j + 1's rows. Returns their first columns (and n)."""
        starts = [0]
        for j in range(n - 1):
            a0, a1, b0, b1 = Lp[j], Lp[j + 1], Lp[j + 1], Lp[j + 2]
            same = a1 - a0 == b1 - b0 + 1 and a1 > a0 and Li[a0] == j + 1
            if same:
                for q in range(b1 - b0):
                    if Li[a0 + 1 + q] != Li[b0 + q]:
                        same = False
                        break
            if not same:
                starts.append(j + 1)
        starts.append(n)
        return np.array(starts, dtype=np.int64)

    @numba.njit(cache=True, nogil=True)
    def unit_lower_inverse(L):
        t = L.shape[0]
        X = np.eye(t)
        for c in range(t):
            for i in range(c + 1, t):
                acc = 0.0
                for k in range(c, i):
                    acc += L[i, k] * X[k, c]
                X[i, c] = -acc
        return X

    @numba.njit(cache=True, nogil=True)
    def selinv_diag(n, Lp, Li, Lx, D, starts):
        n_sn = len(starts) - 1
        sn_of = np.empty(n, dtype=np.int64)
        off = np.zeros(n_sn + 1, dtype=np.int64)
        for J in range(n_sn):
            j0, j1 = starts[J], starts[J + 1]
            sn_of[j0:j1] = J
            t = j1 - j0
            b = Lp[j1] - Lp[j1 - 1]
            off[J + 1] = off[J] + (t + b) * t
        Z = np.empty(off[n_sn])
        diag = np.empty(n)
        for J in range(n_sn - 1, -1, -1):
            j0, j1 = starts[J], starts[J + 1]
            t = j1 - j0
            bp0 = Lp[j1 - 1]
            b = Lp[j1] - bp0
            LJJ = np.eye(t)
            LBJ = np.empty((b, t))
            for c in range(t):
                a0 = Lp[j0 + c]
                for r in range(t - c - 1):
                    LJJ[c + 1 + r, c] = Lx[a0 + r]
                for r in range(b):
                    LBJ[r, c] = Lx[a0 + t - c - 1 + r]
            Linv = unit_lower_inverse(LJJ)
            ZJ = Z[off[J]:off[J + 1]].reshape((t + b, t))
            ZJJ = (Linv.T * (1.0 / D[j0:j1])) @ Linv
            if b:
                Y = LBJ @ Linv
                ZBB = np.empty((b, b))
                q = 0
                while q < b:
                    # the rows B[q:] that supernode K (holding column B[q]) stores
                    K = sn_of[Li[bp0 + q]]
                    k0, k1 = starts[K], starts[K + 1]
                    tK = k1 - k0
                    bk0 = Lp[k1 - 1]
                    bK = Lp[k1] - bk0
                    rel = np.empty(b - q, dtype=np.int64)
                    ptr = 0
                    for p in range(q, b):
                        r = Li[bp0 + p]
                        if r < k1:
                            rel[p - q] = r - k0
                        else:
                            while ptr < bK and Li[bk0 + ptr] != r:
                                ptr += 1
                            if ptr == bK:
                                raise ValueError("selected inversion: the factor's pattern "
                                                 "is not closed (not a Cholesky pattern)")
                            rel[p - q] = tK + ptr
                    ZK = Z[off[K]:off[K + 1]].reshape((tK + bK, tK))
                    qe = q
                    while qe < b and Li[bp0 + qe] < k1:
                        co = Li[bp0 + qe] - k0
                        for p in range(qe, b):
                            v = ZK[rel[p - q], co]
                            ZBB[p, qe] = v
                            ZBB[qe, p] = v
                        qe += 1
                    q = qe
                ZBJ = -(ZBB @ Y)
                ZJJ -= Y.T @ ZBJ
                ZJ[t:, :] = ZBJ
            ZJ[:t, :] = ZJJ
            for c in range(t):
                diag[j0 + c] = ZJJ[c, c]
        return diag

    return supernodes, selinv_diag


_KERNELS = []


def _numba_kernels():
    if not _KERNELS:
        _KERNELS.extend(_kernels())
    return _KERNELS


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
        self._pattern = None       # (indptr, indices, supernode starts) of L, made once
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
        supernodes, selinv = _numba_kernels()
        L = self._L
        if not L.has_sorted_indices:
            L.sort_indices()
        if self._pattern is None or self._pattern[0].shape != L.indptr.shape \
                or self._pattern[1].shape != L.indices.shape:
            # the pattern is the symbolic factor's, the same for every numeric factorisation
            Lp, Li = L.indptr.astype(np.int64), L.indices.astype(np.int64)
            self._pattern = (Lp, Li, supernodes(self.n, Lp, Li))
        Lp, Li, starts = self._pattern
        zd = selinv(self.n, Lp, Li, L.data, self._D, starts)
        out = np.empty(self.n)
        out[self._perm] = zd         # row i of the permuted matrix is row perm[i] of A
        return out

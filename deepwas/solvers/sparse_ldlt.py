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


class SparseLDLT:
    """``LDL^T`` of ``scale * A + diag(shift)`` for one symmetric sparse ``A``.

    The ordering and the symbolic analysis are done once (at construction); every
    :meth:`factor` is numeric only. Memory between calls: QDLDL's factor (the entries of
    ``L``, 16 bytes each) and the upper triangle of ``A``; the factor, its pattern and its
    supernodes are read out of QDLDL only while they are needed (a genome holds one of these
    per LD block: a copy of the pattern would add a third to each).

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
        self._nnz_L = None
        self._D = self._perm = None
        self._set(1.0, None)

    @property
    def nbytes(self):
        """Bytes held between calls (class docstring).

        QDLDL's share measured (RSS of ten solvers of the 5,354-index LDGM block: 9.3 MB
        each, 482,042 entries in ``L``, 49,955 in the upper triangle): 64-bit indices, so 16
        bytes an entry of ``L`` and of its permuted copy of the upper triangle."""
        return int(16 * (self._nnz_L + self._U.nnz) + self._U.data.nbytes * 2
                   + self._U.indices.nbytes + 40 * self.n)

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
        self._nnz_L = L.nnz
        self._D, self._perm = D, np.asarray(perm, dtype=np.int64)

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

    def factors(self):
        """``(L, D, perm)`` of the current factor: ``M[perm][:, perm] = (I + L) diag(D)
        (I + L)^T`` for ``M = scale * A + diag(shift)``, ``L`` strictly lower (CSC)."""
        L, D, perm = self._solver.factors()
        L = sp.csc_matrix(L)
        if not L.has_sorted_indices:
            L.sort_indices()
        return L, D, np.asarray(perm, dtype=np.int64)

    def logdet(self):
        """``log|scale * A + diag(shift)|`` of the current factor."""
        return float(np.log(self._D).sum())

    def solve(self, b):
        """``(scale * A + diag(shift))^-1 b`` for a vector ``b``."""
        return self._solver.solve(np.ascontiguousarray(b, dtype=np.float64))

    def inverse_diagonal(self):
        """``diag((scale * A + diag(shift))^-1)`` by selected inversion (module docstring)."""
        # numba takes 0.3-0.5 s to import: loaded with the first selected inversion, not
        # with deepwas (the kernels are compiled once and cached on disk by numba)
        from ._selinv import selinv_diag, supernodes

        L, D, perm = self.factors()
        # the pattern comes with the factor read out (int32 already: no copy), and its
        # supernodes take under 1 ms against ~60 ms for the inversion (5,354-index block):
        # neither is kept between calls (class docstring)
        Lp, Li = L.indptr.astype(np.int32, copy=False), L.indices.astype(np.int32, copy=False)
        zd = selinv_diag(self.n, Lp, Li, L.data, D, supernodes(self.n, Lp, Li))
        out = np.empty(self.n)
        out[perm] = zd         # row i of the permuted matrix is row perm[i] of A
        return out

"""Sparse LDL^T of symmetric positive definite matrices that share one pattern, with the
log-determinant, solves and the diagonal of the inverse (selected inversion).

Used for LD given as a sparse precision matrix P (LDGMs): the likelihood needs, for
``T = s P + diag(f)`` (the pattern of P, only the diagonal changing with the prior), ``log|T|``,
one solve and ``diag(T^-1)`` (its gradient). A dense inverse would cost O(n^3) per block and
step; here the cost follows the fill of the factor.

Libraries, chosen by measurement on the shipped 1000 Genomes EUR LDGM block (5,354 indices,
94,556 entries of P; 2-core machine):

* ordering: AMD, from QDLDL (``qdldl`` on the package index, a C library with wheels). It
  gives 482,042 entries in L (RCM: bandwidth 2,955; natural order: a profile of 1.0 M).
  scikit-sparse (CHOLMOD) has no wheel on the index (it needs SuiteSparse from the system), so
  it cannot be a requirement; SuperLU (scipy) factorises but gives neither a symmetric factor
  for the selected inversion nor an ordering that keeps it small.
* numeric factorisation: the up-looking ``LDL^T`` that QDLDL implements, compiled with numba
  (:mod:`deepwas.solvers._ldl`) so that only the symbolic analysis is kept between
  evaluations: 0.048 s a factorisation against QDLDL's 0.030 s (``update``; CPU time of one
  thread), but 0.75 MB held a block instead of QDLDL's 9.3 MB (its factor cannot be dropped
  and remade without redoing the ordering, 0.17-0.28 s).
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
block above (CPU time of one thread): 0.24 s by columns, 0.03-0.04 s by supernodes (3,213 of
them), less than the numeric factorisation (0.048 s).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["LDLTFactor", "SparseLDLT"]


class SparseLDLT:
    """Symbolic ``LDL^T`` of one symmetric sparse ``A``, for ``scale * A + diag(shift)``.

    The ordering (AMD, from QDLDL) and the symbolic analysis (elimination tree, entries of
    each column of ``L``) are done once, at construction; :meth:`factor` is numeric only and
    returns a :class:`LDLTFactor` that the caller drops when done. Memory between calls: the
    permuted upper triangle of ``A`` (12 bytes an entry) and four integer arrays of length
    ``n`` (ordering, tree, column pointers of ``A`` and ``L``) -- 0.75 MB for the 5,354-index
    LDGM block, against 9.3 MB when QDLDL's factor was kept (a genome
    holds one of these per LD block).

    Parameters
    ----------
    A : scipy.sparse matrix, shape (n, n)
        Symmetric, with every diagonal entry stored (non-zero).
    """

    def __init__(self, A):
        from ._ldl import etree_counts

        A = sp.csc_matrix(A, dtype=np.float64)
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be square, got {A.shape}")
        n = self.n = A.shape[0]
        rows = A.indices
        cols = np.repeat(np.arange(n), np.diff(A.indptr))
        if np.count_nonzero((rows == cols) & (A.data != 0)) != n:
            raise ValueError("A must store every diagonal entry")
        self.perm = _amd_order(A)
        U = sp.triu(A[self.perm][:, self.perm], format="csc")
        U.sort_indices()            # rows ascending: the diagonal is last in each column
        self._Ap = U.indptr.astype(np.int64)
        self._Ai = U.indices.astype(np.int32)
        self._base = U.data
        self._parent, counts = etree_counts(n, self._Ap, self._Ai)
        self._Lp = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    @property
    def nnz_L(self):
        """Entries of ``L`` below the diagonal."""
        return int(self._Lp[-1])

    @property
    def nbytes(self):
        """Bytes held between calls (class docstring)."""
        return int(self._Ap.nbytes + self._Ai.nbytes + self._base.nbytes + self.perm.nbytes
                   + self._parent.nbytes + self._Lp.nbytes)

    def factor(self, scale=1.0, shift=None):
        """Factorise ``scale * A + diag(shift)`` (``shift``: (n,) or None).

        Returns
        -------
        LDLTFactor

        Raises
        ------
        FloatingPointError
            When the matrix is not positive definite.
        """
        from ._ldl import ldl_numeric

        if shift is None:
            shift = np.zeros(self.n)
        else:
            shift = np.asarray(shift, dtype=np.float64)
            if shift.shape != (self.n,):
                raise ValueError(f"shift must have shape ({self.n},), got {shift.shape}")
            shift = shift[self.perm]
        Li, Lx, D, bad = ldl_numeric(self.n, self._Ap, self._Ai, self._base, float(scale),
                                     shift, self._parent, self._Lp)
        if bad >= 0:
            raise FloatingPointError(
                "sparse LDL^T: the matrix is not positive definite (pivot "
                f"{float(D[bad]):.3g} at its column {int(self.perm[bad])}); the precision "
                "matrix or the prior variances hold invalid values")
        return LDLTFactor(self._Lp, Li, Lx, D, self.perm)


def _amd_order(A):
    """AMD ordering of ``A``'s pattern (QDLDL's; it orders as it factorises, so it is given
    a diagonally dominant matrix of the same pattern, which always factorises)."""
    import qdldl

    U = sp.triu(A, format="csc")
    U.data[:] = 1.0
    U.setdiag(float(A.shape[0] + 1))    # every diagonal entry is stored: no new entries
    perm = np.asarray(qdldl.Solver(U, upper=True).factors()[2], dtype=np.int64)
    return perm


class LDLTFactor:
    """A numeric factor ``M[perm][:, perm] = (I + L) diag(D) (I + L)^T`` of
    ``M = scale * A + diag(shift)`` (:meth:`SparseLDLT.factor`)."""

    def __init__(self, Lp, Li, Lx, D, perm):
        self.n = len(D)
        self._Lp, self._Li, self._Lx, self.D, self.perm = Lp, Li, Lx, D, perm

    def factors(self):
        """``(L, D, perm)``, ``L`` strictly lower (CSC, sorted rows)."""
        L = sp.csc_matrix((self._Lx, self._Li, self._Lp), shape=(self.n, self.n))
        return L, self.D, self.perm

    def logdet(self):
        """``log|M|``."""
        return float(np.log(self.D).sum())

    def solve(self, b):
        """``M^-1 b`` for a vector ``b``."""
        from ._ldl import ldl_solve

        x = np.asarray(b, dtype=np.float64)[self.perm]      # a copy, solved in place
        x = ldl_solve(self.n, self._Lp, self._Li, self._Lx, self.D, x)
        out = np.empty(self.n)
        out[self.perm] = x
        return out

    def inverse_diagonal(self):
        """``diag(M^-1)`` by selected inversion (module docstring)."""
        from ._selinv import selinv_diag, supernodes

        Lp, Li = self._Lp, self._Li
        zd = selinv_diag(self.n, Lp, Li, self._Lx, self.D, supernodes(self.n, Lp, Li))
        out = np.empty(self.n)
        out[self.perm] = zd         # row i of the permuted matrix is row perm[i] of A
        return out

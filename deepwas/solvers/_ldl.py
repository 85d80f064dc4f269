"""numba kernels of the sparse ``LDL^T`` (:mod:`deepwas.solvers.sparse_ldlt`).

The up-looking factorisation of Davis's LDL (the algorithm QDLDL implements): the symbolic
pass gives the elimination tree and the entries of each column of ``L``; each numeric pass
then computes row ``k`` of ``L`` by a sparse triangular solve whose pattern is the path of
``A``'s column ``k`` up the tree. Our own kernels rather than QDLDL's because QDLDL keeps its
factor (16 bytes an entry of ``L``) between calls and cannot refactorise without redoing the
ordering: a genome holds one symbolic analysis per LD block, and only the ordering, the tree
and the column counts are worth keeping (a few integer arrays of length ``n``, against
``L``'s ~90 entries a row on an LDGM block).

Input: the upper triangle of the permuted matrix in CSC (column ``k`` holds rows ``<= k``,
sorted, the diagonal last), its values ``scale * base + shift`` on the diagonal. Output: ``L``
strictly lower in CSC with sorted rows (``Lp``, ``Li``, ``Lx``) and ``D``.

Module-level functions so that numba can cache their machine code on disk (``cache=True``).
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["etree_counts", "ldl_numeric", "ldl_solve"]


@numba.njit(cache=True, nogil=True)
def etree_counts(n, Ap, Ai):
    """Elimination tree (``parent``, -1 at the roots) and the entries of each column of
    ``L`` (``counts``), from the upper triangle (``Ap, Ai``: rows ``<= j`` in column ``j``)."""
    parent = np.full(n, -1, dtype=np.int32)
    counts = np.zeros(n, dtype=np.int64)
    mark = np.full(n, -1, dtype=np.int32)
    for j in range(n):
        mark[j] = j
        for p in range(Ap[j], Ap[j + 1]):
            i = Ai[p]
            # climb from row i towards j, counting column entries of L on the way
            while mark[i] != j:
                if parent[i] == -1:
                    parent[i] = j
                counts[i] += 1
                mark[i] = j
                i = parent[i]
    return parent, counts


@numba.njit(cache=True, nogil=True)
def ldl_numeric(n, Ap, Ai, base, scale, shift, parent, Lp):
    """``LDL^T`` of ``scale * A + diag(shift)`` (``A``'s upper triangle ``Ap, Ai, base``).

    Returns ``(Li, Lx, D, k)``: ``k = -1`` on success, else the first column whose pivot is
    not positive (the factor is then incomplete)."""
    nnz = Lp[n]
    Li = np.empty(nnz, dtype=np.int32)
    Lx = np.empty(nnz)
    D = np.empty(n)
    filled = np.zeros(n, dtype=np.int64)       # entries of each column of L so far
    y = np.zeros(n)
    flag = np.full(n, -1, dtype=np.int32)
    pattern = np.empty(n, dtype=np.int32)
    for k in range(n):
        top = n
        flag[k] = k
        for p in range(Ap[k], Ap[k + 1]):
            i = Ai[p]
            y[i] += scale * base[p]
            # the path from i up the tree to the first node already reached for row k
            length = 0
            while flag[i] != k:
                pattern[length] = i
                length += 1
                flag[i] = k
                i = parent[i]
            while length > 0:
                top -= 1
                length -= 1
                pattern[top] = pattern[length]
        d = y[k] + shift[k]
        y[k] = 0.0
        # row k of L: solve along the pattern in topological order
        while top < n:
            i = pattern[top]
            top += 1
            yi = y[i]
            y[i] = 0.0
            p0 = Lp[i]
            p1 = p0 + filled[i]
            for p in range(p0, p1):
                y[Li[p]] -= Lx[p] * yi
            lki = yi / D[i]
            d -= lki * yi
            Li[p1] = k
            Lx[p1] = lki
            filled[i] += 1
        D[k] = d
        if not d > 0.0:
            return Li, Lx, D, k
    return Li, Lx, D, -1


@numba.njit(cache=True, nogil=True)
def ldl_solve(n, Lp, Li, Lx, D, b):
    """``(I + L) D (I + L)^T x = b`` in place on ``b`` (float64, length ``n``)."""
    for j in range(n):
        bj = b[j]
        for p in range(Lp[j], Lp[j + 1]):
            b[Li[p]] -= Lx[p] * bj
    for j in range(n):
        b[j] /= D[j]
    for j in range(n - 1, -1, -1):
        acc = b[j]
        for p in range(Lp[j], Lp[j + 1]):
            acc -= Lx[p] * b[Li[p]]
        b[j] = acc
    return b

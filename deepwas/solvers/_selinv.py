"""numba kernels of the selected inversion (:mod:`deepwas.solvers.sparse_ldlt`).

Module-level functions so that numba can cache their machine code on disk (``cache=True``
does not work for functions made inside another function): compiled once per machine
(~15 s), loaded in well under a second afterwards.
"""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["supernodes", "selinv_diag"]


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

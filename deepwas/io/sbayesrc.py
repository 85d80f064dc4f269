"""SBayesRC / GCTB eigen-decomposed LD blocks as an LD source that hands its eigenbasis straight
to the window precompute.

Format (a folder, as GCTB's ``--make-ldm-eigen`` writes it and SBayesRC reads it; the published
UK Biobank EUR reference has 591 blocks over ~7.3 M SNPs, GRCh37):

* ``ldm.info``: whitespace table, one row per block, ``Block Chrom StartSnpIdx StartSnpID
  EndSnpIdx EndSnpID NumSnps`` (0-based rows of ``snp.info``, inclusive); the older
  ``block chr idxBlockStart idxBlockEnd idxStarts idxEnds preBlock postBlock`` layout
  (1-based) is read too;
* ``snp.info``: ``Chrom ID Index GenPos PhysPos A1 A2 A1Freq N Block``; genotypes count
  ``A1`` (the LD's and ``A1Freq``'s allele), ``N`` is the LD panel size;
* ``block{k}.eigen.bin`` for each ``Block`` k: little-endian ``int32 m`` (SNPs), ``int32 k``
  (eigenpairs kept), ``float32`` sum of the block's positive eigenvalues, ``float32`` the
  share of it the kept pairs explain (the threshold), ``float32 lambda[k]``, then
  ``float32 U[m * k]`` column-major (eigenvector by eigenvector).

LD. Within a block ``R = U diag(lambda) U^T`` with the stored (truncated) pairs; blocks are
independent (0 between blocks). Each block is one window, (i) = (i)+ = the block
(:meth:`SBayesRCLD.natural_windows`).

Eigenbasis. For a window that is a whole block, :meth:`SBayesRCLD.eigenbasis` returns the stored
pairs (those above ``eig_rtol`` of the largest) and ``G = U lambda^{1/2}``: no eigendecomposition.
When the statistics cover only part of a block (s of its m SNPs, the set S), ``R_SS = B B^T``
with ``B = U_S lambda^{1/2}`` (s x k), whose thin SVD ``B = V Sigma W^T`` gives the exact
eigenpairs ``(V, Sigma^2)`` of ``R_SS`` and ``G = B W`` at O(s k^2) instead of the O(s^3) dense
eigendecomposition. :func:`write_sbayesrc_ld` writes the format from any LD source.
"""
from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict

import numpy as np
import pandas as pd

from ..ld import LDSource, _file_digest, _hash_arrays
from ..utils.chrom import normalise_chrom

__all__ = ["SBayesRCLD", "write_sbayesrc_ld", "read_eigen_block"]

log = logging.getLogger(__name__)

_HEAD = np.dtype([("m", "<i4"), ("k", "<i4"), ("sum", "<f4"), ("thresh", "<f4")])
_SNP_COLUMNS = ["Chrom", "ID", "Index", "GenPos", "PhysPos", "A1", "A2", "A1Freq", "N", "Block"]


def read_eigen_block(path, var_prop=None):
    """One ``block{k}.eigen.bin``: ``(U, lam, sum_positive, threshold)``, pairs sorted by
    decreasing eigenvalue (files written in increasing order are reordered).

    Parameters
    ----------
    path : str
    var_prop : float, optional
        Keep the fewest leading pairs explaining this share of the block's positive
        eigenvalues (SBayesRC's cut); at most the file's own threshold.

    Returns
    -------
    U : ndarray, float32, shape (m, k)
    lam : ndarray, float32, shape (k,)
    sum_positive, threshold : float
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = np.fromfile(fh, dtype=_HEAD, count=1)
        if len(head) != 1:
            raise ValueError(f"{path}: truncated SBayesRC eigen file (no 16-byte header)")
        m, k = int(head["m"][0]), int(head["k"][0])
        total, thresh = float(head["sum"][0]), float(head["thresh"][0])
        if m <= 0 or k <= 0 or k > m:
            raise ValueError(f"{path}: not an SBayesRC eigen file (m = {m}, k = {k})")
        expect = 16 + 4 * k + 4 * m * k
        if size != expect:
            raise ValueError(f"{path}: {size} bytes, but m = {m} SNPs and k = {k} eigenpairs "
                             f"make {expect}; the file is truncated or not this format")
        lam = np.fromfile(fh, dtype="<f4", count=k)
        U = np.fromfile(fh, dtype="<f4", count=m * k).reshape(k, m).T   # column-major
    order = np.argsort(-lam, kind="stable")
    lam, U = lam[order], U[:, order]
    if var_prop is not None:
        if var_prop > thresh + 1e-6:
            raise ValueError(f"{path}: the file keeps eigenpairs explaining {thresh:g} of the "
                             f"variance; var_prop={var_prop:g} asks for more")
        cum = np.cumsum(lam, dtype=np.float64)
        keep = int(min(np.searchsorted(cum, var_prop * total) + 1, k))
        lam, U = lam[:keep], U[:, :keep]
    return np.ascontiguousarray(U), lam, total, thresh


def _read_ldm_info(path):
    tab = pd.read_csv(path, sep=r"\s+", dtype=str)
    cols = list(tab.columns)
    if cols[:7] == ["Block", "Chrom", "StartSnpIdx", "StartSnpID", "EndSnpIdx", "EndSnpID",
                    "NumSnps"]:
        out = pd.DataFrame({"block": tab["Block"], "chrom": normalise_chrom(tab["Chrom"]),
                            "start": tab["StartSnpIdx"].astype(np.int64),
                            "end": tab["EndSnpIdx"].astype(np.int64),
                            "m": tab["NumSnps"].astype(np.int64)})
    elif cols[:4] == ["block", "chr", "idxBlockStart", "idxBlockEnd"]:
        s = tab["idxBlockStart"].astype(np.int64) - 1
        e = tab["idxBlockEnd"].astype(np.int64) - 1
        out = pd.DataFrame({"block": tab["block"], "chrom": normalise_chrom(tab["chr"]),
                            "start": s, "end": e, "m": e - s + 1})
    else:
        raise ValueError(f"{path}: not an SBayesRC ldm.info (header {' '.join(cols)}; expected "
                         "Block Chrom StartSnpIdx StartSnpID EndSnpIdx EndSnpID NumSnps)")
    bad = out["m"] != out["end"] - out["start"] + 1
    if bad.any():
        raise ValueError(f"{path}: NumSnps disagrees with StartSnpIdx..EndSnpIdx for block "
                         f"{out['block'][bad].iat[0]}")
    return out


class SBayesRCLD(LDSource):
    """LD source over an SBayesRC eigen-LD folder (module docstring).

    Parameters
    ----------
    folder : str
        Holds ``ldm.info``, ``snp.info`` and ``block{k}.eigen.bin``.
    var_prop : float, optional
        Use the fewest leading eigenpairs of each block explaining this share of its
        positive eigenvalues (SBayesRC's ``thresh``, e.g. 0.995); default: every stored pair.
    genome_build : str, optional
        Build of ``snp.info``'s positions (the published UK Biobank reference is GRCh37).
    cache_blocks : int
        Blocks kept in memory.
    """

    _TRANSIENT = ("_cache",)

    def __init__(self, folder, var_prop=None, genome_build=None, cache_blocks=8):
        self.folder = os.fspath(folder)
        for f in ("ldm.info", "snp.info"):
            if not os.path.exists(os.path.join(self.folder, f)):
                raise FileNotFoundError(f"SBayesRC LD folder {self.folder} has no {f}")
        self.var_prop = None if var_prop is None else float(var_prop)
        self.genome_build = genome_build
        self.cache_blocks = int(cache_blocks)
        self._cache = OrderedDict()
        self._digests = {}
        self.info = _read_ldm_info(os.path.join(self.folder, "ldm.info"))
        snp = pd.read_csv(os.path.join(self.folder, "snp.info"), sep=r"\s+", dtype=str)
        miss = [c for c in ("Chrom", "ID", "PhysPos", "A1", "A2") if c not in snp.columns]
        if miss:
            raise ValueError(f"{self.folder}/snp.info: no column(s) {miss}; expected "
                             f"{' '.join(_SNP_COLUMNS)}")
        M = len(snp)
        if self.info["end"].max() >= M or self.info["start"].min() < 0:
            raise ValueError(f"{self.folder}: ldm.info refers to SNP rows up to "
                             f"{self.info['end'].max()} but snp.info has {M}")
        block_of = np.full(M, -1, dtype=np.int64)
        for b, (s, e) in enumerate(zip(self.info["start"], self.info["end"])):
            if np.any(block_of[s:e + 1] >= 0):
                raise ValueError(f"{self.folder}/ldm.info: blocks overlap at SNP row {s}")
            block_of[s:e + 1] = b
        self.variants = pd.DataFrame({
            "chrom": normalise_chrom(snp["Chrom"]),
            "pos": pd.to_numeric(snp["PhysPos"]).to_numpy(dtype=np.int64),
            "snp": snp["ID"].to_numpy(dtype=object),
            "a1": snp["A1"].str.upper().to_numpy(dtype=object),
            "a2": snp["A2"].str.upper().to_numpy(dtype=object),
            "freq": pd.to_numeric(snp.get("A1Freq"), errors="coerce").to_numpy()
            if "A1Freq" in snp else np.full(M, np.nan),
            "block": block_of,
        })
        n = pd.to_numeric(snp["N"], errors="coerce") if "N" in snp else None
        self._panel = int(np.nanmedian(n)) if n is not None and n.notna().any() else None
        self._block_of = block_of
        self._start = self.info["start"].to_numpy()
        for b in range(len(self.info)):
            p = self._path(b)
            if not os.path.exists(p):
                raise FileNotFoundError(f"SBayesRC LD block file missing: {p}")

    @property
    def panel_size(self):
        """People in the LD panel (snp.info's N), when given."""
        return self._panel

    def _path(self, b):
        return os.path.join(self.folder, f"block{self.info['block'].iat[b]}.eigen.bin")

    def eigen(self, b):
        """Stored eigenpairs ``(U, lam)`` of block ``b`` (float32, decreasing)."""
        hit = self._cache.get(b)
        if hit is not None:
            self._cache.move_to_end(b)
            return hit
        U, lam, _, _ = read_eigen_block(self._path(b), self.var_prop)
        m = int(self.info["m"].iat[b])
        if U.shape[0] != m:
            raise ValueError(f"{self._path(b)} holds {U.shape[0]} SNPs but ldm.info gives "
                             f"block {self.info['block'].iat[b]} {m}")
        self._cache[b] = (U, lam)
        while len(self._cache) > self.cache_blocks:
            self._cache.popitem(last=False)
        return U, lam

    def block(self, rows, cols):
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        out = np.zeros((len(rows), len(cols)))
        rb, cb = self._block_of[rows], self._block_of[cols]
        for b in np.intersect1d(rb, cb):
            if b < 0:
                continue
            ri, ci = np.flatnonzero(rb == b), np.flatnonzero(cb == b)
            U, lam = self.eigen(int(b))
            Ur = U[rows[ri] - self._start[b]].astype(np.float64)
            Uc = U[cols[ci] - self._start[b]].astype(np.float64)
            out[np.ix_(ri, ci)] = (Ur * lam.astype(np.float64)) @ Uc.T
        return out

    def eigenbasis(self, core, ext, eig_rtol):
        """The stored eigenbasis of a block (module docstring); the dense default for windows
        that span several blocks."""
        core = np.asarray(core, dtype=np.int64)
        ext = np.asarray(ext, dtype=np.int64)
        blocks = np.unique(self._block_of[np.r_[core, ext]])
        if len(blocks) != 1 or blocks[0] < 0:
            return super().eigenbasis(core, ext, eig_rtol)
        b = int(blocks[0])
        U, lam = self.eigen(b)
        lam = lam.astype(np.float64)
        pos = lam > 0
        lc = core - self._start[b]
        m = U.shape[0]
        if np.array_equal(core, ext) and len(lc) == m and np.array_equal(lc, np.arange(m)):
            keep = pos & (lam > eig_rtol * lam.max(initial=0.0))
            U_r = U[:, keep].astype(np.float64)
            lam_r = lam[keep]
            return U_r, lam_r, U_r * np.sqrt(lam_r)
        B = U[lc][:, pos].astype(np.float64) * np.sqrt(lam[pos])
        V, S, Wt = np.linalg.svd(B, full_matrices=False)
        lam_s = S * S
        keep = lam_s > eig_rtol * lam_s.max(initial=0.0)
        if not np.any(keep):
            raise ValueError("the LD of this window's core variants has no positive eigenvalue")
        W = Wt[keep].T
        BE = B if np.array_equal(core, ext) else \
            U[ext - self._start[b]][:, pos].astype(np.float64) * np.sqrt(lam[pos])
        return V[:, keep], lam_s[keep], BE @ W

    def natural_windows(self):
        """One window per block, (i) = (i)+ = its SNPs."""
        out = []
        for s, e in zip(self.info["start"], self.info["end"]):
            idx = np.arange(s, e + 1, dtype=np.int64)
            out.append((idx, idx))
        return out

    def window_key(self, core, ext):
        core = np.asarray(core, dtype=np.int64)
        ext = np.asarray(ext, dtype=np.int64)
        blocks = np.unique(self._block_of[np.union1d(core, ext)])
        parts = []
        for b in blocks:
            if b not in self._digests:
                self._digests[b] = _file_digest(self._path(int(b)))
            parts.append(self._digests[b])
        tag = "|".join(parts) + f"|sbayesrc|{self.var_prop!r}"
        return _hash_arrays(np.frombuffer(hashlib.sha256(tag.encode()).digest(), np.uint8),
                            core, ext)


def write_sbayesrc_ld(source, blocks, folder, var_prop=0.995, n_ref=None, block_ids=None,
                      ascending=False):
    """Write LD blocks of any LD source in SBayesRC's eigen format (module docstring).

    Parameters
    ----------
    source : LDSource
        Provides ``variants`` (chrom pos snp a1 a2, optional freq) and the LD blocks.
    blocks : sequence of int arrays
        Rows of ``source.variants`` of each block, in order (contiguous, disjoint).
    folder : str
        Created if needed.
    var_prop : float
        Keep the fewest leading eigenpairs explaining this share of the positive eigenvalues
        (GCTB's default 0.995); eigenvalues at or below 1e-10 count as zero.
    n_ref : int, optional
        LD panel size for snp.info's N (default: ``source.panel_size``).
    block_ids : sequence of int, optional
        Block numbers (default 1, 2, ...).
    ascending : bool
        Write pairs in increasing eigenvalue order (as some GCTB versions do) instead of
        decreasing; readers must accept both.

    Returns
    -------
    list of int
        Eigenpairs kept per block.
    """
    os.makedirs(folder, exist_ok=True)
    v = source.variants
    n_ref = n_ref if n_ref is not None else (source.panel_size or 0)
    block_ids = list(block_ids) if block_ids is not None else list(range(1, len(blocks) + 1))
    snp_rows, info_rows, kept = [], [], []
    start = 0
    for bid, idx in zip(block_ids, blocks):
        idx = np.asarray(idx, dtype=np.int64)
        R = source.block(idx, idx)
        lam, U = np.linalg.eigh(R)
        lam, U = lam[::-1], U[:, ::-1]
        pos = lam > 1e-10
        total = float(lam[pos].sum())
        cum = np.cumsum(lam[pos])
        k = int(min(np.searchsorted(cum, var_prop * total) + 1, pos.sum()))
        lam_k, U_k = lam[:k], U[:, :k]
        if ascending:
            lam_k, U_k = lam_k[::-1], U_k[:, ::-1]
        with open(os.path.join(folder, f"block{bid}.eigen.bin"), "wb") as fh:
            np.array([(len(idx), k, total, var_prop)], dtype=_HEAD).tofile(fh)
            lam_k.astype("<f4").tofile(fh)
            np.asfortranarray(U_k.astype("<f4")).T.tofile(fh)     # column-major
        kept.append(k)
        sub = v.iloc[idx]
        freq = sub["freq"].to_numpy() if "freq" in sub else np.full(len(idx), np.nan)
        if hasattr(source, "mean") and np.all(np.isnan(freq)):
            freq = source.mean[idx] / 2.0
        snp_rows.append(pd.DataFrame({
            "Chrom": sub["chrom"].to_numpy(), "ID": sub["snp"].to_numpy(),
            "Index": np.arange(start, start + len(idx)), "GenPos": 0,
            "PhysPos": sub["pos"].to_numpy(), "A1": sub["a1"].to_numpy(),
            "A2": sub["a2"].to_numpy(), "A1Freq": np.round(freq, 6), "N": n_ref,
            "Block": bid}))
        info_rows.append({"Block": bid, "Chrom": sub["chrom"].iat[0], "StartSnpIdx": start,
                          "StartSnpID": sub["snp"].iat[0], "EndSnpIdx": start + len(idx) - 1,
                          "EndSnpID": sub["snp"].iat[-1], "NumSnps": len(idx)})
        start += len(idx)
    pd.concat(snp_rows).to_csv(os.path.join(folder, "snp.info"), sep=" ", index=False)
    pd.DataFrame(info_rows).to_csv(os.path.join(folder, "ldm.info"), sep=" ", index=False)
    return kept

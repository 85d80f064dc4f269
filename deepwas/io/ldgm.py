"""LD graphical models (LDGMs; Nowbandegani et al. 2023) as an LD source, read the way graphld
(oclb/graphld, graphREML) reads them.

Format, per LD block and population:

* ``{name}.{POP}.edgelist`` -- the sparse precision matrix P: comma-separated ``i,j,value``
  lines without a header, 0-based indices, one triangle (P is symmetric);
* ``{name}.snplist`` -- ``index,anc_alleles,deriv_alleles,<populations...>,site_ids,position,
  swap``: every variant of the block and the row of P it belongs to (``index``). Several
  variants can share an index (variants in near-perfect LD in the reference are one node of
  the graph). The population columns are derived-allele frequencies;
* ``metadata.csv`` -- one row per block and population: ``chrom, chromStart, chromEnd, name``
  (the edgelist file), ``snplistName, population, numVariants, numIndices, numEntries``.

The public 1000 Genomes LDGMs cover five ancestries (AFR, AMR, EAS, EUR, SAS), GRCh38
coordinates, 1,361 blocks per population.

LD. Indices whose diagonal entry of P is zero carry no variant of the model and are dropped (as
graphld does), and R = P^-1 on the rest. The LD of a set of indices W is the block
``(P^-1)[W, W]`` (the marginal covariance, graphld's Schur complement), computed from a sparse LU
factorisation of P (SuperLU with a symmetric ordering; one factorisation per block, cached) by
solving ``P X = E_W`` for the columns W only: never a dense inverse of P. Its diagonal is close
to 1, not exactly 1, and is used as it is (no rescaling to a unit diagonal).

Alleles. LDGM precision matrices describe derived-allele dosages: variants are ``a1 = deriv``
(the allele the LD and the frequencies count), ``a2 = anc``, so a summary statistic is aligned
to the derived allele, as graphREML does (its ``merge_alleles``: statistics' ALT = derived
gives +1, swapped gives -1). The snplist's ``swap`` column (``+``/``-``; whether the ancestral
allele is the reference genome's allele) is kept as a column; alignment goes by the alleles
themselves, so it is not needed.

Several variants per index. :attr:`LDGMSource.variants` has one row per snplist variant with
``ld_index`` naming its row of R; :func:`deepwas.io.harmonise.harmonise` keeps the first
matched variant of each index in genome order (graphREML's representative) and counts the
others as ``merged_same_ld_index``.

Windows. LDGM blocks are independent by construction, so each block is one window, core (i) =
extended (i)+ = the block's indices with statistics (:meth:`LDGMSource.natural_windows`),
exactly graphREML's likelihood; ``block_windows=False`` tiles 1 Mb windows instead.
"""
from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict

import numpy as np
import pandas as pd

from ..ld import LDSource, _file_digest, _hash_arrays
from ..utils.chrom import chrom_sort_key
from .ldgm_files import _blocks_from, _read_block, read_ldgm_metadata

__all__ = ["LDGMSource", "read_ldgm_metadata", "POPULATIONS"]

log = logging.getLogger(__name__)

#: ancestries of the public 1000 Genomes LDGMs
POPULATIONS = ("AFR", "AMR", "EAS", "EUR", "SAS")


class LDGMSource(LDSource):
    """LD from LD graphical models (module docstring).

    Parameters
    ----------
    paths : str, path or sequence
        An LDGM ``metadata.csv``; a folder holding one (else its ``*.{population}.edgelist``
        files); or edgelist paths, each with its snplist beside it (graphld's naming:
        ``1kg_chr1_2888443_4320284.EUR.edgelist`` -> ``1kg_chr1_2888443_4320284.snplist``).
    population : str, default "EUR"
        Which precision matrices (and which snplist frequency column) to read: the
        statistics' own ancestry. An edgelist named for another population
        (``*.EUR.edgelist`` with ``population="AFR"``) is an error.
    chromosomes : sequence, optional
        Read only these chromosomes' blocks.
    block_windows : bool, default True
        One window per LDGM block (core = extended = the block), exact since the blocks are
        independent. False: tile ``window_bp`` windows as for other sources.
    genome_build : str, default "GRCh38"
        Coordinates of the snplists (the public 1000 Genomes LDGMs are GRCh38).
    cache_blocks : int
        Blocks whose precision matrix (and its factorisation) are kept in memory; others
        are read again from their files when needed.

    Attributes
    ----------
    variants : DataFrame
        One row per snplist variant whose index has a non-zero diagonal: ``chrom, pos, snp``
        (``site_ids``; ``chrom:pos:anc:deriv`` where it is missing), ``a1`` (derived),
        ``a2`` (ancestral), ``freq`` (derived-allele frequency in ``population``),
        ``ld_index`` (row of R, unique across blocks), ``block``, ``index`` (the snplist's),
        ``swap``.
    blocks : DataFrame
        The blocks read (chromosome, range, files, indices, variants).
    population_freqs : DataFrame
        Derived-allele frequency of every population column of the snplists (float16), row
        by row with ``variants``: statistics whose frequencies fit another population far
        better than ``population`` are refused
        (:func:`deepwas.io.frequencies.check_population_frequencies`).
    """

    _TRANSIENT = ("_lu", "_P")

    def __init__(self, paths, population="EUR", chromosomes=None, block_windows=True,
                 genome_build="GRCh38", cache_blocks=4):
        self.population = str(population)
        self.genome_build = genome_build
        self.block_windows = bool(block_windows)
        self.cache_blocks = int(cache_blocks)
        blocks = _blocks_from(paths, self.population, chromosomes)
        if blocks.empty:
            raise ValueError("no LDGM block to read")
        self._P, self._lu, self._digest, tables = OrderedDict(), OrderedDict(), {}, []
        offset = 0
        n_idx = []
        for b, row in enumerate(blocks.itertuples(index=False)):
            t, P, n_kept = _read_block(b, row, offset, self.population)
            self._remember(b, P)
            tables.append(t)
            n_idx.append(n_kept)
            offset += n_kept
        blocks = blocks.assign(n_indices=n_idx, n_variants=[len(t) for t in tables])
        self.blocks = blocks
        v = pd.concat(tables, ignore_index=True)
        order = np.lexsort((v["pos"].to_numpy(), [chrom_sort_key(c)[1] for c in v["chrom"]],
                            [chrom_sort_key(c)[0] for c in v["chrom"]]))
        v = v.iloc[order].reset_index(drop=True)
        pops = [c for c in v.columns if c.startswith("freq_")]
        # float16 (3 significant digits, 2 bytes a population and variant: 180 MB for the
        # 18 M variants of the EUR LDGMs): enough for a check of the statistics' ancestry
        self.population_freqs = v[pops].rename(columns=lambda c: c[len("freq_"):])
        self.variants = v.drop(columns=pops)
        self._row = self.variants["ld_index"].to_numpy(dtype=np.int64)
        self._block_of_row = np.repeat(np.arange(len(blocks)), n_idx)
        self._start = np.r_[0, np.cumsum(n_idx)[:-1]]
        log.info("LDGM (%s): %d blocks, %d variants on %d indices", self.population,
                 len(blocks), len(self.variants), offset)

    # ------------------------------------------------------------------ linear algebra
    def _remember(self, b, P):
        self._P[b] = P
        while len(self._P) > self.cache_blocks:
            self._P.popitem(last=False)

    def precision(self, b):
        """The sparse precision matrix of block ``b`` on its kept indices (CSC).

        Only the ``cache_blocks`` most recently used are held; others are read again from
        their edgelist, so a genome of blocks does not stay in memory (1.1 MB a block of
        5,354 indices: 1.5 GB for an ancestry).
        """
        P = self._P.get(b)
        if P is None:
            row = next(self.blocks.iloc[[b]].itertuples(index=False))
            _, P, _ = _read_block(b, row, int(self._start[b]), self.population)
            self._remember(b, P)
        else:
            self._P.move_to_end(b)
        return P

    def _factor(self, b):
        lu = self._lu.get(b)
        if lu is None:
            from scipy.sparse.linalg import splu

            lu = splu(self.precision(b), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                      options={"SymmetricMode": True})
            self._lu[b] = lu
            while len(self._lu) > self.cache_blocks:
                self._lu.popitem(last=False)
        else:
            self._lu.move_to_end(b)
        return lu

    def _inverse_columns(self, b, local_cols, chunk=2048):
        """``(P_b^-1)[:, local_cols]`` by sparse solves, ``chunk`` columns at a time."""
        lu = self._factor(b)
        n = self.precision(b).shape[0]
        out = np.empty((n, len(local_cols)))
        for s in range(0, len(local_cols), chunk):
            c = local_cols[s:s + chunk]
            E = np.zeros((n, len(c)))
            E[c, np.arange(len(c))] = 1.0
            out[:, s:s + len(c)] = lu.solve(E)
        return out

    def _schur(self, b, W):
        """Dense ``S = P_WW - P_WV P_VV^-1 P_VW`` (V = the block's other indices), whose
        inverse is ``(P^-1)[W, W]``: graphld's Schur complement. The sparse solve has |V|
        right-hand sides, so this is the cheap way when W is most of the block."""
        P = self.precision(b)
        n = P.shape[0]
        inW = np.zeros(n, dtype=bool)
        inW[W] = True
        V = np.flatnonzero(~inW)
        S = P[W][:, W].toarray()
        if len(V):
            from scipy.sparse.linalg import splu

            P_VV = P[V][:, V].tocsc()
            P_VW = P[V][:, W].toarray()
            lu = splu(P_VV, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                      options={"SymmetricMode": True})
            S -= P[W][:, V] @ lu.solve(P_VW)
        return 0.5 * (S + S.T)

    def _marginal(self, b, W):
        """``(P_b^-1)[W, W]`` for distinct local indices W."""
        n = self.precision(b).shape[0]
        if 2 * len(W) <= n:
            X = self._inverse_columns(b, W)[W]
            return 0.5 * (X + X.T)
        from scipy.linalg import lapack

        S = self._schur(b, W)
        c, info = lapack.dpotrf(S, lower=1)
        if info == 0:
            inv, info = lapack.dpotri(c, lower=1)
        if info != 0:
            raise ValueError(f"LDGM block {self.blocks['edgelist'].iat[b]}: the precision "
                             "matrix is not positive definite on the requested indices")
        return np.tril(inv) + np.tril(inv, -1).T

    def block(self, rows, cols):
        """``R[rows][:, cols]``: ``(P^-1)`` entries within each LDGM block, 0 across blocks."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        out = np.zeros((len(rows), len(cols)))
        if len(rows) == 0 or len(cols) == 0:
            return out
        rr, cr = self._row[rows], self._row[cols]
        rb, cb = self._block_of_row[rr], self._block_of_row[cr]
        for b in np.intersect1d(rb, cb):
            ri, ci = np.flatnonzero(rb == b), np.flatnonzero(cb == b)
            lr, lc = rr[ri] - self._start[b], cr[ci] - self._start[b]
            W, inv = np.unique(np.r_[lr, lc], return_inverse=True)
            M = self._marginal(b, W)
            out[np.ix_(ri, ci)] = M[np.ix_(inv[:len(lr)], inv[len(lr):])]
        return out

    def _single_block(self, core, ext):
        """``(block, local rows)`` when a window is distinct indices of one block with
        core = extended; None otherwise."""
        core = np.asarray(core, dtype=np.int64)
        if not np.array_equal(core, np.asarray(ext, dtype=np.int64)) or len(core) == 0:
            return None
        rows = self._row[core]
        blocks = np.unique(self._block_of_row[rows])
        if len(blocks) != 1 or len(np.unique(rows)) != len(rows):
            return None
        b = int(blocks[0])
        return b, rows - self._start[b]

    def precision_rows(self, core, ext):
        """``(b, W)``: the window's block and its rows of :meth:`precision`, when the window
        is one block's distinct indices (core = extended, as :meth:`natural_windows` makes
        them); None otherwise. Reads no matrix."""
        return self._single_block(core, ext)

    def eigenbasis(self, core, ext, eig_rtol):
        """Eigenbasis of ``R_II`` for one window.

        When the window is one LDGM block's indices (core = extended, no index twice), the
        eigenpairs come from the Schur complement ``S`` of the precision (``R_II = S^-1``:
        same eigenvectors, eigenvalues ``1 / mu``), so ``R_II`` is never formed and
        ``G = U_r lam_r^{1/2}``. Otherwise the dense default.
        """
        from ..windows import eigenbasis_from_blocks

        one = self._single_block(core, ext)
        if one is not None:
            from scipy.linalg import eigh

            b, W = one
            mu, U = eigh(self._schur(b, W), driver="evr")
            lam = 1.0 / mu[::-1]
            U = U[:, ::-1]
            keep = (mu[::-1] > 0) & (lam > eig_rtol * lam.max(initial=0.0))
            U_r, lam_r = U[:, keep], lam[keep]
            return U_r, lam_r, U_r * np.sqrt(lam_r)
        R_II = self.block(core, core)
        R_EI = R_II if np.array_equal(core, ext) else self.block(ext, core)
        return eigenbasis_from_blocks(R_II, R_EI, eig_rtol)

    # ------------------------------------------------------------------ windows, keys
    def natural_windows(self):
        """One window per LDGM block (core = extended = its variants); None when tiling."""
        if not self.block_windows:
            return None
        b = self.variants["block"].to_numpy()
        out = []
        for k in range(len(self.blocks)):
            idx = np.flatnonzero(b == k)
            if len(idx):
                out.append((idx, idx))
        return out

    def _block_digest(self, b):
        if b not in self._digest:
            row = self.blocks.iloc[b]
            self._digest[b] = _file_digest(row["edgelist"]) + _file_digest(row["snplist"])
        return self._digest[b]

    def window_key(self, core, ext):
        core = np.asarray(core, dtype=np.int64)
        ext = np.asarray(ext, dtype=np.int64)
        blocks = np.unique(self._block_of_row[self._row[np.union1d(core, ext)]])
        tag = "|".join(self._block_digest(int(b)) for b in blocks) + "|ldgm|" + self.population
        return _hash_arrays(np.frombuffer(hashlib.sha256(tag.encode()).digest(), np.uint8),
                            self._row[core], self._row[ext])

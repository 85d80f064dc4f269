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

import glob
import hashlib
import logging
import os
import re
from collections import OrderedDict

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..ld import LDSource, _file_digest, _hash_arrays
from ..utils.chrom import chrom_sort_key, normalise_chrom

__all__ = ["LDGMSource", "read_ldgm_metadata", "POPULATIONS"]

log = logging.getLogger(__name__)

#: ancestries of the public 1000 Genomes LDGMs
POPULATIONS = ("AFR", "AMR", "EAS", "EUR", "SAS")
_SNPLIST_COLUMNS = ("index", "anc_alleles", "deriv_alleles", "site_ids", "position")


def read_ldgm_metadata(path, population="EUR", chromosomes=None):
    """Blocks of an LDGM ``metadata.csv`` for one population, with file paths made absolute.

    Returns
    -------
    pandas.DataFrame
        ``chrom, chromStart, chromEnd, edgelist, snplist`` (+ ``numVariants, numIndices,
        numEntries`` when listed), in genome order.
    """
    path = os.fspath(path)
    meta = pd.read_csv(path)
    need = {"name", "snplistName"}
    if not need <= set(meta.columns):
        raise ValueError(f"{path}: an LDGM metadata file needs the columns name and snplistName "
                         f"(graphld's layout); it has {list(meta.columns)}")
    if "population" in meta:
        pops = sorted(set(meta["population"].astype(str)))
        meta = meta[meta["population"].astype(str) == population]
        if meta.empty:
            raise ValueError(f"{path}: no block for population {population!r}; it lists "
                             f"{', '.join(pops)}")
    folder = os.path.dirname(os.path.abspath(path))
    out = pd.DataFrame({
        "chrom": normalise_chrom(meta["chrom"].astype(str)) if "chrom" in meta else
        [_chrom_from_name(n) for n in meta["name"]],
        "chromStart": meta.get("chromStart", pd.Series(np.nan, index=meta.index)).to_numpy(),
        "chromEnd": meta.get("chromEnd", pd.Series(np.nan, index=meta.index)).to_numpy(),
        "edgelist": [os.path.join(folder, n) for n in meta["name"]],
        "snplist": [os.path.join(folder, n) for n in meta["snplistName"]],
    })
    for c in ("numVariants", "numIndices", "numEntries"):
        if c in meta:
            out[c] = meta[c].to_numpy()
    if chromosomes is not None:
        keep = set(normalise_chrom(list(chromosomes)))
        out = out[out["chrom"].isin(keep)]
    order = sorted(range(len(out)), key=lambda k: (chrom_sort_key(out["chrom"].iat[k]),
                                                    out["chromStart"].iat[k]))
    return out.iloc[order].reset_index(drop=True)


def _chrom_from_name(name):
    m = re.search(r"chr([0-9XYMT]+)[_.]", os.path.basename(str(name)), flags=re.IGNORECASE)
    if not m:
        raise ValueError(f"cannot tell the chromosome of LDGM block {name!r}: name it "
                         "...chr<C>_<start>_<end>... or give a metadata.csv with a chrom column")
    return normalise_chrom(m.group(1))


def _snplist_for(edgelist, population):
    """graphld's rule: the snplist shares the edgelist's name up to the first dot."""
    stem = os.path.basename(edgelist).split(".")[0]
    cands = sorted(glob.glob(os.path.join(os.path.dirname(edgelist), stem + "*.snplist")))
    if not cands:
        raise FileNotFoundError(f"no snplist for {edgelist} (looked for {stem}*.snplist beside it)")
    return cands[0]


def _blocks_from(paths, population, chromosomes):
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if len(paths) == 1 and os.path.isdir(paths[0]):
        meta = os.path.join(paths[0], "metadata.csv")
        if os.path.exists(meta):
            return read_ldgm_metadata(meta, population, chromosomes)
        paths = sorted(glob.glob(os.path.join(paths[0], f"*.{population}.edgelist")))
        if not paths:
            raise FileNotFoundError(f"no metadata.csv and no *.{population}.edgelist in the "
                                    "LDGM folder")
    if len(paths) == 1 and paths[0].endswith(".csv"):
        return read_ldgm_metadata(paths[0], population, chromosomes)
    rows = []
    for p in paths:
        if not os.path.exists(p):
            raise FileNotFoundError(f"LDGM edgelist not found: {p}")
        m = re.search(r"chr[0-9XYMT]+_(\d+)_(\d+)", os.path.basename(p))
        rows.append({"chrom": _chrom_from_name(p),
                     "chromStart": int(m.group(1)) if m else np.nan,
                     "chromEnd": int(m.group(2)) if m else np.nan,
                     "edgelist": p, "snplist": _snplist_for(p, population)})
    out = pd.DataFrame(rows)
    if chromosomes is not None:
        out = out[out["chrom"].isin(set(normalise_chrom(list(chromosomes))))]
    order = sorted(range(len(out)), key=lambda k: (chrom_sort_key(out["chrom"].iat[k]),
                                                    out["chromStart"].iat[k]))
    return out.iloc[order].reset_index(drop=True)


def _read_precision(path, n_snplist_indices, snplist_path):
    """Symmetric sparse P from an edgelist, checked against its snplist."""
    try:
        e = pd.read_csv(path, header=None, names=["i", "j", "v"],
                        dtype={"i": np.int64, "j": np.int64, "v": np.float64})
    except (ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"{path}: not an LDGM edgelist (comma-separated i,j,value lines): "
                         f"{err}") from err
    if e.empty:
        raise ValueError(f"{path}: the edgelist is empty")
    if (e[["i", "j"]] < 0).any().any() or not np.all(np.isfinite(e["v"])):
        raise ValueError(f"{path}: negative indices or non-finite values")
    top = int(e[["i", "j"]].max().max())
    if top >= n_snplist_indices:
        raise ValueError(f"{path} does not match {snplist_path}: the edgelist refers to index "
                         f"{top} but the snplist lists indices 0..{n_snplist_indices - 1}")
    lo, hi = np.minimum(e["i"], e["j"]), np.maximum(e["i"], e["j"])
    key = lo * (top + 1) + hi
    if pd.Series(key).duplicated().any():
        raise ValueError(f"{path}: an entry is listed twice (both triangles, or repeated); an "
                         "LDGM edgelist holds one triangle")
    n = n_snplist_indices
    off = lo != hi
    rows = np.r_[lo, hi[off]]
    cols = np.r_[hi, lo[off]]
    vals = np.r_[e["v"].to_numpy(), e["v"].to_numpy()[off]]
    P = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    diag = P.diagonal()
    nz = diag != 0
    touched = np.zeros(n, dtype=bool)
    touched[rows[vals != 0]] = True
    if np.any(touched & ~nz):
        bad = np.flatnonzero(touched & ~nz)[:5].tolist()
        raise ValueError(f"{path}: indices {bad} have off-diagonal entries but a zero diagonal; "
                         "not a precision matrix")
    if np.any(diag[nz] < 0):
        raise ValueError(f"{path}: negative diagonal entries; not a precision matrix")
    return P, nz


class LDGMSource(LDSource):
    """LD from LD graphical models (module docstring).

    Parameters
    ----------
    paths : str, path or sequence
        An LDGM ``metadata.csv``; a folder holding one (else its ``*.{population}.edgelist``
        files); or edgelist paths, each with its snplist beside it (graphld's naming:
        ``1kg_chr1_2888443_4320284.EUR.edgelist`` -> ``1kg_chr1_2888443_4320284.snplist``).
    population : str, default "EUR"
        Which precision matrices (and which snplist frequency column) to read.
    chromosomes : sequence, optional
        Read only these chromosomes' blocks.
    block_windows : bool, default True
        One window per LDGM block (core = extended = the block), exact since the blocks are
        independent. False: tile ``window_bp`` windows as for other sources.
    genome_build : str, default "GRCh38"
        Coordinates of the snplists (the public 1000 Genomes LDGMs are GRCh38).
    cache_blocks : int
        Factorisations kept in memory.

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
    """

    def __init__(self, paths, population="EUR", chromosomes=None, block_windows=True,
                 genome_build="GRCh38", cache_blocks=4):
        self.population = str(population)
        self.genome_build = genome_build
        self.block_windows = bool(block_windows)
        self.cache_blocks = int(cache_blocks)
        blocks = _blocks_from(paths, self.population, chromosomes)
        if blocks.empty:
            raise ValueError("no LDGM block to read")
        self._P, self._lu, self._digest, tables = [], OrderedDict(), {}, []
        offset = 0
        n_idx = []
        for b, row in enumerate(blocks.itertuples(index=False)):
            t, P, n_kept = self._read_block(b, row, offset)
            self._P.append(P)
            tables.append(t)
            n_idx.append(n_kept)
            offset += n_kept
        blocks = blocks.assign(n_indices=n_idx, n_variants=[len(t) for t in tables])
        self.blocks = blocks
        v = pd.concat(tables, ignore_index=True)
        order = np.lexsort((v["pos"].to_numpy(), [chrom_sort_key(c)[1] for c in v["chrom"]],
                            [chrom_sort_key(c)[0] for c in v["chrom"]]))
        self.variants = v.iloc[order].reset_index(drop=True)
        self._row = self.variants["ld_index"].to_numpy(dtype=np.int64)
        self._block_of_row = np.repeat(np.arange(len(blocks)), n_idx)
        self._start = np.r_[0, np.cumsum(n_idx)[:-1]]
        log.info("LDGM (%s): %d blocks, %d variants on %d indices", self.population,
                 len(blocks), len(self.variants), offset)

    def _read_block(self, b, row, offset):
        snp = pd.read_csv(row.snplist)
        miss = [c for c in _SNPLIST_COLUMNS if c not in snp.columns]
        if miss:
            raise ValueError(f"{row.snplist}: not an LDGM snplist: no column(s) {miss}")
        if self.population not in snp.columns:
            pops = [c for c in snp.columns if c not in _SNPLIST_COLUMNS and c != "swap"]
            raise ValueError(f"{row.snplist}: no frequency column for population "
                             f"{self.population!r}; it has {pops}")
        idx = snp["index"].to_numpy(dtype=np.int64)
        if np.any(idx < 0):
            raise ValueError(f"{row.snplist}: negative indices")
        P, nz = _read_precision(row.edgelist, int(idx.max()) + 1, row.snplist)
        for col, n_expect in (("numVariants", len(snp)), ("numIndices", int(nz.sum()))):
            have = getattr(row, col, None)
            if have is not None and np.isfinite(have) and int(have) != n_expect:
                raise ValueError(f"{row.edgelist} / {row.snplist} do not match the metadata: "
                                 f"{col} is {int(have)} there but {n_expect} in the files")
        has_variant = np.zeros(len(nz), dtype=bool)
        has_variant[idx] = True
        if np.any(nz & ~has_variant):
            k = int((nz & ~has_variant).sum())
            raise ValueError(f"{row.edgelist} does not match {row.snplist}: {k} indices of the "
                             "precision matrix have no variant in the snplist")
        keep_idx = np.flatnonzero(nz)
        new = np.full(len(nz), -1, dtype=np.int64)
        new[keep_idx] = np.arange(len(keep_idx))
        P = P[keep_idx][:, keep_idx].tocsc()
        kept = nz[idx]
        snp = snp[kept]
        chrom = row.chrom
        pos = snp["position"].to_numpy(dtype=np.int64)
        anc = snp["anc_alleles"].astype(str).str.upper().to_numpy(dtype=object)
        der = snp["deriv_alleles"].astype(str).str.upper().to_numpy(dtype=object)
        ids = snp["site_ids"].astype("string")
        name = np.array([f"{chrom}:{p}:{a}:{d}" for p, a, d in zip(pos, anc, der)], dtype=object)
        ids = np.where(ids.isna().to_numpy() | (ids.to_numpy(dtype=object, na_value="") == ""),
                       name, ids.to_numpy(dtype=object, na_value=""))
        t = pd.DataFrame({
            "chrom": chrom, "pos": pos, "snp": ids, "a1": der, "a2": anc,
            "freq": pd.to_numeric(snp[self.population], errors="coerce").to_numpy(),
            "ld_index": offset + new[snp["index"].to_numpy(dtype=np.int64)],
            "block": b, "index": snp["index"].to_numpy(dtype=np.int64),
            "swap": snp["swap"].astype(str).to_numpy(dtype=object) if "swap" in snp else "",
        })
        return t, P, len(keep_idx)

    # ------------------------------------------------------------------ linear algebra
    def _factor(self, b):
        lu = self._lu.get(b)
        if lu is None:
            from scipy.sparse.linalg import splu

            lu = splu(self._P[b], permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
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
        n = self._P[b].shape[0]
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
        P = self._P[b]
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
        n = self._P[b].shape[0]
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

    def eigenbasis(self, core, ext, eig_rtol):
        """Eigenbasis of ``R_II`` for one window.

        When the window is one LDGM block's indices (core = extended, no index twice), the
        eigenpairs come from the Schur complement ``S`` of the precision (``R_II = S^-1``:
        same eigenvectors, eigenvalues ``1 / mu``), so ``R_II`` is never formed and
        ``G = U_r lam_r^{1/2}``. Otherwise the dense default.
        """
        from ..windows import eigenbasis_from_blocks

        core = np.asarray(core, dtype=np.int64)
        ext = np.asarray(ext, dtype=np.int64)
        rows = self._row[core]
        blocks = np.unique(self._block_of_row[rows])
        if np.array_equal(core, ext) and len(blocks) == 1 and len(np.unique(rows)) == len(rows):
            from scipy.linalg import eigh

            b = int(blocks[0])
            mu, U = eigh(self._schur(b, rows - self._start[b]), driver="evr")
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

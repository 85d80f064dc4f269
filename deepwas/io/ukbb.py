"""UK Biobank / PolyFun LD matrices: a folder of overlapping windows as one LD source.

Format (Weissbrod et al. 2020, as read by PolyFun): per window a pair of files

* ``chr{C}_{start}_{end}.npz`` -- a ``scipy.sparse`` matrix holding the LOWER triangle of the
  correlation matrix with its diagonal halved, so that ``R = L + L.T``;
* ``chr{C}_{start}_{end}.gz`` -- a whitespace table ``rsid chromosome position allele1
  allele2`` (one row per matrix row; a header line is optional).

The published UK Biobank set has 3 Mb windows at 1 Mb steps in hg19 coordinates, so every
variant appears in up to three files. :class:`UKBBLD` holds each variant once and assigns it
to exactly one file, its *owner*; LD is read from one file per request whenever possible.
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
from ..utils.chrom import normalise_chrom

__all__ = ["UKBBLD", "write_ukbb_ld", "LONG_RANGE_LD_REGIONS_HG19", "in_long_range_ld"]

log = logging.getLogger(__name__)

#: Long-range LD regions (hg19, half-open [start, end) in bp), excluded by default:
#: the MHC on chr6, the chr8p23 inversion and the chr11 pericentromeric region. Coordinates as
#: used by PolyFun (omerwe/polyfun, ``LONG_RANGE_LD_REGIONS`` in ``polyfun_utils.py``), after
#: Price et al. 2008, "Long-range LD can confound genome scans in admixed populations",
#: Am J Hum Genet 83:132-135 (Table 1).
LONG_RANGE_LD_REGIONS_HG19 = (
    ("6", 25_500_000, 33_500_000),
    ("8", 8_000_000, 12_000_000),
    ("11", 46_000_000, 57_000_000),
)

_NAME = re.compile(r"^chr([0-9A-Za-z]+)_(\d+)_(\d+)$")
_TABLE_COLUMNS = ["rsid", "chromosome", "position", "allele1", "allele2"]
# Above this many variants the smallest eigenvalue is found by Lanczos instead of a dense solve.
_DENSE_EIG_MAX = 6000


def in_long_range_ld(chrom, pos, regions=LONG_RANGE_LD_REGIONS_HG19):
    """Boolean mask: which (chrom, pos) fall in one of ``regions`` (hg19 by default)."""
    chrom = normalise_chrom(chrom)
    pos = np.asarray(pos, dtype=np.int64)
    mask = np.zeros(len(pos), dtype=bool)
    for c, lo, hi in regions:
        mask |= (chrom == c) & (pos >= lo) & (pos < hi)
    return mask


def _chrom_order(c):
    return (0, int(c), "") if c.isdigit() else (1, 0, c)


def _read_table(path):
    tab = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, compression="gzip")
    if len(tab) and tab.iloc[0, 0].lower() in ("rsid", "snp"):
        tab = tab.iloc[1:].reset_index(drop=True)
    if tab.shape[1] < 5:
        raise ValueError(f"{path}: expected columns {' '.join(_TABLE_COLUMNS)}, got {tab.shape[1]}")
    return pd.DataFrame({
        "snp": tab[0].to_numpy(dtype=object),
        "chrom": normalise_chrom(tab[1]),
        "pos": pd.to_numeric(tab[2]).to_numpy(dtype=np.int64),
        "a1": tab[3].str.upper().to_numpy(dtype=object),
        "a2": tab[4].str.upper().to_numpy(dtype=object),
    })


def write_ukbb_ld(R, variants, prefix):
    """Write a correlation matrix in the UK Biobank / PolyFun format.

    Parameters
    ----------
    R : ndarray, shape (m, m)
        Symmetric correlation matrix (unit diagonal).
    variants : DataFrame
        m rows with columns chrom, pos, snp, a1, a2 (the variant order of ``R``).
    prefix : str
        Output path without extension, conventionally ``{dir}/chr{C}_{start}_{end}``; writes
        ``prefix.npz`` (lower triangle, diagonal halved) and ``prefix.gz``.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] != len(variants):
        raise ValueError(f"R has shape {R.shape} but there are {len(variants)} variants")
    L = np.tril(R)
    L[np.diag_indices_from(L)] *= 0.5
    sp.save_npz(prefix + ".npz", sp.csr_matrix(L), compressed=True)
    pd.DataFrame({
        "rsid": np.asarray(variants["snp"]),
        "chromosome": normalise_chrom(variants["chrom"]),
        "position": np.asarray(variants["pos"], dtype=np.int64),
        "allele1": np.asarray(variants["a1"]),
        "allele2": np.asarray(variants["a2"]),
    }).to_csv(prefix + ".gz", sep="\t", index=False, compression="gzip")


class UKBBLD(LDSource):
    """LD source over a folder of UK Biobank / PolyFun LD windows.

    Parameters
    ----------
    ld_dir : str
        Folder with ``chr{C}_{start}_{end}.npz`` + ``.gz`` pairs. Pairs whose ``.npz`` is
        missing (e.g. some MHC windows of the published set) are skipped with one warning
        naming them.
    window_bp : int
        Width of the core (i) of a file's window: its middle ``window_bp`` around the centre
        ``(start + end) / 2``.
    exclude_long_range : bool
        Drop variants in :data:`LONG_RANGE_LD_REGIONS_HG19` (coordinates are hg19, like the
        published matrices).
    eig_tol : float
        Eigenvalues down to ``-eig_tol`` are numerical zeros and left alone (the window
        solver truncates them anyway).
    max_shrink : float
        Largest shrinkage accepted when repairing a file; more means the file is not a
        correlation matrix and a ``ValueError`` is raised.
    cover_edges : bool
        Variants in no file's middle window (the first and last ``(L - window_bp) / 2`` of
        each chromosome, or next to a skipped file) join the core of their nearest file
        instead of being left out of every core.
    cache_files : int
        Number of decoded matrices kept in memory.
    genome_build : str or None, default "GRCh37"
        Build of the files' positions (the published UK Biobank set is GRCh37); used to name
        the builds when the summary statistics are on another one.

    Notes
    -----
    *Ownership.* Each variant is owned by the file, among those that contain it, whose
    centre is nearest (ties: the earlier file). With files stepping by ``window_bp`` that is
    exactly the file whose middle ``window_bp`` holds the variant. :meth:`natural_windows`
    gives one window per file: ext (i)+ = the file's variants, core (i) = those it owns
    (within its middle ``window_bp`` unless ``cover_edges``). :meth:`block` reads from one file
    that holds all requested variants (preferring the one owning most of ``rows``), so a
    natural window's LD comes entirely from its own file; otherwise each pair is read from
    the owner file of one of its two variants that holds both, and pairs that no such file
    holds are 0 (further apart than the files reach).

    *Eigenvalue repair.* UK Biobank matrices can have small negative eigenvalues. When a
    file is loaded its smallest eigenvalue mu is computed (dense for up to 6,000 variants,
    Lanczos above); if ``mu < -eig_tol`` the file is shrunk towards the identity,
    ``R <- (1 - s) R + s I`` with ``s = -mu / (1 - mu)``, the smallest shrinkage that makes
    the matrix positive semi-definite. It keeps the unit diagonal, the sparsity and the
    eigenvectors, and every block of that file gets the same repair. ``s`` per file is in
    :attr:`shrinkage`.

    *Checks* (``ValueError`` naming the file, when the file is first read): matrix shape
    different from the number of rows of its table, NaN/inf entries, a diagonal other than
    1 after ``L + L.T``, a matrix that is not triangular.
    """

    _TRANSIENT = ("_cache",)

    def __init__(self, ld_dir, window_bp=1_000_000, exclude_long_range=True, eig_tol=1e-8,
                 max_shrink=0.1, cover_edges=True, cache_files=4, genome_build="GRCh37"):
        self.ld_dir = os.fspath(ld_dir)
        self.genome_build = genome_build
        if not os.path.isdir(self.ld_dir):
            raise FileNotFoundError(f"LD folder not found: {self.ld_dir}")
        self.window_bp = int(window_bp)
        self.exclude_long_range = bool(exclude_long_range)
        self.eig_tol = float(eig_tol)
        self.max_shrink = float(max_shrink)
        self.cover_edges = bool(cover_edges)
        self.cache_files = int(cache_files)
        self.shrinkage = {}
        self._min_eig = {}
        self._cache = OrderedDict()
        self._digests = {}
        self._scan()

    # ------------------------------------------------------------------ construction
    def _scan(self):
        files, skipped = [], []
        for gz in sorted(glob.glob(os.path.join(self.ld_dir, "chr*_*_*.gz"))):
            prefix = gz[:-3]
            m = _NAME.match(os.path.basename(prefix))
            if m is None:
                continue
            if not os.path.exists(prefix + ".npz"):
                skipped.append(os.path.basename(prefix))
                continue
            files.append((normalise_chrom([m.group(1)])[0], int(m.group(2)), int(m.group(3)),
                          prefix))
        if skipped:
            log.warning("UKBBLD: %d LD windows have no .npz and are skipped: %s",
                        len(skipped), ", ".join(skipped))
        self.skipped = skipped
        if not files:
            raise ValueError(f"no usable chr{{C}}_{{start}}_{{end}}.npz/.gz pairs in {self.ld_dir}")
        files.sort(key=lambda f: (_chrom_order(f[0]), f[1], f[2]))
        self.files = pd.DataFrame(files, columns=["chrom", "start", "end", "prefix"])
        self.files["centre"] = (self.files["start"] + self.files["end"]) / 2.0

        tables = []
        for k, (chrom, _, _, prefix) in enumerate(files):
            t = _read_table(prefix + ".gz")
            if len(t) and np.any(t["chrom"] != chrom):
                raise ValueError(f"{prefix}.gz lists variants off chromosome {chrom}")
            t["file"] = k
            t["local"] = np.arange(len(t), dtype=np.int64)
            tables.append(t)
        self._n_rows = np.array([len(t) for t in tables], dtype=np.int64)
        allv = pd.concat(tables, ignore_index=True)
        keep = np.ones(len(allv), dtype=bool)
        if self.exclude_long_range:
            keep = ~in_long_range_ld(allv["chrom"], allv["pos"])
            if (~keep).any():
                log.info("UKBBLD: excluded %d file rows in long-range LD regions",
                         int((~keep).sum()))
        allv = allv.loc[keep]
        if allv.empty:
            raise ValueError(f"{self.ld_dir}: no variants left (all in long-range LD regions "
                             "or the tables are empty)")

        # One row per distinct variant, in genome order.
        key = ["chrom", "pos", "snp", "a1", "a2"]
        uniq = allv.drop_duplicates(key)[key].copy()
        uniq["_order"] = [_chrom_order(c) for c in uniq["chrom"]]
        uniq = uniq.sort_values(["_order", "pos", "snp", "a1", "a2"], kind="stable")
        self.variants = uniq[key].reset_index(drop=True)
        gidx = self.variants.reset_index().rename(columns={"index": "g"})
        allv = allv.merge(gidx, on=key, how="left")

        # Per file: sorted global indices + local rows, for O(log n) look-ups.
        self._file_g, self._file_local = [], []
        for k in range(len(files)):
            sub = allv[allv["file"] == k]
            order = np.argsort(sub["g"].to_numpy(), kind="stable")
            self._file_g.append(sub["g"].to_numpy(dtype=np.int64)[order])
            self._file_local.append(sub["local"].to_numpy(dtype=np.int64)[order])

        # Owner: nearest file centre among the files holding the variant.
        allv["dist"] = np.abs(allv["pos"].to_numpy()
                              - self.files["centre"].to_numpy()[allv["file"]])
        first = allv.sort_values(["g", "dist", "file"], kind="stable").drop_duplicates("g")
        self.owner = np.empty(len(self.variants), dtype=np.int64)
        self.owner[first["g"].to_numpy()] = first["file"].to_numpy()
        self._owner_dist = np.empty(len(self.variants))
        self._owner_dist[first["g"].to_numpy()] = first["dist"].to_numpy()

    # ------------------------------------------------------------------ look-ups
    def _lookup(self, f, g):
        """Local rows of global variants ``g`` in file ``f`` and a mask of those present."""
        fg = self._file_g[f]
        at = np.searchsorted(fg, g)
        at_c = np.minimum(at, max(len(fg) - 1, 0))
        ok = (at < len(fg)) & (fg[at_c] == g) if len(fg) else np.zeros(len(g), dtype=bool)
        return self._file_local[f][at_c] if len(fg) else np.zeros(len(g), np.int64), ok

    def _matrix(self, f):
        """Validated, repaired sparse R of file ``f`` (CSR), with a small LRU cache."""
        if f in self._cache:
            self._cache.move_to_end(f)
            return self._cache[f]
        prefix = self.files["prefix"].iat[f]
        name = prefix + ".npz"
        L = sp.load_npz(name).tocsr().astype(np.float64)
        m = int(self._n_rows[f])
        if L.shape != (m, m):
            raise ValueError(f"{name}: matrix shape {L.shape} does not match the {m} variants "
                             f"of {os.path.basename(prefix)}.gz")
        if not np.all(np.isfinite(L.data)):
            raise ValueError(f"{name}: {int((~np.isfinite(L.data)).sum())} NaN/inf entries")
        if sp.triu(L, 1).nnz and sp.tril(L, -1).nnz:
            raise ValueError(f"{name}: expected a triangular matrix (lower triangle, diagonal "
                             "halved), found entries on both sides of the diagonal")
        R = (L + L.T).tocsr()
        diag_err = np.max(np.abs(R.diagonal() - 1.0)) if m else 0.0
        if diag_err > 1e-6:
            raise ValueError(f"{name}: diagonal of L + L.T is not 1 (max |diag - 1| = "
                             f"{diag_err:.3g}); the format stores the diagonal halved")
        R = self._repair(R, name)
        self._cache[f] = R
        while len(self._cache) > self.cache_files:
            self._cache.popitem(last=False)
        return R

    def _repair(self, R, name):
        m = R.shape[0]
        if m == 0:
            return R
        key = os.path.basename(name)[:-4]
        mu = self._min_eig.get(key)
        if mu is None:  # remembered: a file evicted from the cache is not re-analysed
            if m <= _DENSE_EIG_MAX:
                from scipy.linalg import eigh
                mu = float(eigh(R.toarray(), eigvals_only=True, subset_by_index=[0, 0])[0])
            else:
                from scipy.sparse.linalg import eigsh
                mu = float(eigsh(R, k=1, which="SA", tol=1e-6, return_eigenvectors=False)[0])
            self._min_eig[key] = mu
        s = 0.0
        if mu < -self.eig_tol:
            s = -mu / (1.0 - mu)
            if s > self.max_shrink:
                raise ValueError(f"{name}: smallest eigenvalue {mu:.3g} needs shrinkage {s:.3g} > "
                                 f"max_shrink={self.max_shrink}; this is not a correlation matrix")
            if key not in self.shrinkage:
                log.warning("%s: smallest eigenvalue %.3g; shrunk towards I by s = %.3g",
                            name, mu, s)
            R = ((1.0 - s) * R + s * sp.identity(m, format="csr")).tocsr()
        self.shrinkage[key] = s
        return R

    def _file_for(self, rows, need):
        """A file holding every variant of ``need``, preferring the owner of most ``rows``."""
        counts = np.bincount(self.owner[rows], minlength=len(self.files)) if len(rows) else None
        cand = np.unique(self.owner[need])
        if counts is not None:
            cand = cand[np.argsort(-counts[cand], kind="stable")]
        for f in cand:
            if self._lookup(f, need)[1].all():
                return int(f)
        return None

    # ------------------------------------------------------------------ LDSource API
    def block(self, rows, cols):
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        need = np.union1d(rows, cols)
        out = np.zeros((len(rows), len(cols)))
        if len(rows) == 0 or len(cols) == 0:
            return out
        f = self._file_for(rows, need)
        if f is not None:
            lr, _ = self._lookup(f, rows)
            lc, _ = self._lookup(f, cols)
            return self._matrix(f)[lr][:, lc].toarray()
        # Pairs read from the owner of the pair's lower-index variant, else of the other one;
        # using the index (not rows vs cols) keeps block(a, b) == block(b, a).T.
        lower = rows[:, None] <= cols[None, :]
        ro, co = self.owner[rows][:, None], self.owner[cols][None, :]
        filled = np.zeros(out.shape, dtype=bool)
        for pref in (np.where(lower, ro, co), np.where(lower, co, ro)):
            for f in np.unique(pref[~filled]):
                mask = (pref == f) & ~filled
                ri, ci = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
                lr, okr = self._lookup(f, rows[ri])
                lc, okc = self._lookup(f, cols[ci])
                ri, lr = ri[okr], lr[okr]
                ci, lc = ci[okc], lc[okc]
                if len(ri) == 0 or len(ci) == 0:
                    continue
                take = mask[np.ix_(ri, ci)]
                vals = self._matrix(f)[lr][:, lc].toarray()
                sub = out[np.ix_(ri, ci)]
                sub[take] = vals[take]
                out[np.ix_(ri, ci)] = sub
                done = filled[np.ix_(ri, ci)] | take
                filled[np.ix_(ri, ci)] = done
        return out

    def natural_windows(self):
        """One (core, ext) pair per file in genome order; files with an empty core are left out."""
        out, empty = [], []
        half = self.window_bp / 2.0
        for f in range(len(self.files)):
            ext = self._file_g[f]
            core = ext[self.owner[ext] == f]
            if not self.cover_edges:
                core = core[self._owner_dist[core] < half]
            if len(core) == 0:
                empty.append(os.path.basename(self.files["prefix"].iat[f]))
                continue
            out.append((core, ext))
        if empty:
            log.info("UKBBLD: %d windows have no core variants: %s", len(empty), ", ".join(empty))
        return out

    def _digest(self, f):
        if f not in self._digests:
            prefix = self.files["prefix"].iat[f]
            self._digests[f] = _file_digest(prefix + ".npz") + _file_digest(prefix + ".gz")
        return self._digests[f]

    def window_key(self, core, ext):
        core = np.asarray(core, dtype=np.int64)
        ext = np.asarray(ext, dtype=np.int64)
        need = np.union1d(core, ext)
        f = self._file_for(core, need)
        files = [f] if f is not None else np.unique(self.owner[need]).tolist()
        tag = "|".join(self._digest(k) for k in files)
        tag += f"|{self.eig_tol!r}|{self.max_shrink!r}|{self.exclude_long_range}"
        return _hash_arrays(np.frombuffer(hashlib.sha256(tag.encode()).digest(), np.uint8),
                            core, ext)

"""Windows (core set (i) and extended set (i)+) and their theta-free precomputation.

For a window with core variants I (n) and extended variants E (m), DESIGN section 1::

    R_II = U diag(lam) U^T            (keep the r eigenvalues lam_k > eig_rtol * max(lam))
    G    = R_EI U_r lam_r^{-1/2}      (m x r),  so  G G^T = R_EI R_II^+ R_IE
    y    = lam_r^{-1/2} U_r^T beta_I  (r),      q = y^T y = beta_I^T R_II^+ beta_I
    z    = G y                        (m)
    logdet_R = sum(log lam_r)

Only ``G``, ``y``, ``q``, ``logdet_R`` and ``r`` are kept: O(m r) memory per window (``z`` is
recomputed as ``G y`` where needed).

``G`` is determined only up to a rotation ``G V``, ``V^T y`` (V orthogonal r x r): the
likelihood sees ``G G^T`` and ``z``.  The stored ``G`` is rotated so that its columns are orthogonal
(``G^T G`` diagonal).  Then ``C = I + G^T F G / s`` is diagonal for constant ``f`` and close
to diagonal otherwise, which the iterative solver exploits (Jacobi scaling: on a real 1000G
window cond(C) ~700 -> ~12 and the log-determinant's Hutchinson noise 2.4x smaller).  The
rotation costs one r x r eigendecomposition and two m x r x r products, paid once per window.

The eigenvalue threshold ``eig_rtol`` (default :data:`DEFAULT_EIG_RTOL` = 1e-10, relative to the
largest eigenvalue) separates the numerical null space from the spectrum. On the shipped 1000
Genomes windows (489 people) the eigenvalues of R_II that are structurally zero come out at
1e-16..1e-15 of the largest, while the smallest genuine ones were 6e-11..1e-3 of it; float64
eigensolvers are accurate to about n * 1e-16 relative, so 1e-10 keeps every eigenvalue that can be
resolved and drops negative and zero ones (LD matrices from files can have small negative
eigenvalues; those are discarded here).
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DEFAULT_EIG_RTOL", "WindowFactors", "make_windows", "thin_windows", "window_units",
           "window_factors",
           "eigenbasis_from_blocks", "factors_from_basis", "orthogonal_columns", "FactorCache"]

log = logging.getLogger(__name__)

DEFAULT_EIG_RTOL = 1e-10
# v2: G with orthogonal columns, y for z; v3: LD models (truncation, mismatch d) and the
# mismatch diagnostics
_FORMAT_VERSION = "deepwas-window-factors-v3"
_ENTRY = re.compile(r"[0-9a-f]{64}\.npz")
_TEMP = re.compile(r"\.[0-9a-f]{64}\.\d+\.[0-9a-f]{32}\.tmp")
_EMPTY = np.zeros(0)


@dataclass
class WindowFactors:
    """theta-free quantities of one window (float64).

    ``d`` is set only for the mismatch LD model (:mod:`deepwas.ld_model`): then ``G`` and
    ``y`` are in the eigenbasis of R_II (columns not rotated) and ``d = 1 / lam`` holds the
    inverse kept eigenvalues. ``out_share``, ``tail_y2`` and ``tail_a`` feed the mismatch
    diagnostic (:func:`deepwas.diagnostics.ld_diagnostics`).
    """

    G: np.ndarray          # (m, r), orthogonal columns (unless d is set)
    y: np.ndarray          # (r,), so that z = G y = R_EI R_II^+ beta_I
    q: float               # beta_I^T R_II^+ beta_I = y^T y
    logdet_R: float        # log pseudo-determinant of R_II (of its kept part)
    rank: int              # r
    n_core: int            # n
    d: np.ndarray = None   # (r,) inverse eigenvalues, mismatch model only
    out_share: float = float("nan")   # share of |beta_I|^2 outside the eigenspace of R_II
    # y_j^2 of the eigen-directions beyond 99 % of trace(R_II), and sum_m w_m G_mj^2 of those
    # directions (w = (p(1-p))^0.7)
    tail_y2: np.ndarray = field(default_factory=lambda: _EMPTY)
    tail_a: np.ndarray = field(default_factory=lambda: _EMPTY)

    @property
    def z(self):
        """``R_EI R_II^+ beta_I`` (m,)."""
        return self.G @ self.y

    @property
    def nbytes(self):
        return self.G.nbytes + self.y.nbytes + (0 if self.d is None else self.d.nbytes)

    _ARRAYS = ("G", "y", "tail_y2", "tail_a")

    def to_arrays(self):
        """A dict of arrays for storage (see :meth:`from_arrays`)."""
        out = {name: np.asarray(getattr(self, name)) for name in self._ARRAYS}
        out["d"] = _EMPTY if self.d is None else self.d
        out["scalars"] = np.array([self.q, self.logdet_R, self.rank, self.n_core,
                                   self.out_share, self.d is not None], dtype=np.float64)
        return out

    @classmethod
    def from_arrays(cls, arrays):
        q, logdet_R, rank, n_core, out_share, has_d = arrays["scalars"]
        return cls(G=arrays["G"], y=arrays["y"], q=float(q), logdet_R=float(logdet_R),
                   rank=int(rank), n_core=int(n_core), d=arrays["d"] if has_d else None,
                   out_share=float(out_share), tail_y2=arrays["tail_y2"],
                   tail_a=arrays["tail_a"])


def make_windows(chrom, pos, window_bp=1_000_000, flank_bp=1_000_000, natural=None):
    """Cut variants into core windows and their extended sets.

    Core windows tile each chromosome in consecutive ``window_bp`` bins starting at position 0
    (variant at ``pos`` goes to bin ``pos // window_bp``); empty bins produce no window. The
    extended set of a window is every variant on the same chromosome within ``flank_bp`` of one
    of its core variants (so it contains the core).

    Parameters
    ----------
    chrom : array-like of str
    pos : array-like of int
        Variants must be sorted by (chromosome block, position): all variants of a chromosome
        contiguous, positions non-decreasing within it.
    window_bp, flank_bp : int
    natural : list of (array, array), optional
        Windows fixed by the LD source (UK Biobank files); used as they are when given.

    Returns
    -------
    windows : list of (ndarray, ndarray)
        (core, extended) int64 index arrays into the variants.
    window_chrom : ndarray of str
        Chromosome of each window.
    """
    chrom = np.asarray(chrom, dtype=object)
    pos = np.asarray(pos, dtype=np.int64)
    if natural is not None:
        windows = [(np.asarray(c, dtype=np.int64), np.asarray(e, dtype=np.int64))
                   for c, e in natural]
        if not windows:
            raise ValueError("no window holds any variant")
        return windows, np.array([chrom[int(c[0])] for c, _ in windows], dtype=object)
    if window_bp is None or int(window_bp) < 1:
        raise ValueError(f"window_bp must be a positive integer, got {window_bp!r}")
    if flank_bp is None or int(flank_bp) < 0:
        raise ValueError(f"flank_bp must be a non-negative integer, got {flank_bp!r}")
    windows, wchrom = [], []
    starts = np.flatnonzero(np.r_[True, chrom[1:] != chrom[:-1]])
    ends = np.r_[starts[1:], len(chrom)]
    if len(set(chrom[starts])) != len(starts):
        raise ValueError("variants of a chromosome must be contiguous "
                         "(sort by chromosome, position)")
    for a, b in zip(starts, ends):
        p = pos[a:b]
        if np.any(np.diff(p) < 0):
            raise ValueError(f"positions on chromosome {chrom[a]} are not sorted")
        bins = p // int(window_bp)
        cuts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1], True])
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            e_lo = np.searchsorted(p, p[lo] - flank_bp, side="left")
            e_hi = np.searchsorted(p, p[hi - 1] + flank_bp, side="right")
            windows.append((np.arange(a + lo, a + hi, dtype=np.int64),
                            np.arange(a + e_lo, a + e_hi, dtype=np.int64)))
            wchrom.append(chrom[a])
    if not windows:
        raise ValueError("no window holds any variant")
    return windows, np.asarray(wchrom, dtype=object)


def thin_windows(windows, core_size):
    """Cut each window's core into interleaved cores of about ``core_size`` variants.

    A core of ``n`` variants becomes ``k = max(1, n // core_size)`` cores (of ``core_size``
    variants or a few more): core ``j``
    holds every ``k``-th variant from the ``j``-th (``core[j::k]``), so each spans the whole
    window, and every variant stays in exactly one core. Each keeps the window's extended set.
    The cores of one window come out consecutively, in ``j`` order (:func:`window_units`
    finds them again).

    Parameters
    ----------
    windows : list of (ndarray, ndarray)
        (core, extended) index arrays (LD blocks: core = extended).
    core_size : int
        Target number of variants per core (>= 1).

    Returns
    -------
    list of (ndarray, ndarray)
    """
    core_size = int(core_size)
    if core_size < 1:
        raise ValueError(f"core size must be a positive integer, got {core_size!r}")
    out = []
    for core, ext in windows:
        k = max(1, len(core) // core_size)
        out += [(core[j::k], ext) for j in range(k)]
    return out


def window_units(windows):
    """Label (0, 1, ...) of each window's unit: consecutive windows with the same extended
    set are one unit (the thinned cores of one LD block, :func:`thin_windows`), every other
    window a unit of its own. The units are what a jackknife or a split must keep whole: the
    windows of one unit share their LD and their statistics.
    """
    labels = np.zeros(len(windows), dtype=np.int64)
    for w in range(1, len(windows)):
        prev, ext = windows[w - 1][1], windows[w][1]
        same = len(prev) == len(ext) and prev[0] == ext[0] and prev[-1] == ext[-1] \
            and np.array_equal(prev, ext)
        labels[w] = labels[w - 1] + (not same)
    return labels


def factors_from_basis(U_r, lam_r, G, beta_I, n_core):
    """Finish the precompute from a kept eigenbasis (U_r, lam_r) of R_II and G."""
    y = (U_r.T @ beta_I) / np.sqrt(lam_r)
    G, y_rot = orthogonal_columns(G, y)
    return WindowFactors(G=G, y=y_rot, q=float(y @ y),
                         logdet_R=float(np.sum(np.log(lam_r))), rank=int(len(lam_r)),
                         n_core=int(n_core))


def orthogonal_columns(G, y):
    """Rotate ``(G, y)`` to ``(G V, V^T y)`` with ``G^T G`` diagonal (module docstring).

    ``G G^T`` and ``z = G y`` are unchanged; ``V`` holds the eigenvectors of ``G^T G``.
    """
    G = np.asarray(G, dtype=np.float64)
    _, V = np.linalg.eigh(G.T @ G)
    return np.ascontiguousarray(G @ V), V.T @ np.asarray(y, dtype=np.float64)


def window_factors(R_II, R_EI, beta_I, eig_rtol=DEFAULT_EIG_RTOL):
    """Precompute a window's factors from dense LD blocks.

    Parameters
    ----------
    R_II : ndarray, shape (n, n)
        LD among core variants.
    R_EI : ndarray, shape (m, n)
        LD between extended and core variants.
    beta_I : ndarray, shape (n,)
        Standardised marginal effects of the core variants.
    eig_rtol : float
        Relative eigenvalue threshold (see module docstring).

    Returns
    -------
    WindowFactors
    """
    U_r, lam_r, G = eigenbasis_from_blocks(R_II, R_EI, eig_rtol)
    return factors_from_basis(U_r, lam_r, G, np.asarray(beta_I, dtype=np.float64), len(R_II))


def eigenbasis_from_blocks(R_II, R_EI, eig_rtol=DEFAULT_EIG_RTOL):
    """Kept eigenpairs ``(U_r, lam_r)`` of a dense R_II and ``G = R_EI U_r lam_r^{-1/2}``."""
    lam, U = np.linalg.eigh(np.asarray(R_II, dtype=np.float64))
    keep = lam > eig_rtol * max(lam.max(initial=0.0), 0.0)
    if not np.any(keep):
        raise ValueError("LD block of the core variants has no positive eigenvalue")
    U_r, lam_r = U[:, keep], lam[keep]
    return U_r, lam_r, (np.asarray(R_EI, dtype=np.float64) @ U_r) / np.sqrt(lam_r)


def _checksum(arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class FactorCache:
    """Window factors on disk, in ``cache_dir`` (memory is :mod:`deepwas.memory_pool`'s).

    Entries are keyed by a content hash of everything the factors depend on (LD blocks or the
    files they came from, the core beta-hats, the precompute settings, this format's version),
    so a changed input never reuses a stale entry. Each file stores a checksum of its arrays;
    an unreadable, truncated or tampered file is logged, deleted and rebuilt. Files are
    written atomically (to a temporary name, then renamed), so several processes or machines
    can fill one shared folder.

    ``hits`` counts where the factors asked for came from: ``memory`` (the pool), ``disk``,
    ``computed``, ``rebuilt`` (a bad file replaced).
    """

    def __init__(self, cache_dir=None):
        self.cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self.hits = {"memory": 0, "disk": 0, "computed": 0, "rebuilt": 0}

    @staticmethod
    def make_key(*parts):
        h = hashlib.sha256(_FORMAT_VERSION.encode())
        for p in parts:
            h.update(p if isinstance(p, bytes) else str(p).encode())
        return h.hexdigest()

    def _path(self, key):
        return os.path.join(self.cache_dir, f"{key}.npz")

    def files(self):
        """The folder's window files and leftover temporary files of interrupted writers.

        Only names this class writes are listed (a 64-hex-digit key), so pointing the cache at
        a folder holding other files never touches them.
        """
        entries, temps = [], []
        if self.cache_dir and os.path.isdir(self.cache_dir):
            for e in os.scandir(self.cache_dir):
                if _ENTRY.fullmatch(e.name):
                    entries.append(e.path)
                elif _TEMP.fullmatch(e.name):
                    temps.append(e.path)
        return entries, temps

    def clear_disk(self):
        """Delete this folder's window files (and leftover temporaries); returns (files, bytes)."""
        entries, temps = self.files()
        n = size = 0
        for path in entries + temps:
            try:
                size += os.path.getsize(path)
                os.remove(path)
                n += 1
            except FileNotFoundError:     # another process removed or replaced it
                pass
        return n, size

    def has(self, key):
        """Whether a file for ``key`` exists (not whether it is intact: :meth:`load` checks)."""
        return self.cache_dir is not None and os.path.exists(self._path(key))

    def load(self, key):
        """The factors stored under ``key``, or None (no folder, no file, or a bad file)."""
        return self._load(key) if self.cache_dir else None

    def save(self, key, wf):
        """Store ``wf`` under ``key`` (a no-op without a folder or for factors that are not
        ``cacheable``); returns the file's bytes."""
        if not self.cache_dir or not getattr(wf, "cacheable", True):
            return 0
        self._save(key, wf)
        return os.path.getsize(self._path(key))

    def _save(self, key, wf):
        os.makedirs(self.cache_dir, exist_ok=True)
        arrays = wf.to_arrays()
        # os.open with mode 0o666 lets the umask decide who may read the file, so a group
        # sharing a cache folder can (mkstemp would create it 0600, readable by its writer only)
        tmp = os.path.join(self.cache_dir, f".{key}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, key=np.array(key), checksum=np.array(_checksum(
                    [arrays[k] for k in sorted(arrays)])), **arrays)
            os.replace(tmp, self._path(key))  # atomic: readers never see a half-written file
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def _load(self, key):
        path = self._path(key)
        if not os.path.exists(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as d:
                arrays = {k: d[k] for k in d.files if k not in ("key", "checksum")}
                ok = str(d["key"]) == key and str(d["checksum"]) == _checksum(
                    [arrays[k] for k in sorted(arrays)])
        except Exception as exc:  # corrupt zip, truncated file, missing member ...
            ok, why = False, f"{type(exc).__name__}: {exc}"
        else:
            why = "checksum mismatch"
        if not ok:
            log.warning("window cache file %s is unreadable (%s); rebuilding it", path, why)
            self.hits["rebuilt"] += 1
            try:
                os.remove(path)
            except OSError:
                pass
            return None
        return WindowFactors.from_arrays(arrays)

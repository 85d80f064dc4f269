"""Genomic signal tracks (bigWig) as C_func features: values in a window around each variant.

Coordinates. Variant positions are 1-based (summary statistics' BP); bigWig is 0-based
half-open. The base of a variant at BP ``p`` is bigWig interval ``[p - 1, p)``. A window of
``width`` bins of ``bin_size`` bp starts at 0-based ``p - 1 - (width * bin_size) // 2``, so with
``bin_size = 1`` column ``width // 2`` is the variant's own base.

Speed. Each track is read ONCE per cluster of nearby requested variants (one
``bw.values(chrom, lo, hi, numpy=True)`` call covering all their windows); every variant's
window is then a row of a strided view of that array (``sliding_window_view``), gathered
in one indexing operation -- no per-variant pyBigWig call.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from ..utils.chrom import normalise_chrom
from .base import FeatureProvider, Features
from .liftover import apply_liftover_policy, liftover, liftover_summary

__all__ = ["BigWigTracks"]

log = logging.getLogger(__name__)


class BigWigTracks(FeatureProvider):
    """Values of bigWig tracks around each variant.

    Parameters
    ----------
    paths : sequence of str
        bigWig files, one track each.
    width : int
        Number of bins per window (the paper uses 256).
    bin_size : int
        Base pairs per bin; a bin holds the mean over its bases (no data counting as 0).
    names : sequence of str, optional
        Track names (default: file names without extension).
    liftover_chain : str, optional
        Chain file to lift the variants' positions before reading (e.g. hg19 summary
        statistics with hg38 tracks: ``deepwas.features.liftover.HG19_TO_HG38_CHAIN``).
    unmapped : {"zeros", "nearest"}
        With ``liftover_chain``: variants that do not lift (including those the chain sends
        only to alt/random/Un contigs) get all-zero windows (``"zeros"``) or the window of the
        nearest mapped variant (``"nearest"``, see
        :func:`~deepwas.features.liftover.apply_liftover_policy`).
    max_gap : int
        Variants further apart than this (bp) are read as separate regions, so sparse requests
        never read a whole chromosome.

    Notes
    -----
    Missing data and NaN read as 0. Chromosome names are matched without a ``chr`` prefix
    ("17" finds "chr17"). A chromosome absent from a track gives zeros and one warning per
    track and chromosome. Bins beyond either end of a chromosome are 0. With a liftover, the
    window is read on the target build's + strand even where the chain maps the region
    reverse-complemented (the strand is in the liftover result).

    Liftover is done once per distinct position and remembered. Call :meth:`lift` with all
    the variants first (``deepwas`` commands do) to resolve them together -- the
    ``"nearest"`` policy then chooses among all of them -- and to log one summary line
    (a warning when some did not map); later :meth:`get` calls only read the tracks.
    """

    def __init__(self, paths, width=256, bin_size=1, names=None, liftover_chain=None,
                 unmapped="zeros", max_gap=1_000_000):
        import pyBigWig  # noqa: F401 - fail early if missing

        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = [os.fspath(p) for p in paths]
        for p in self.paths:
            if not os.path.isfile(p):
                raise FileNotFoundError(f"bigWig file not found: {p}")
        self.width = int(width)
        self.bin_size = int(bin_size)
        if self.width < 1 or self.bin_size < 1:
            raise ValueError("width and bin_size must be positive")
        self.func_names = (list(names) if names is not None else
                           [os.path.splitext(os.path.basename(p))[0] for p in self.paths])
        if len(self.func_names) != len(self.paths):
            raise ValueError("names and paths differ in length")
        self.d_func = len(self.paths)
        self.d_pred = 0
        self.pred_names = []
        self.liftover_chain = liftover_chain
        if unmapped not in ("zeros", "nearest"):
            raise ValueError(f"unmapped must be 'zeros' or 'nearest', got {unmapped!r}")
        self.unmapped = unmapped
        self.max_gap = int(max_gap)
        self._handles = None
        self._warned = set()
        self._lifted = None      # liftover resolved so far: DataFrame indexed by "chrom:pos"
        self.liftover_counts_ = {}
        self._chroms = [self._open(p).chroms() for p in self.paths]  # also validates the files

    # pyBigWig handles cannot be pickled (scikit-learn clones, joblib workers): reopen lazily.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_handles"] = None
        return state

    @staticmethod
    def _open(path):
        import pyBigWig

        try:
            bw = pyBigWig.open(path)
        except RuntimeError as e:
            raise ValueError(f"cannot open bigWig file {path}: {e}") from e
        if bw is None or not bw.isBigWig():
            raise ValueError(f"{path} is not a bigWig file")
        return bw

    def _handle(self, t):
        if self._handles is None:
            self._handles = [self._open(p) for p in self.paths]
        return self._handles[t]

    @property
    def span(self):
        """Base pairs covered by one window."""
        return self.width * self.bin_size

    def _positions(self, variants):
        """Chromosome (no prefix) and 1-based position to read, and a mask of usable rows."""
        chrom = normalise_chrom(variants["chrom"])
        pos = np.asarray(variants["pos"], dtype=np.int64)
        if self.liftover_chain is None:
            return chrom, pos, np.ones(len(pos), dtype=bool)
        line, _ = self._resolve(chrom, pos)
        if line:
            log.info("%s", line)
        got = self._lookup(chrom, pos)
        return (got["chrom"].to_numpy(dtype=object), got["pos"].to_numpy(dtype=np.int64),
                got["ok"].to_numpy(dtype=bool))

    @staticmethod
    def _keys(chrom, pos):
        return pd.Index(pd.Series(chrom, dtype=str).to_numpy(dtype=object) + ":"
                        + pd.Series(pos).astype(str).to_numpy(dtype=object))

    def _lookup(self, chrom, pos):
        return self._lifted.iloc[self._lifted.index.get_indexer(self._keys(chrom, pos))]

    def _resolve(self, chrom, pos):
        """Lift the positions not seen before: their summary line (None when there were none)
        and how many of them did not map."""
        keys = self._keys(chrom, pos)
        new = (np.ones(len(keys), dtype=bool) if self._lifted is None
               else ~keys.isin(self._lifted.index))
        if not new.any():
            return None, 0
        first = np.flatnonzero(new & ~keys.duplicated())
        c, p = chrom[first], pos[first]
        lifted = liftover(c, p, self.liftover_chain)
        if self.unmapped == "nearest":
            fixed = apply_liftover_policy(lifted, "nearest", c, p)
            ok = np.zeros(len(p), dtype=bool)
            ok[fixed.index.to_numpy()] = True
            tc, tp = lifted["chrom"].copy(), lifted["pos"].copy()
            tc.loc[fixed.index], tp.loc[fixed.index] = fixed["chrom"], fixed["pos"]
            imputed = int(fixed["imputed"].sum())
        else:
            ok, tc, tp, imputed = lifted["mapped"].to_numpy(), lifted["chrom"], lifted["pos"], 0
        table = pd.DataFrame({"chrom": tc.fillna("").to_numpy(dtype=object),
                              "pos": tp.fillna(1).to_numpy(dtype=np.int64), "ok": ok,
                              "status": lifted["status"].to_numpy(dtype=object)},
                             index=keys[first])
        self._lifted = table if self._lifted is None else pd.concat([self._lifted, table])
        counts = self.liftover_counts_
        for k, v in lifted["status"].value_counts().items():
            counts[str(k)] = counts.get(str(k), 0) + int(v)
        counts["nearest"] = counts.get("nearest", 0) + imputed
        counts["zeros"] = counts.get("zeros", 0) + int((~ok).sum())
        line = (f"liftover with {os.path.basename(os.fspath(self.liftover_chain))}: "
                f"{liftover_summary(lifted, c)}")
        if imputed:
            line += f"; {imputed:,} unmapped take the window of the nearest mapped variant"
        if (~ok).any():
            line += f"; {int((~ok).sum()):,} read as all-zero track windows"
        return line, int((~lifted["mapped"]).sum())

    def lift(self, variants):
        """Lift every variant's position now and log one summary line.

        Parameters
        ----------
        variants : DataFrame
            With ``chrom`` and ``pos`` (1-based), e.g. ``stats.variants``.

        Returns
        -------
        DataFrame
            One row per variant: ``chrom``, ``pos`` (where its track window is read),
            ``ok`` (False: all-zero window) and ``status`` (of
            :func:`~deepwas.features.liftover.liftover`).
        """
        if self.liftover_chain is None:
            raise ValueError("lift needs liftover_chain")
        chrom = normalise_chrom(variants["chrom"])
        pos = np.asarray(variants["pos"], dtype=np.int64)
        line, n_bad = self._resolve(chrom, pos)
        if line:
            log.log(logging.WARNING if n_bad else logging.INFO, "%s", line)
        return self._lookup(chrom, pos).reset_index(drop=True)

    def get(self, variants):
        n = len(variants)
        # filled track by track as (d, n, width) so each track's windows land in one contiguous
        # block with a single copy; returned as an (n, d, width) view of it
        buf = np.zeros((self.d_func, n, self.width), dtype=np.float32)
        if n == 0:
            return Features(func=buf.transpose(1, 0, 2), func_names=self.func_names)
        chrom, pos, ok = self._positions(variants)
        start0 = pos - 1 - self.span // 2  # 0-based first base of each window
        for c in pd.unique(chrom[ok]):
            rows = np.flatnonzero(ok & (chrom == c))
            for t in range(self.d_func):
                self._fill_chrom(buf[t], t, c, rows, start0[rows])
        return Features(func=buf.transpose(1, 0, 2), func_names=self.func_names)

    def _track_chrom(self, t, c):
        chroms = self._chroms[t]
        for name in (c, "chr" + c):
            if name in chroms:
                return name, chroms[name]
        if c in ("M", "MT"):
            for name in ("chrM", "MT", "chrMT", "M"):
                if name in chroms:
                    return name, chroms[name]
        return None, 0

    def _fill_chrom(self, out, t, c, rows, starts):
        name, length = self._track_chrom(t, c)
        if name is None:
            if (t, c) not in self._warned:
                self._warned.add((t, c))
                log.warning("bigWig track %s has no chromosome %s: its windows are 0",
                            self.func_names[t], c)
            return
        order = np.argsort(starts, kind="stable")
        s_sorted = starts[order]
        # clusters of variants close enough to read as one region
        breaks = np.flatnonzero(np.diff(s_sorted) > self.max_gap) + 1
        for grp in np.split(np.arange(len(order)), breaks):
            idx = order[grp]
            lo, hi = int(starts[idx].min()), int(starts[idx].max()) + self.span
            region = self._read(t, name, length, lo, hi)
            view = self._windows(region)
            dest = rows[idx]
            if len(dest) and dest[-1] - dest[0] == len(dest) - 1 and np.all(np.diff(dest) == 1):
                # fancy indexing gathers fast; np.take(..., out=) on a strided view is ~30x slower
                out[dest[0]:dest[-1] + 1] = view[starts[idx] - lo]
            else:
                out[dest] = view[starts[idx] - lo]

    def _read(self, t, name, length, lo, hi):
        """Track values on 0-based [lo, hi), zero outside the chromosome and where no data."""
        buf = np.zeros(hi - lo, dtype=np.float32)
        a, b = max(lo, 0), min(hi, length)
        if a < b:
            vals = self._handle(t).values(name, a, b, numpy=True)
            buf[a - lo:b - lo] = np.nan_to_num(vals, nan=0.0, posinf=0.0, neginf=0.0)
        return buf

    def _windows(self, region):
        """Strided view whose row ``o`` is ``region[o : o + span]`` binned to ``width`` values."""
        if self.bin_size == 1:
            return sliding_window_view(region, self.width)
        cs = np.concatenate([[0.0], np.cumsum(region, dtype=np.float64)])
        bin_means = ((cs[self.bin_size:] - cs[:-self.bin_size]) / self.bin_size).astype(np.float32)
        # bin k of a window at offset o is bin_means[o + k * bin_size]
        return sliding_window_view(bin_means, self.span - self.bin_size + 1)[:, ::self.bin_size]

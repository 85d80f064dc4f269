"""Approximately independent LD blocks: read from a file or found in a reference panel.

Why blocks. A reference panel of ``n`` people shows sample correlations of size about
``1/sqrt(n)`` between variants that are not in LD at all. The windowed likelihood reads that
noise as tagging: an extended variant ``e`` unlinked to a window's core is "explained" by the
core's panel genotypes with an R^2 of about ``k/n`` (``k`` kept eigen-directions of the core), so
every unlinked flank variant is credited with a share of the core's signal, and h2 comes out low
(-30 to -45 % in the split-panel study of docs "LD from a reference panel", issue 28). LD score
regression has the same problem through the panel's r^2. The field's answer (LDpred2, PRS-CS,
SBayesRC, graphREML's LDGMs) is to cut LD at approximately independent blocks: one window per
block, core = extended set = the block's variants, no LD across blocks.

Blocks from a file. :func:`read_ld_blocks` reads LDetect-style BED files (``chr start stop``,
0-based half-open, with or without a header; Berisa & Pickrell 2016, and the GRCh38 blocks of
MacDonald et al. 2022).

Blocks from the panel. :func:`detect_ld_blocks` finds them in the LD itself, in the spirit of
LDetect: for each gap between consecutive variants, the *cross-LD* of the gap is the sum of
``r^2 - (1 - r^2) / (n - 2)`` (ldsc's unbiased r^2) over the variant pairs on either side of it
that lie within ``band_bp`` of each other; blocks are cut where that sum is low. A dynamic
programme chooses the cuts that minimise the summed cross-LD minus a reward ``cut_level x
median cross-LD`` per cut, every block spanning between ``min_bp`` and ``max_bp`` (where the
variants allow). The reward is what makes the programme cut wherever the LD across a gap is
negligible next to the chromosome's typical LD, not only where ``max_bp`` forces it: two
unlinked stretches in one block would bring their noise back. Measured on the shipped
1000 Genomes panel (12 unlinked 1 Mb regions end to end, every 4th SNP; ``band_bp`` = 100 kb):
every region edge ranked among the lowest 0.7 % of gaps for the 245-person half panels, and the
defaults cut all 11 of them (docs "LD from a reference panel").
"""
from __future__ import annotations

import logging
import os
from collections import deque

import numpy as np
import pandas as pd

from .utils.chrom import normalise_chrom

__all__ = ["read_ld_blocks", "detect_ld_blocks", "cross_ld_profile", "choose_cuts",
           "windows_from_blocks", "BLOCK_DEFAULTS"]

log = logging.getLogger(__name__)

#: settings of :func:`detect_ld_blocks` (band of the cross-LD sum, block span limits, the cut
#: reward relative to the median cross-LD)
BLOCK_DEFAULTS = dict(band_bp=100_000, min_bp=200_000, max_bp=3_000_000, cut_level=0.05)


def read_ld_blocks(blocks):
    """LD blocks from a BED-like file or table.

    Parameters
    ----------
    blocks : str, path or pandas.DataFrame
        A whitespace- or tab-separated file with three columns ``chrom start end`` (LDetect's
        ``chr start stop`` header, a BED file without header, optionally gzipped), or a
        DataFrame with those columns (names matched case-insensitively; ``chr``/``stop``
        accepted). Intervals are 0-based half-open: a variant at 1-based position ``p`` lies
        in a block when ``start < p <= end``... see Notes.

    Returns
    -------
    pandas.DataFrame
        ``chrom, start, end`` sorted by chromosome and start.

    Notes
    -----
    BED intervals ``[start, end)`` are 0-based; a variant's 1-based position ``p`` is the base
    ``p - 1``, so it lies in the block when ``start <= p - 1 < end``, i.e. ``start < p <= end``.
    Overlapping blocks are refused (a variant must belong to one block).
    """
    if isinstance(blocks, pd.DataFrame):
        frame = blocks.copy()
        where = "the ld_blocks table"
    else:
        path = os.fspath(blocks)
        if not os.path.exists(path):
            raise FileNotFoundError(f"LD block file not found: {path}")
        frame = pd.read_csv(path, sep=r"\s+", header=None, comment="#", dtype=str)
        where = path
        first = [str(x).lower() for x in frame.iloc[0, :3]] if len(frame) else []
        if first and not first[1].lstrip("-").isdigit():
            frame = frame.iloc[1:].reset_index(drop=True)   # a header line
        frame = frame.iloc[:, :3]
        frame.columns = ["chrom", "start", "end"]
    names = {str(c).lower(): c for c in frame.columns}
    alias = {"chrom": ("chrom", "chr", "chromosome"), "start": ("start", "chromstart"),
             "end": ("end", "stop", "chromend")}
    cols = {}
    for want, options in alias.items():
        hit = next((names[o] for o in options if o in names), None)
        if hit is None:
            raise ValueError(f"{where}: no {want!r} column (have {list(frame.columns)})")
        cols[want] = hit
    try:
        out = pd.DataFrame({"chrom": normalise_chrom(frame[cols["chrom"]].to_numpy()),
                            "start": pd.to_numeric(frame[cols["start"]]).astype(np.int64),
                            "end": pd.to_numeric(frame[cols["end"]]).astype(np.int64)})
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: block start/end must be integers ({exc})") from None
    if len(out) == 0:
        raise ValueError(f"{where}: no LD blocks")
    if np.any(out["end"] <= out["start"]):
        bad = out[out["end"] <= out["start"]].iloc[0]
        raise ValueError(f"{where}: a block ends before it starts "
                         f"({bad.chrom}:{bad.start}-{bad.end})")
    out = out.sort_values(["chrom", "start"], kind="stable").reset_index(drop=True)
    same = out["chrom"].to_numpy()[1:] == out["chrom"].to_numpy()[:-1]
    overlap = same & (out["start"].to_numpy()[1:] < out["end"].to_numpy()[:-1])
    if np.any(overlap):
        i = int(np.flatnonzero(overlap)[0])
        a, b = out.iloc[i], out.iloc[i + 1]
        raise ValueError(f"{where}: LD blocks overlap ({a.chrom}:{a.start}-{a.end} and "
                         f"{b.start}-{b.end})")
    return out


def windows_from_blocks(chrom, pos, blocks):
    """One window per block (core = extended = the block's variants).

    Parameters
    ----------
    chrom, pos : array-like
        Variants in genome order (as :func:`deepwas.windows.make_windows` needs them).
    blocks : pandas.DataFrame
        ``chrom, start, end`` as :func:`read_ld_blocks` returns.

    Returns
    -------
    windows : list of (ndarray, ndarray)
    window_chrom : ndarray of str
    outside : ndarray of int
        Variants in no block (the caller drops and counts them).
    """
    chrom = np.asarray(chrom, dtype=object)
    pos = np.asarray(pos, dtype=np.int64)
    block_of = np.full(len(pos), -1, dtype=np.int64)
    for c, rows in blocks.groupby("chrom", sort=False).groups.items():
        sel = np.flatnonzero(chrom == c)
        if not len(sel):
            continue
        b = blocks.loc[rows]
        starts, ends = b["start"].to_numpy(), b["end"].to_numpy()
        i = np.searchsorted(starts, pos[sel] - 1, side="right") - 1
        inside = (i >= 0) & (pos[sel] <= ends[np.clip(i, 0, None)])
        block_of[sel[inside]] = np.asarray(rows)[i[inside]]
    windows, wchrom = [], []
    order = np.flatnonzero(block_of >= 0)
    if len(order):
        cuts = np.flatnonzero(np.diff(block_of[order])) + 1
        for part in np.split(order, cuts):
            windows.append((part.astype(np.int64), part.astype(np.int64)))
            wchrom.append(chrom[part[0]])
    return windows, np.asarray(wchrom, dtype=object), np.flatnonzero(block_of < 0)


def cross_ld_profile(ld, rows, pos, n_ref, band_bp=BLOCK_DEFAULTS["band_bp"], chunk=512):
    """Cross-LD of every gap between consecutive variants of one chromosome (module docstring).

    Parameters
    ----------
    ld : LDSource
        Read with ``ld.block`` in chunks of ``chunk`` rows against the rows within
        ``band_bp``.
    rows : ndarray of int
        The chromosome's variants (indices into ``ld``), in position order.
    pos : ndarray of int
        Their positions.
    n_ref : int
        Panel size, for the unbiased r^2 (``r^2 - (1 - r^2) / (n_ref - 2)``).
    band_bp : int

    Returns
    -------
    ndarray, shape (len(rows) - 1,)
        ``cross[g]`` for the gap between variants ``g`` and ``g + 1``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    pos = np.asarray(pos, dtype=np.int64)
    M = len(rows)
    if M < 2:
        return np.zeros(0)
    hi = np.searchsorted(pos, pos + band_bp, side="right")
    diff = np.zeros(M + 1)
    for a0 in range(0, M, chunk):
        a1 = min(M, a0 + chunk)
        b1 = int(hi[a1 - 1])
        r2 = ld.block(rows[a0:a1], rows[a0:b1]) ** 2
        r2 = r2 - (1.0 - r2) / (n_ref - 2.0)
        ia = np.arange(a0, a1)[:, None]
        ib = np.arange(a0, b1)[None, :]
        r2[~((ib > ia) & (ib < hi[a0:a1, None]))] = 0.0
        # the pair (a, b) spans the gaps a .. b-1
        diff[a0:a1] += r2.sum(1)
        diff[a0:b1] -= r2.sum(0)
    return np.cumsum(diff)[:M - 1]


def choose_cuts(cost, pos, min_bp, max_bp):
    """The gaps to cut: least summed ``cost`` with every block spanning ``[min_bp, max_bp]``.

    A block is a run of consecutive variants; its span is the distance between its first and
    last variant. ``max_bp`` is a hard limit (a one-variant block always meets it); a block
    spanning less than ``min_bp`` is allowed only where the variants leave no other choice
    (it carries a penalty larger than any sum of costs), at a chromosome's ends as anywhere:
    the cross-LD of the gaps near an end is low only because one side holds few variants.
    While the last block was exempt, the programme cut a chromosome's last variant off into a
    block of its own wherever that sum fell below the cut reward (the 13th "block" of the
    reference-panel study's 12 loci); alone in its window it had an LD score of 1 for a true
    15, about 2,000 times the median LD score regression weight at h2 0.2, and biased LDSR's
    enrichment of a 20 % annotation by -18 % (300 replicates in-sample; -1 % without it).
    Linear in the number of variants (two sliding-window minima).

    Parameters
    ----------
    cost : ndarray, shape (M - 1,)
        Cost of cutting each gap (may be negative: cutting there is rewarded).
    pos : ndarray, shape (M,)
    min_bp, max_bp : int

    Returns
    -------
    ndarray of int
        Gaps to cut (gap ``g`` lies between variants ``g`` and ``g + 1``), increasing.
    """
    pos = np.asarray(pos, dtype=np.int64)
    cost = np.asarray(cost, dtype=np.float64)
    M = len(pos)
    if M < 2:
        return np.zeros(0, dtype=np.int64)
    short_penalty = 1e3 * (float(np.abs(cost).sum()) + 1.0)
    # node k (0..M) is a cut just before variant k; nodes 0 and M are the chromosome's ends,
    # and the block (j, k) holds variants j .. k-1
    best = np.full(M + 1, np.inf)
    best[0] = 0.0
    prev = np.zeros(M + 1, dtype=np.int64)
    long_ok, short = deque(), deque()    # starts by span >= min_bp / < min_bp, best increasing
    admit = 0                            # first start whose span is still below min_bp
    for k in range(1, M + 1):
        last = pos[k - 1]
        _push(short, k - 1, best)
        while admit < k and last - pos[admit] >= min_bp:
            _push(long_ok, admit, best)
            admit += 1
        while short and short[0] < admit:
            short.popleft()
        while long_ok and last - pos[long_ok[0]] > max_bp:
            long_ok.popleft()
        options = []
        if long_ok:
            options.append((best[long_ok[0]], long_ok[0]))
        if short:
            options.append((best[short[0]] + short_penalty, short[0]))
        value, j = min(options)
        best[k] = value + (cost[k - 1] if k < M else 0.0)
        prev[k] = j
    cuts, k = [], M
    while k > 0:
        k = int(prev[k])
        if k > 0:
            cuts.append(k - 1)
    return np.asarray(cuts[::-1], dtype=np.int64)


def _push(window, j, best):
    """Add start ``j`` to a sliding-minimum deque of ``best``."""
    while window and best[window[-1]] >= best[j]:
        window.pop()
    window.append(j)


def detect_ld_blocks(ld, chrom, pos, n_ref, *, band_bp=BLOCK_DEFAULTS["band_bp"],
                     min_bp=BLOCK_DEFAULTS["min_bp"], max_bp=BLOCK_DEFAULTS["max_bp"],
                     cut_level=BLOCK_DEFAULTS["cut_level"]):
    """Approximately independent LD blocks found in the LD itself (module docstring).

    Parameters
    ----------
    ld : LDSource
        Indexed like ``chrom`` and ``pos``.
    chrom, pos : array-like
        Variants in genome order.
    n_ref : int
        Size of the panel the LD was computed from (at least 4).
    band_bp, min_bp, max_bp : int
        Pairs within ``band_bp`` enter the cross-LD; block spans between ``min_bp`` and
        ``max_bp``.
    cut_level : float
        Reward per cut, as a share of the chromosome's median cross-LD.

    Returns
    -------
    pandas.DataFrame
        ``chrom, start, end`` (0-based half-open, as :func:`read_ld_blocks`), with
        ``n_variants`` and ``cut_cross_ld`` (the cross-LD at the block's right edge, NaN for the
        last block of a chromosome) for inspection.
    """
    if n_ref is None or n_ref < 4:
        raise ValueError(f"finding LD blocks needs the panel size (n_ref >= 4), got {n_ref!r}")
    chrom = np.asarray(chrom, dtype=object)
    pos = np.asarray(pos, dtype=np.int64)
    out = []
    starts = np.flatnonzero(np.r_[True, chrom[1:] != chrom[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(chrom)]):
        p = pos[a:b]
        cross = cross_ld_profile(ld, np.arange(a, b), p, n_ref, band_bp)
        level = cut_level * max(float(np.median(cross)), 0.0) if len(cross) else 0.0
        cost = cross - level
        # never between two variants at one position: no block edge could separate them
        cost[np.diff(p) == 0] = np.abs(cost).sum() + 1.0
        cuts = choose_cuts(cost, p, min_bp, max_bp)
        first = np.r_[0, cuts + 1]
        last = np.r_[cuts, len(p) - 1]
        for i, (lo, hi) in enumerate(zip(first, last)):
            # edges halfway between the variants either side of a cut
            # (a first variant at position 0, which some tables use, must lie inside too)
            start = min(0, int(p[0]) - 1) if i == 0 else (p[lo - 1] + p[lo]) // 2
            end = p[hi] + 1 if i == len(first) - 1 else (p[hi] + p[hi + 1]) // 2
            out.append((chrom[a], int(start), int(end), int(hi - lo + 1),
                        float(cross[hi]) if i < len(first) - 1 else np.nan))
    return pd.DataFrame(out, columns=["chrom", "start", "end", "n_variants", "cut_cross_ld"])

"""Held-out windows when chromosomes are few: genomic regions and contiguous blocks of windows.

``stats.groups`` (one chromosome per window) is the natural ``groups=`` of
:class:`~sklearn.model_selection.GroupKFold`. With one or two chromosomes that leaves too few
groups; these helpers hold out parts of chromosomes instead.

* :func:`region_mask`: the windows whose core lies in a region such as
  ``"22:30000000-40000000"`` (``deepwas fit --test-region``).
* :func:`block_groups`: contiguous blocks of windows as groups for ``GroupKFold``.
* :func:`flank_overlap`: the windows that see held-out variants through their flanks.

Hold-outs inside a chromosome leak a little: a window next to a held-out block has the block's
first variants in its extended set (its likelihood uses their LD with its own core), so the
two are not independent as whole chromosomes are. Leave such windows out of training
(:func:`flank_overlap`, as ``deepwas fit --test-region`` does) for a strict hold-out.
"""
from __future__ import annotations

import re

import numpy as np

from .utils.chrom import chrom_sort_key, normalise_chrom

__all__ = ["parse_region", "region_mask", "block_groups", "flank_overlap"]

_REGION = re.compile(r"^\s*([^:\s]+)\s*:\s*([\d,_]+)\s*-\s*([\d,_]+)\s*$")


def parse_region(region):
    """``"chr22:30,000,000-40,000,000"`` -> ``("22", 30000000, 40000000)``.

    Parameters
    ----------
    region : str
        ``CHR:START-END`` with 1-based inclusive positions (commas and a ``chr`` prefix allowed).

    Returns
    -------
    tuple of (str, int, int)
    """
    m = _REGION.match(str(region))
    if not m:
        raise ValueError(f"region {region!r} is not CHR:START-END, e.g. 22:30000000-40000000")
    start, end = (int(g.replace(",", "").replace("_", "")) for g in m.group(2, 3))
    if end < start:
        raise ValueError(f"region {region!r} ends before it starts")
    return normalise_chrom(m.group(1)), start, end


def _core_spans(stats):
    """Chromosome, first and last core position of every window of ``stats``."""
    pos = stats.variants["pos"].to_numpy(dtype=np.int64)
    spans = [(int(pos[core].min()), int(pos[core].max())) for core, _ in stats.windows]
    chrom = normalise_chrom(np.asarray(stats.groups).astype(str))
    lo = np.array([s[0] for s in spans], dtype=np.int64)
    hi = np.array([s[1] for s in spans], dtype=np.int64)
    return chrom, lo, hi


def region_mask(stats, regions):
    """Which windows have their whole core inside one of ``regions``.

    Parameters
    ----------
    stats : SummaryStats
    regions : str or sequence of str
        ``CHR:START-END`` (1-based, inclusive; see :func:`parse_region`).

    Returns
    -------
    ndarray of bool, shape (len(stats),)

    Raises
    ------
    ValueError
        A region holds no window's core; the message lists what the windows of that
        chromosome cover.
    """
    if isinstance(regions, str):
        regions = [regions]
    chrom, lo, hi = _core_spans(stats)
    mask = np.zeros(len(stats), dtype=bool)
    for text in regions:
        c, start, end = parse_region(text)
        hit = (chrom == c) & (lo >= start) & (hi <= end)
        if not hit.any():
            on = chrom == c
            cover = (f"the cores of its {int(on.sum())} windows span "
                     f"{lo[on].min() / 1e6:.2f}-{hi[on].max() / 1e6:.2f} Mb" if on.any()
                     else "no window is on chromosome " + c)
            raise ValueError(f"no window's core lies within {text} ({cover}); widen the region "
                             "to hold whole windows")
        mask |= hit
    return mask


def flank_overlap(stats, mask):
    """Windows outside ``mask`` whose extended set holds a core variant of a masked window.

    Parameters
    ----------
    stats : SummaryStats
    mask : array-like of bool, shape (len(stats),)
        The held-out windows.

    Returns
    -------
    ndarray of bool, shape (len(stats),)
        Leave these out of training for a strict hold-out (see the module docstring).
    """
    mask = np.asarray(mask, dtype=bool)
    wins = stats.windows
    held = np.zeros(stats.n_variants, dtype=bool)
    for k in np.flatnonzero(mask):
        held[wins[k][0]] = True
    return np.array([not mask[k] and bool(held[ext].any()) for k, (_, ext) in enumerate(wins)],
                    dtype=bool)


def block_groups(stats, n_blocks):
    """Contiguous blocks of windows as cross-validation groups.

    Each chromosome is cut into consecutive runs of windows (by position), with the blocks
    shared out between chromosomes in proportion to their numbers of windows, so that blocks
    hold roughly equal numbers of windows and never span two chromosomes. The thinned cores of
    one LD block (``ld_regularisation="thinned"``, :attr:`SummaryStats.window_units`) always
    share a block: they share the block's LD and statistics.

    Parameters
    ----------
    stats : SummaryStats
    n_blocks : int
        Number of blocks: at least the number of chromosomes, at most the number of windows.

    Returns
    -------
    ndarray of int, shape (len(stats),)
        Block label of each window, 0 .. n_blocks - 1 in genome order; pass it as ``groups=``
        to :class:`~sklearn.model_selection.GroupKFold`.

    Examples
    --------
    >>> from sklearn.model_selection import GroupKFold
    >>> groups = block_groups(stats, 10)                           # doctest: +SKIP
    >>> for train, test in GroupKFold(5).split(stats, groups=groups):   # doctest: +SKIP
    ...     est.fit(stats[train]).score(stats[test])
    """
    chrom, lo, _ = _core_spans(stats)
    # windows that share an LD block (thinned cores) are one unit: never split between groups
    units = np.asarray(stats.window_units)
    first = np.flatnonzero(np.r_[True, np.diff(units) != 0])
    chrom = chrom[first]
    lo = np.minimum.reduceat(lo, first)
    what = "windows" if len(first) == len(stats) else "units of windows sharing an LD block"
    names = sorted(set(chrom), key=chrom_sort_key)
    sizes = np.array([int((chrom == c).sum()) for c in names])
    n_blocks = int(n_blocks)
    if not len(names) <= n_blocks <= len(first):
        raise ValueError(f"n_blocks must lie between the number of chromosomes ({len(names)}; "
                         f"for fewer groups use stats.groups) and the number of {what} "
                         f"({len(first)}), got {n_blocks}")
    per = np.ones(len(names), dtype=np.int64)
    for _ in range(n_blocks - len(names)):    # next block to the chromosome with most per block
        room = np.where(per < sizes, sizes / per, -1.0)
        per[int(np.argmax(room))] += 1
    labels = np.empty(len(first), dtype=np.int64)
    start = 0
    for c, b in zip(names, per):
        idx = np.flatnonzero(chrom == c)
        idx = idx[np.argsort(lo[idx], kind="stable")]
        labels[idx] = start + (np.arange(len(idx)) * b) // len(idx)
        start += b
    return labels[units]

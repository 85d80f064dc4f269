"""Synthetic genomic signal tracks of the demo, written as real bigWig files in hg38: smooth
"broad" marks (a log-normal field) alternating with sparse "peak" tracks, 100 bp bins,
deterministic for a seed (step 2 of :func:`deepwas.datasets.load_demo`)."""
from __future__ import annotations

import os

import numpy as np

from ..io.contigs import CHROM_LENGTHS

__all__ = ["HG38_LENGTHS", "write_demo_tracks"]

#: hg38 (GRCh38) autosome lengths, for the bigWig headers.
HG38_LENGTHS = {c: n for c, n in CHROM_LENGTHS["GRCh38"].items() if c not in ("X", "Y")}
_TRACK_STEP = 100  # bp per bigWig interval


def _smooth(x, sd_steps):
    """Gaussian smoothing by FFT (circular is fine: the ends are padding)."""
    n = len(x)
    k = np.fft.rfftfreq(n)
    return np.fft.irfft(np.fft.rfft(x) * np.exp(-2 * (np.pi * k * sd_steps) ** 2), n)


def _track_values(kind, n_steps, rng):
    """One track on ``n_steps`` bins of 100 bp: non-negative, like a real signal track."""
    if kind == "broad":
        # a chromatin-mark-like smooth field, correlation length ~10 kb, log-normal values
        x = _smooth(rng.standard_normal(n_steps), 50.0)
        x /= x.std() if x.std() > 0 else 1.0
        return np.exp(0.8 * x).astype(np.float32)
    # peaks: ~1 per 25 kb, 300 bp - 1.5 kb wide, exponential heights, low background
    out = np.full(n_steps, 0.05)
    n_peaks = rng.poisson(n_steps / 250)
    centres = rng.uniform(0, n_steps, n_peaks)
    widths = rng.uniform(3, 15, n_peaks)
    heights = rng.exponential(2.0, n_peaks)
    grid = np.arange(n_steps)
    for c, w, h in zip(centres, widths, heights):
        lo, hi = int(max(0, c - 4 * w)), int(min(n_steps, c + 4 * w + 1))
        out[lo:hi] += h * np.exp(-0.5 * ((grid[lo:hi] - c) / w) ** 2)
    return out.astype(np.float32)


def _track_kinds(n_tracks):
    kinds = [("broad" if i % 2 == 0 else "peaks") for i in range(n_tracks)]
    names, counts = [], {}
    for k in kinds:
        counts[k] = counts.get(k, 0) + 1
        names.append(f"synthetic_{k}{counts[k]}")
    return kinds, names


def write_demo_tracks(directory, spans, n_tracks=4, random_state=0, pad=100_000):
    """Write synthetic hg38 signal tracks as bigWig files.

    Parameters
    ----------
    directory : str
        Where to write ``<name>.bigWig``.
    spans : dict
        hg38 chromosome (no prefix) -> (first, last) 1-based position to cover.
    n_tracks : int
        Alternating "broad" (smooth log-normal field) and "peaks" (sparse bumps) tracks.
    random_state : int
    pad : int
        Extra bp covered on each side of every span.

    Returns
    -------
    paths, names : list of str
    """
    import pyBigWig

    os.makedirs(directory, exist_ok=True)
    kinds, names = _track_kinds(n_tracks)
    chroms = sorted(spans, key=lambda c: int(c))
    header = [(f"chr{c}", HG38_LENGTHS[c]) for c in chroms]
    paths = []
    for t, (kind, name) in enumerate(zip(kinds, names)):
        path = os.path.join(directory, f"{name}.bigWig")
        tmp = path + f".tmp{os.getpid()}"
        bw = pyBigWig.open(tmp, "w")
        try:
            bw.addHeader(header, maxZooms=4)
            for c in chroms:
                lo, hi = spans[c]
                start = max(0, (int(lo) - 1 - pad) // _TRACK_STEP * _TRACK_STEP)
                end = min(HG38_LENGTHS[c], int(hi) + pad)
                n_steps = (end - start) // _TRACK_STEP
                rng = np.random.default_rng([int(random_state), int(c), t, 7919])
                vals = _track_values(kind, n_steps, rng)
                bw.addEntries(f"chr{c}", start, values=vals.astype(np.float64).tolist(),
                              span=_TRACK_STEP, step=_TRACK_STEP)
        finally:
            bw.close()
        os.replace(tmp, path)
        paths.append(path)
    return paths, names

"""Throughput of BigWigTracks.get vs one pyBigWig call per variant window, in one run.

Prints variant-windows x tracks per second for the region-read + strided-view path and for
the naive path (one ``bw.values`` call per variant and track), and their ratio. Uses the
shipped real track (hg38 chr17, base-resolution signal, 100,000 intervals over 156 kb).

    python benchmarks/bench_bigwig.py [--n 20000] [--tracks 8] [--width 256]
"""
import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig

import deepwas
from deepwas.features import BigWigTracks

TRACK = str(Path(deepwas.__file__).parent / "datasets" / "data" / "bigwig" / "valid.bigWig")


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000, help="variants")
    ap.add_argument("--tracks", type=int, default=8)
    ap.add_argument("--width", type=int, nargs="+", default=[256, 128])
    ap.add_argument("--naive-n", type=int, default=1_000, help="variants timed for the naive path")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    pos = np.sort(rng.integers(60_000, 216_000, a.n))  # 1-based, inside the track's data
    variants = pd.DataFrame({"chrom": "17", "pos": pos, "snp": "x", "a1": "A", "a2": "G",
                             "freq": 0.5, "row": np.arange(a.n)})
    bw = pyBigWig.open(TRACK)
    for width in a.width:
        tr = BigWigTracks([TRACK] * a.tracks, width=width)
        tr.get(variants.iloc[:10])  # open handles
        t_fast = best_of(lambda: tr.get(variants), 3)
        fast = a.n * a.tracks / t_fast

        sub = pos[:: max(1, a.n // a.naive_n)]
        out = np.zeros((len(sub), a.tracks, width), dtype=np.float32)

        def naive():
            for t in range(a.tracks):
                for i, p in enumerate(sub):
                    lo = int(p) - 1 - width // 2
                    out[i, t] = np.nan_to_num(bw.values("chr17", lo, lo + width, numpy=True))

        t_naive = best_of(naive, 2)
        slow = len(sub) * a.tracks / t_naive
        print(f"width {width:4d}: {a.n} variants x {a.tracks} tracks: "
              f"{fast:,.0f} variant-windows x tracks / s (region read + strided views); "
              f"naive one call per window: {slow:,.0f} / s; ratio {fast / slow:.1f}x")


if __name__ == "__main__":
    main()

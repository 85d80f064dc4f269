"""Cost of checking every line's field count while reading summary statistics, in one run.

Writes a gzip tab-separated and a plain space-separated table (``--n`` rows, nine columns, as
``pandas.to_csv`` writes them) and prints, for each, the time of ``read_sumstats`` and of the
same file streamed through :class:`deepwas.io._delimiters.CheckedLines` alone (the check)
against streaming it unchecked (decompression and reading only), with their ratio.

    python benchmarks/bench_sumstats_reading.py [--n 1000000] [--repeat 2]
"""
import argparse
import gzip
import io
import os
import tempfile
import timeit

import numpy as np
import pandas as pd

from deepwas.io import read_sumstats
from deepwas.io._delimiters import CheckedLines


def best_of(fn, repeat):
    return min(timeit.repeat(fn, number=1, repeat=repeat))


def stream(path, sep, checked):
    raw = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")
    fh = io.BufferedReader(CheckedLines(raw, sep, path), 1 << 20) if checked else raw
    with fh:
        while fh.read(1 << 20):
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    n = a.n
    df = pd.DataFrame({"SNP": [f"rs{k}" for k in range(n)], "CHR": rng.integers(1, 23, n),
                       "BP": rng.integers(1, 10 ** 8, n), "A1": "A", "A2": "G",
                       "BETA": rng.normal(size=n), "SE": rng.uniform(0.1, 1, n),
                       "P": rng.uniform(size=n), "N": 100000})
    with tempfile.TemporaryDirectory() as d:
        files = [(os.path.join(d, "x.tsv.gz"), "\t"), (os.path.join(d, "x.txt"), r"\s+")]
        df.to_csv(files[0][0], sep="\t", index=False)
        df.to_csv(files[1][0], sep=" ", index=False)
        print(f"{n:,} rows; best of {a.repeat}")
        print(f"{'file':<10} {'read_sumstats s':>16} {'stream s':>9} {'checked s':>10} "
              f"{'check / read_sumstats':>22}")
        for path, sep in files:
            full = best_of(lambda: read_sumstats(path), a.repeat)
            plain = best_of(lambda: stream(path, sep, False), a.repeat)
            checked = best_of(lambda: stream(path, sep, True), a.repeat)
            print(f"{os.path.basename(path):<10} {full:>16.2f} {plain:>9.2f} {checked:>10.2f} "
                  f"{(checked - plain) / full:>22.3f}")


if __name__ == "__main__":
    main()

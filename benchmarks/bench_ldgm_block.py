"""Cost of one real LDGM block on each LDGM path, projected to a genome of LDGM blocks.

Each LDGM block is one window. Three paths: the exact likelihood from the sparse precision
itself (``ld_regularisation="none"``, the default of ``from_ldgm``: a sparse LDL^T per step,
:mod:`deepwas.precision_windows`; its "precompute" is the Schur complement of the variants
without statistics and two log-determinants, nothing is written to disk); the same exact
likelihood on the dense path (``"truncate"`` with ``ld_share=1.0``: the block's LD formed dense
and eigendecomposed once, every eigenvalue kept); and the dense default of other LD sources
(``"mismatch"``: the leading eigenvectors). Run with one BLAS thread (set here before numpy loads)::

    python benchmarks/bench_ldgm_block.py                 # the block in ../shared/data/ldgm
    python benchmarks/bench_ldgm_block.py --ldgm DIR      # e.g. a folder from deepwas data fetch

Prints, for each block found (``--max-blocks``): indices, variants, the seconds to read the
block, to precompute its factors (both LD regularisations), the factor bytes on disk, and one
likelihood step (loss + gradient, ConstantPrior-like f, float64); then the projection to the
1,361 blocks of a 1000 Genomes ancestry, scaled by the number of indices squared-to-cubed as
stated below the table.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

import deepwas  # noqa: E402
from deepwas.io.ldgm import LDGMSource  # noqa: E402
from deepwas.precompute import precompute_windows  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BLOCKS_PER_ANCESTRY = 1361


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ldgm", default=os.path.join(HERE, os.pardir, os.pardir, "shared", "data",
                                                   "ldgm"))
    ap.add_argument("--population", default="EUR")
    ap.add_argument("--max-blocks", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"deepwas {deepwas.__version__}, torch {torch.__version__}, numpy {np.__version__}, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPU cores, one thread; load "
          f"average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    t = time.perf_counter()
    src = LDGMSource(args.ldgm, population=args.population)
    read_s = time.perf_counter() - t
    blocks = src.blocks.head(args.max_blocks)
    rng = np.random.default_rng(0)
    v = src.variants
    v = v[v["block"].isin(blocks.index)]
    ss = pd.DataFrame({"SNP": v["snp"], "CHR": v["chrom"], "BP": v["pos"], "A1": v["a1"],
                       "A2": v["a2"], "Z": rng.standard_normal(len(v)), "N": 100_000.0})
    rows = []
    paths = (("none: sparse", dict(ld_regularisation="none")),
             ("dense exact", dict(ld_regularisation="truncate", ld_share=1.0)),
             ("mismatch: dense", dict(ld_regularisation="mismatch")))
    for reg, options in paths:
        with tempfile.TemporaryDirectory() as cache:
            st = deepwas.SummaryStats.from_ld_source(src, ss, keep_ambiguous=True,
                                                     cache_dir=cache, **options)
            rep = precompute_windows(st)
            f = torch.full((st.n_variants,), 0.5 / st.n_variants, dtype=torch.float64,
                           requires_grad=True)
            t = time.perf_counter()
            loss = -deepwas.marginal_loglik(st, f)
            loss.backward()
            step_s = time.perf_counter() - t
        rows.append((reg, len(st), st.n_variants, rep.seconds / len(st),
                     rep.bytes_on_disk / len(st), step_s / len(st)))
    n_idx = int(blocks["n_indices"].mean())
    print(f"\n{len(blocks)} block(s) of {args.ldgm}: {n_idx:,} indices on average, LDGMSource "
          f"read in {read_s:.1f} s")
    print(f"{'path':>18} {'blocks':>7} {'variants':>9} {'precompute s/block':>19} "
          f"{'disk/block':>11} {'step s/block':>13} {'1361 blocks: precompute':>24} "
          f"{'disk':>9} {'epoch':>9}")
    print("-" * 128)
    for reg, nb, nv, pre, disk, step in rows:
        n = BLOCKS_PER_ANCESTRY
        print(f"{reg:>18} {nb:>7} {nv:>9,} {pre:>19.2f} {disk / 1e6:>8.1f} MB {step:>13.3f} "
              f"{pre * n / 3600:>22.2f} h {disk * n / 1e9:>6.1f} GB {step * n / 60:>6.1f} min")
    print("\nprojection: the measured block times 1,361 (blocks of other sizes cost about the "
          "cube of their index count to precompute and the square to store)")


if __name__ == "__main__":
    main()

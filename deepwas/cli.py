"""The ``deepwas`` command line."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import numpy as np

__all__ = ["main"]


def _demo(args):
    """Profile likelihood of a constant prior on the shipped 1000 Genomes LD and BOLT statistics."""
    import pandas as pd

    from . import SummaryStats, marginal_loglik

    data = os.path.join(os.path.dirname(__file__), "datasets", "data", "1000g_eur_22regions")
    ss = pd.read_csv(os.path.join(data, "bolt.sumstats.txt.gz"), sep="\t")
    ss = ss.rename(columns={"ALLELE1": "A1", "ALLELE0": "A2"}).assign(Z=lambda d: d.BETA / d.SE)
    t0 = time.perf_counter()
    stats = SummaryStats.from_plink([os.path.join(data, f"1000G.subset.{c}") for c in range(1, 23)],
                                    ss, n=args.n)
    stats.precompute(progress=True)
    print(f"{stats}; windows precomputed in {time.perf_counter() - t0:.1f} s")
    M = stats.n_variants
    print(f"{'h2':>6} {'log-lik gain':>14} {'nats/person':>12}")
    best = None
    for h2 in np.linspace(0.05, 0.95, 19):
        # a unit-variance phenotype: residual variance 1 - h2
        gain = marginal_loglik(stats, np.full(M, h2 / args.m_genome), relative_to_null=True,
                               sigma2=1.0 - h2)
        print(f"{h2:>6.2f} {gain:>14.2f} {gain / stats.n:>12.3e}")
        best = max(best or (gain, h2), (gain, h2))
    print(f"maximum-likelihood h2 of a constant prior (f = h2 / {args.m_genome:g}): {best[1]:.2f}")
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="deepwas", description="Functionally informed GWAS priors "
                                "learned from summary statistics (DeepWAS / LDSR).")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress and data drops")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="run the method end to end on the shipped 1000 Genomes data")
    d.add_argument("--n", type=float, default=557_000,
                   help="GWAS sample size of the shipped BOLT statistics (median 1/(2p(1-p) SE^2))")
    d.add_argument("--m-genome", type=float, default=1e6,
                   help="number of variants h2 is spread over (f = h2 / M)")
    d.set_defaults(func=_demo)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"deepwas: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

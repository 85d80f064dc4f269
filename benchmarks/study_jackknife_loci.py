"""Interval calibration of the in-sample default against the number of loci (issue 28).

The reference-panel study's ``realistic-in-sample`` design (``study_reference_panel.py``:
msprime loci end to end, beta-hat drawn through 10,000 people's LD, the model gets that LD
declared in-sample, blocks detected, so the default is the exact likelihood; GLM on the 20 %
annotation A, h2 0.05, N = 100,000) with ``--loci`` loci of msprime seed ``--seed``. Per
replicate: h2, A's enrichment and their SEs from ``partitioned_h2``'s default plan (one block
per LD block, the data being cut at 10 or more: ``jackknife.plan_blocks``) and, with
``--variant-blocks``, from the plan before that (200 blocks of variants that split the LD
blocks) on the same fit. Prints SE : SD and coverage.

Measured (2026-12-05, OMP_NUM_THREADS=1, docs "Standard errors"), SE : SD (coverage) with 200
blocks of variants -> one block per LD block, the same fits: the study's own 12 loci
(``--loci 12 --seed 1 --study-draws``), first 20 replicates, 0.76 (75 %) -> 0.97 (80 %); 12
loci of seed 2, 15 replicates, 0.89 (93 %) -> 1.11 (100 %); 36 loci of seed 1, blocks of
variants, 16 replicates (0-7 and 15-22), 1.03 (94 %), and whole blocks 13 % larger on
replicates 0-3.

    OMP_NUM_THREADS=1 python benchmarks/study_jackknife_loci.py --loci 36 --reps 8 [--out a.csv]

(220 s a replicate with 36 loci, 75-100 s with 12 and ``--variant-blocks``.)
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import study_reference_panel as S  # noqa: E402

import deepwas  # noqa: E402
from deepwas import heritability, jackknife as jk  # noqa: E402

H2 = 0.05
DESIGN = "realistic-in-sample"


def variant_blocks(stats, n_blocks, method="pseudo", split_windows=True):
    """``plan_blocks`` as it was before LD blocks became whole jackknife units: ``n_blocks``
    blocks of contiguous variants that split the windows."""
    labels, n = jk.variant_blocks(stats, n_blocks)
    return labels, n, "variants"


def summary(st, est, plan=None):
    """h2, its SE, A's enrichment and its SE from ``partitioned_h2``, its block plan forced
    to ``plan`` when one is given."""
    saved = heritability.plan_blocks
    heritability.plan_blocks = plan or saved
    try:
        t = est.partitioned_h2(st)
    finally:
        heritability.plan_blocks = saved
    a = t.loc[t["Category"] == "A"].iloc[0]
    return t.attrs["h2"], t.attrs["h2_std_error"], float(a["Enrichment"]), \
        float(a["Enrichment_std_error"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loci", type=int, default=36)
    ap.add_argument("--seed", type=int, default=1, help="msprime seed of the loci")
    ap.add_argument("--reps", type=int, default=16)
    ap.add_argument("--first-rep", type=int, default=0)
    ap.add_argument("--study-draws", action="store_true",
                    help="draw replicate r as study_reference_panel.py does (its 12 loci)")
    ap.add_argument("--variant-blocks", action="store_true",
                    help="also the pseudo-jackknife over 200 blocks of variants that split the "
                         "LD blocks (the plan before whole LD blocks), same fits")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    # the study's annotation draw (seed 2) whatever the loci's seed
    D = S.msprime_panel(loci=args.loci, seed=args.seed, annot_seed=2)
    base = S.base_stats(D, DESIGN, H2, S.ESTIMATORS["exact"], None)
    print(f"{len(D['v'])} variants, {len(base.windows)} windows", flush=True)
    rows = []
    for rep in range(args.first_rep, args.first_rep + args.reps):
        seq = ([rep, S.DESIGNS.index("realistic"), int(H2 * 1000)] if args.study_draws
               else [rep, 99, args.loci] + ([args.seed] if args.seed != 1 else []))
        bh, f = S.draw(D, DESIGN, H2, np.random.default_rng(seq))
        st = base.with_beta_hat(bh)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = deepwas.GLMPrior(random_state=rep).fit(st)
            h2, se, enr, enr_se = summary(st, est)
            row = dict(loci=args.loci, seed=args.seed, rep=rep, h2=h2, h2_se=se,
                       enrichment=enr, enrichment_se=enr_se,
                       enrichment_true=S.enrichment(f, D["annot"]))
            if args.variant_blocks:
                _, row["h2_se_variants"], _, row["enrichment_se_variants"] = \
                    summary(st, est, variant_blocks)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(row, flush=True)
        if args.out:
            pd.DataFrame(rows).to_csv(args.out, index=False)
    df = pd.DataFrame(rows)
    sd = df["h2"].std()
    for col in [c for c in ("h2_se", "h2_se_variants") if c in df]:
        cover = (np.abs(df["h2"] - H2) <= 1.96 * df[col]).mean()
        print(f"{col}: mean SE {df[col].mean():.5f}, SD {sd:.5f}, SE:SD {df[col].mean() / sd:.2f}, "
              f"coverage {cover:.0%} ({len(df)} replicates)")


if __name__ == "__main__":
    main()

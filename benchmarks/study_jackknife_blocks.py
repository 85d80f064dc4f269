"""Jackknife blocks of windows against blocks of contiguous variants (issue 21, item 6).

The replicates of ``study_h2_calibration.py`` (6 shipped 1000 Genomes regions, 3,335 SNPs,
annotation A with true enrichment 2.12, h2 = 0.05, N = 200,000; S-LDSC's linear model fitted
by the exact likelihood), one fit per replicate, then the pseudo-jackknife standard errors of
h2 and of A's enrichment with several block plans on the same fit:

* ``windows/K``: K blocks of contiguous 300-kb windows (24 windows; 6 blocks = the 6 regions);
* ``variants/K``: K blocks of contiguous variants, splitting windows (what ``partitioned_h2``
  does when there are fewer windows than blocks);
* ``one-window``: each region fitted alone as one window (as one LDGM block is) and its
  standard errors from 20 blocks of variants, against the spread of that region's estimates.

Reported per plan: the mean SE, its ratio to the empirical SD of the estimates (calibrated
when within 0.7-1.3) and the 95 % coverage.

    python benchmarks/study_jackknife_blocks.py --replicates 40 --seed 1
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
from study_h2_calibration import H2, N_GWAS, design, draw, truth  # noqa: E402

PLANS = [("windows", 6), ("windows", 24), ("variants", 6), ("variants", 24),
         ("variants", 200)]


def jackknife(est, stats, A, unit, n_blocks):
    """h2, its SE, A's enrichment and its SE with the pseudo-jackknife over ``n_blocks``
    blocks of ``unit``."""
    from deepwas import heritability, jackknife as jk

    def plan(st, n, method="pseudo", split_windows=True):
        if unit == "windows":
            labels, k = jk.jackknife_blocks(len(st), n)
            return labels, k, "windows"
        labels, k = jk.variant_blocks(st, n)
        return labels, k, "variants"

    saved = heritability.plan_blocks
    heritability.plan_blocks = plan          # this study forces the plan; partitioned_h2 chooses
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = est.partitioned_h2(stats, A, n_blocks=n_blocks).set_index("Category")
    finally:
        heritability.plan_blocks = saved
    return (t.attrs["h2"], t.attrs["h2_std_error"], t.loc["A", "Enrichment"],
            t.loc["A", "Enrichment_std_error"])


def main(argv=None):
    import deepwas

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="per-replicate TSV")
    args = ap.parse_args(argv)

    N = N_GWAS
    ld, v, A, B = design()
    f_true, enr_true = truth(A)
    annot = pd.DataFrame({"SNP": v["snp"], "A": A, "B": B})
    rng = np.random.default_rng(args.seed)
    bases, rows = {}, []
    t0 = time.perf_counter()
    for r in range(args.replicates):
        bh = draw(ld, v, f_true, N, H2, rng)
        ss = pd.DataFrame({"SNP": v["snp"], "A1": v["a1"], "A2": v["a2"], "Z": bh * np.sqrt(N),
                           "N": N})
        for name, window_bp in (("300kb", 300_000), ("region", 5_000_000)):
            if name not in bases:
                feats = deepwas.features.ArrayFeatures(pred=np.column_stack([A, B]),
                                                       pred_names=["A", "B"])
                bases[name] = deepwas.SummaryStats.from_ld_source(
                    ld, ss, sigma2=1 - H2, keep_ambiguous=True, window_bp=window_bp,
                    flank_bp=5_000_000 if name == "300kb" else 0, features=feats,
                    ld_regularisation="none")
            base = bases[name]
            order = pd.Index(v["snp"].astype(str)).get_indexer(base.variants["snp"].astype(str))
            flip = np.where(base.variants["a1"].to_numpy() == v["a1"].to_numpy()[order], 1, -1)
            stats = base.with_beta_hat(bh[order] * flip, n=N, sigma2=1 - H2)
            if name == "300kb":
                est = deepwas.GLMPrior(model_params={"link": "identity"},
                                       random_state=0).fit(stats)
                for unit, k in PLANS:
                    h2, h2_se, enr, enr_se = jackknife(est, stats, annot, unit, k)
                    rows.append(dict(replicate=r, plan=f"{unit}/{k}", h2=h2, h2_se=h2_se,
                                     enr=enr, enr_se=enr_se, h2_true=H2, enr_true=enr_true))
                continue
            for w in range(len(stats)):        # each region alone, one window
                one = stats[[w]]
                rows_w = one.variants["row"].to_numpy()
                est = deepwas.GLMPrior(model_params={"link": "identity"},
                                       random_state=0).fit(one)
                h2, h2_se, enr, enr_se = jackknife(est, one, annot, "variants", 20)
                fw, aw = f_true[order][rows_w], A[order][rows_w]
                rows.append(dict(replicate=r, plan=f"one-window/20 (region {w})", h2=h2,
                                 h2_se=h2_se, enr=enr, enr_se=enr_se, h2_true=fw.sum(),
                                 enr_true=(aw * fw).sum() / fw.sum() / aw.mean()))
        if args.out:
            pd.DataFrame(rows).to_csv(args.out, sep="\t", index=False)
        print(f"replicate {r + 1}/{args.replicates} done ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    tab = summarise(pd.DataFrame(rows))
    print(f"\n{args.replicates} replicates, {len(v)} SNPs; {time.perf_counter() - t0:.0f} s")
    print(tab.to_string(index=False, float_format="%.3g"))
    return tab


def summarise(df):
    """Mean SE, SE / SD and 95 % coverage per plan and quantity."""
    out = []
    for plan, g in df.groupby("plan", sort=False):
        for q in ("h2", "enr"):
            truth = g[q + "_true"].to_numpy(dtype=float)
            if not np.isfinite(truth).all():
                continue
            est, se = g[q].to_numpy(), g[q + "_se"].to_numpy()
            sd = est.std(ddof=1)
            out.append({"plan": plan, "quantity": q, "mean": est.mean(), "SD": sd,
                        "mean SE": se.mean(), "SE / SD": se.mean() / sd,
                        "cover95": np.mean(np.abs(est - truth) <= 1.96 * se)})
    return pd.DataFrame(out)


if __name__ == "__main__":
    main()

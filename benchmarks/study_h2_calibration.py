"""Calibration and efficiency of partitioned_h2 (issue 14, item 4).

Semi-synthetic replicates on the shipped 1000 Genomes regions (the design of the gallery
example ``plot_8_partitioned_h2``, thinner: 6 regions, SNPs with MAF >= 1 %, every sixth one
(the example: every fourth); a binary annotation A over a fifth of the SNPs in 100-kb runs
with three times the per-SNP heritability of the rest, a continuous null annotation B uniform
on [0, 2]; N = 200,000, h2 = 0.05; windows of 300 kb with 5-Mb flanks, so each extended set
is its whole region).
Each replicate draws new effects and a new GWAS exactly through the genotypes (the LD, the
windows and their factors are shared) and fits S-LDSC's linear model
(``GLMPrior(model_params={"link": "identity"})``) by LD score regression and by the exact
likelihood, with the pseudo-jackknife (``--jackknife refit`` for refits) over ``--n-blocks``
contiguous blocks of windows: 6 blocks are the 6 regions, nearly independent; 24 (one per
300-kb window) are not, and under-estimate the SEs (docs/heritability.rst).

Reported, for the total h2 and A's enrichment and each solver: bias, empirical SD and RMSE of
the estimates over the replicates, the mean jackknife SE and its ratio to the empirical SD
(calibrated when within 0.7-1.3), and the coverage of the 95 % intervals.

    python benchmarks/study_h2_calibration.py --replicates 50 --seed 1 --n-blocks 6
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np
import pandas as pd


def design(seed=1):
    from deepwas.datasets import demo_bfiles
    from deepwas.ld import read_plink_reference

    rng = np.random.default_rng(seed)
    panel = read_plink_reference(demo_bfiles([1, 2, 3, 4, 5, 6]))
    p = panel.mean / 2
    ok = (np.minimum(p, 1 - p) >= 0.01) & ~panel.monomorphic
    ld = panel.subset(np.flatnonzero(ok)[::6])
    v = ld.variants.reset_index(drop=True)
    run = (v["chrom"].astype(str) + ":" + (v["pos"] // 100_000).astype(str)).to_numpy()
    runs = pd.unique(run)
    in_a = set(rng.choice(runs, size=len(runs) // 5, replace=False))
    A = np.array([r in in_a for r in run], dtype=float)
    B = rng.uniform(0.0, 2.0, len(v))
    return ld, v, A, B


#: GWAS sample size and heritability of the replicates
N_GWAS, H2 = 200_000, 0.05


def truth(A, h2=H2):
    """``(f_true, enrichment of A)``: A's SNPs carry three times the per-SNP heritability of
    the others, and f_true sums to ``h2``."""
    f_true = 1.0 + 2.0 * A
    f_true *= h2 / f_true.sum()
    return f_true, (A * f_true).sum() / h2 / A.mean()


def draw(ld, v, f_true, n, h2, rng):
    beta = rng.standard_normal(len(v)) * np.sqrt(f_true)
    bh = np.empty(len(v))
    for c in pd.unique(v["chrom"]):
        idx = np.flatnonzero(v["chrom"] == c)
        X = ld.standardised(idx)
        k = X.shape[1]
        noise = np.sqrt((1 - h2) / n / k) * (X @ rng.standard_normal(k))
        bh[idx] = X @ (X.T @ beta[idx]) / k + noise
    return bh


def main(argv=None):
    import deepwas
    from deepwas.features.annot import AnnotFeatures

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-blocks", type=int, default=200,
                    help="jackknife blocks (contiguous windows; at most one per window)")
    ap.add_argument("--jackknife", default="pseudo", choices=("pseudo", "refit"),
                    help="SEs by the one-Newton-step pseudo-jackknife or by refits")
    ap.add_argument("--out", default=None, help="per-replicate TSV")
    args = ap.parse_args(argv)

    N = N_GWAS
    ld, v, A, B = design()
    f_true, enr_true = truth(A)
    tmp = tempfile.mkdtemp()
    annot = os.path.join(tmp, "toy.annot.gz")
    pd.DataFrame({"CHR": v["chrom"], "BP": v["pos"], "SNP": v["snp"], "CM": 0.0,
                  "A": A.astype(int), "B": B}).to_csv(annot, sep="\t", index=False)
    rng = np.random.default_rng(args.seed)
    base = None
    rows = []
    t0 = time.perf_counter()
    for r in range(args.replicates):
        bh = draw(ld, v, f_true, N, H2, rng)
        if base is None:
            ss = pd.DataFrame({"SNP": v["snp"], "A1": v["a1"], "A2": v["a2"],
                               "Z": bh * np.sqrt(N), "N": N})
            base = deepwas.SummaryStats.from_ld_source(
                ld, ss, sigma2=1 - H2, keep_ambiguous=True, window_bp=300_000,
                flank_bp=5_000_000, features=AnnotFeatures(annot, columns=["A", "B"]),
                ld_regularisation="none")
            order = pd.Index(v["snp"].astype(str)).get_indexer(base.variants["snp"].astype(str))
            flip = np.where(base.variants["a1"].to_numpy() == v["a1"].to_numpy()[order], 1, -1)
            stats = base
        else:
            stats = base.with_beta_hat(bh[order] * flip, n=N, sigma2=1 - H2)
        for solver in ("ldsr", "deepwas"):
            est = deepwas.GLMPrior(solver=solver, model_params={"link": "identity"},
                                   random_state=0).fit(stats)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = est.partitioned_h2(stats, annot, jackknife=args.jackknife,
                                       n_blocks=args.n_blocks).set_index("Category")
            rows.append(dict(replicate=r, solver=solver, h2=t.attrs["h2"],
                             h2_se=t.attrs["h2_std_error"], enr=t.loc["A", "Enrichment"],
                             enr_se=t.loc["A", "Enrichment_std_error"]))
        if args.out:           # after every replicate: an interrupted run keeps what it did
            pd.DataFrame(rows).to_csv(args.out, sep="\t", index=False)
        print(f"replicate {r + 1}/{args.replicates} done ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    tab = summarise(pd.DataFrame(rows), H2, enr_true)
    print(f"\n{args.replicates} replicates, {len(v)} SNPs, {len(base)} windows, "
          f"{min(args.n_blocks, len(base))} jackknife blocks ({args.jackknife}); "
          f"{time.perf_counter() - t0:.0f} s")
    print(tab.to_string(index=False, float_format="%.4g"))
    return tab


def summarise(df, h2_true, enr_true):
    """Bias, SD, RMSE, mean SE, SE / SD and 95 % coverage per solver and quantity."""
    out = []
    for solver, g in df.groupby("solver", sort=False):
        for name, truth in (("h2", h2_true), ("enr", enr_true)):
            est, se = g[name].to_numpy(), g[name + "_se"].to_numpy()
            sd = est.std(ddof=1)
            out.append({"solver": solver, "quantity": {"h2": "h2", "enr": "Enrichment A"}[name],
                        "truth": truth, "mean": est.mean(), "bias": est.mean() - truth,
                        "SD": sd, "RMSE": np.sqrt(np.mean((est - truth) ** 2)),
                        "mean SE": se.mean(), "SE / SD": se.mean() / sd,
                        "cover95": np.mean(np.abs(est - truth) <= 1.96 * se)})
    return pd.DataFrame(out)


if __name__ == "__main__":
    main()

"""Calibration and power of the score test of new annotations (FunctionalPrior.score_test).

Design: the 22 shipped 1000 Genomes regions (SNPs with MAF >= 1 %, every 8th), one window
per region (flanks take in the whole region), so the 22 jackknife blocks are independent
regions; GWAS of N = 100,000, h2 = 0.1, drawn exactly through the genotypes. The true
prior: ``f ~ exp(0.5 z(seen)) (1 + e hidden)`` with ``seen`` a continuous feature the GLM
prior is fitted on (with a pure-noise feature), and ``hidden`` a binary annotation in 25-kb
runs (1 in 4) the model does not see.

* Null replicates (``e = 0``): the GLM is the true model; 100 null candidates per replicate
  -- 50 binary (random 5-kb runs, 1 in 5) and 50 continuous N(0, 1) -- independent of the
  truth; 1,000 over the default 10 replicates (a replicate's candidates share its data, so
  one replicate's lambda alone is noisy). Genomic-control lambda of their p-values (target
  0.9-1.1).
* Power replicates (``e = 1``, twice the per-SNP h2 in ``hidden``): z and p of ``hidden``,
  detected at Bonferroni p < 0.05 / 101; lambda of the nulls there too.
* Cost: seconds for 1 candidate and for 100 (one gradient pass serves all).

Run: ``PYTHONPATH=. python benchmarks/study_score_test.py [--replicates R] [--out CSV]``
(159 s on one core for the default 10 + 10 replicates).
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

import deepwas
from deepwas.datasets import demo_bfiles
from deepwas.ld import read_plink_reference

N, H2 = 100_000, 0.1


def panel_subset(step=8):
    panel = read_plink_reference(demo_bfiles())
    p = panel.mean / 2
    return panel.subset(np.flatnonzero((np.minimum(p, 1 - p) >= 0.01)
                                       & ~panel.monomorphic)[::step])


def gc_lambda(p):
    p = np.asarray(p, dtype=np.float64)
    p = p[np.isfinite(p)]
    return float(np.median(sps.chi2.isf(p, 1)) / sps.chi2.ppf(0.5, 1))


def replicate(ld, enrich, seed, n_null=100):
    rng = np.random.default_rng(seed)
    v = ld.variants.reset_index(drop=True)
    M = len(v)
    pos, chrom = v["pos"].to_numpy(), v["chrom"].astype(str).to_numpy()

    def runs(bp):
        return pd.factorize(pd.Series(chrom) + ":" + pd.Series(pos // bp).astype(str))[0]

    hidden = (rng.random(M) < 0.25)[runs(25_000)].astype(float)
    seen = rng.normal(size=M)
    noise = rng.normal(size=M)
    f = np.exp(0.5 * seen) * (1.0 + enrich * hidden)
    f *= H2 / f.sum()
    beta = rng.standard_normal(M) * np.sqrt(f)
    beta_hat = np.empty(M)
    for c in pd.unique(chrom):
        idx = np.flatnonzero(chrom == c)
        X = ld.standardised(idx)
        n_ref = X.shape[1]
        beta_hat[idx] = (X @ (X.T @ beta[idx]) + np.sqrt((1 - H2) / N * n_ref)
                         * (X @ rng.standard_normal(n_ref))) / n_ref
    sumstats = pd.DataFrame({"SNP": v["snp"], "A1": v["a1"], "A2": v["a2"],
                             "Z": beta_hat * np.sqrt(N), "N": N})
    stats = deepwas.SummaryStats.from_ld_source(
        ld, sumstats, sigma2=1 - H2, keep_ambiguous=True, window_bp=2_000_000,
        flank_bp=2_000_000, features=np.column_stack([seen, noise]).astype(np.float32),
        ld_regularisation="none", ld_blocks="none")
    t = time.perf_counter()
    est = deepwas.GLMPrior(alpha=0.0, random_state=0).fit(stats)
    fit_s = time.perf_counter() - t
    run5 = runs(5_000)
    cols = {"hidden": hidden}
    for k in range(n_null // 2):
        cols[f"null_bin{k}"] = (rng.random(M) < 0.2)[run5].astype(float)
    for k in range(n_null - n_null // 2):
        cols[f"null_cont{k}"] = rng.normal(size=M)
    cands = pd.DataFrame(cols).assign(SNP=v["snp"].to_numpy())
    t = time.perf_counter()
    est.score_test(stats, cands[["SNP", "hidden"]], n_blocks=len(stats), min_variants=200)
    one_s = time.perf_counter() - t
    t = time.perf_counter()
    res = est.score_test(stats, cands, n_blocks=len(stats), min_variants=200)
    many_s = time.perf_counter() - t
    res["enrich"], res["seed"] = enrich, seed
    res.attrs.update(fit_s=fit_s, one_s=one_s, many_s=many_s, M=M, windows=len(stats))
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicates", type=int, default=10, help="per design (null, power)")
    ap.add_argument("--out", help="per-candidate CSV of all replicates")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    ld = panel_subset()
    tabs = []
    for enrich in (0.0, 1.0):
        for r in range(args.replicates):
            res = replicate(ld, enrich, seed=1000 * int(enrich) + r)
            a = res.attrs
            nulls = res[res["Category"].str.startswith("null")]
            h = res.set_index("Category").loc["hidden"]
            print(f"enrich {enrich:g} seed {r}: {a['M']} SNPs, {a['windows']} windows; fit "
                  f"{a['fit_s']:.1f} s; score test 1 / {len(res)} candidates {a['one_s']:.2f} / "
                  f"{a['many_s']:.2f} s; null lambda {gc_lambda(nulls['p']):.3f}; hidden z "
                  f"{h['z']:.2f} (p {h['p']:.2g})", flush=True)
            tabs.append(res)
    allr = pd.concat(tabs, ignore_index=True)
    if args.out:
        allr.to_csv(args.out, index=False)
    nul = allr[allr["Category"].str.startswith("null")]
    for enrich, g in nul.groupby("enrich"):
        z = g["z"].to_numpy()
        print(f"enrich {enrich:g}: {len(g)} null candidates: lambda_GC {gc_lambda(g['p']):.3f} "
              f"(binary {gc_lambda(g[g.Category.str.contains('bin')]['p']):.3f}, continuous "
              f"{gc_lambda(g[g.Category.str.contains('cont')]['p']):.3f}); mean z "
              f"{z.mean():+.3f}, mean z^2 {np.mean(z ** 2):.3f}; p < 0.05: "
              f"{np.mean(g['p'] < 0.05):.3f}, p < 0.01: {np.mean(g['p'] < 0.01):.3f}")
    hid = allr[allr["Category"] == "hidden"]
    for enrich, g in hid.groupby("enrich"):
        ncand = int((allr["enrich"] == enrich).sum() / len(g))
        print(f"enrich {enrich:g}: hidden z {', '.join(f'{z:.2f}' for z in g['z'])}; detected "
              f"(p < 0.05 / {ncand}) in {int((g['p'] < 0.05 / ncand).sum())} of {len(g)}")
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

"""LD from a reference panel: bias, SD and RMSE of h2 and of an enrichment, per LD model.

Semi-synthetic, on the shipped 1000 Genomes panel (489 EUR people, chromosomes 1-12, one 1 Mb
region each, MAF >= 0.01, polymorphic in both halves of the people, every 3rd SNP; 500 kb core
windows, the whole region as extended set). Truth: f ∝ (p(1-p))^0.7 (1 + 4 A), A = 1 on 20 %
of 50 kb blocks (true enrichment ~2.7), sum f = h2, N = 100,000, sigma2 = 1 - h2 given.
beta_hat = R* beta + N(0, s R*) drawn exactly through genotypes, with R*:

* in-sample: the panel's own LD per region; the model gets the same LD;
* split panel: the LD of a random half A of the people; the model gets half B's;
* block LD: the panel's LD made block-diagonal on 200 kb blocks shifted 50 kb from the core
  windows; the model gets the full panel's LD.

Every model goes through the public API: ``SummaryStats.from_ld_source(..., ld_regularisation=
...)``, ``ConstantPrior`` (h2) and ``GLMPrior`` on the annotation (enrichment), with default
settings; LDSR through ``solver="ldsr"``. Also prints the per-window mismatch diagnostic
(:meth:`SummaryStats.ld_diagnostics`) by design.

usage: OMP_NUM_THREADS=1 python benchmarks/study_reference_panel.py [--reps 20] [--h2 0.05]
       [--designs in-sample,split,block] [--out results.csv]
Prints one table per design (about 1 min per replicate on one core).
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import deepwas
from deepwas.datasets import demo_bfiles
from deepwas.features.base import ArrayFeatures
from deepwas.ld import read_plink_reference

CHROMS = list(range(1, 13))
N = 100_000
MODELS = [("exact", dict(ld_regularisation="none")),
          ("truncate 0.98", dict(ld_regularisation="truncate", ld_share=0.98)),
          ("mismatch (default)", dict(ld_regularisation="mismatch"))]


def panel():
    g = read_plink_reference(demo_bfiles(CHROMS))
    v = g.variants
    freq = g.mean / 2
    rng = np.random.default_rng(12345)
    perm = rng.permutation(g.n_ref)
    half_a, half_b = np.sort(perm[: g.n_ref // 2]), np.sort(perm[g.n_ref // 2:])
    A, B = g.people(half_a), g.people(half_b)
    ok = (np.minimum(freq, 1 - freq) >= 0.01) & ~g.monomorphic & ~A.monomorphic & ~B.monomorphic
    keep = np.concatenate([np.flatnonzero(ok & (v["chrom"] == str(c)).to_numpy())[::3]
                           for c in CHROMS])
    full, A, B = g.subset(keep), A.subset(keep), B.subset(keep)
    v = full.variants
    rng = np.random.default_rng(777)
    blk = np.array([f"{c}:{p // 50_000}" for c, p in zip(v["chrom"], v["pos"])])
    chosen = set(rng.choice(np.unique(blk), size=round(0.2 * len(np.unique(blk))), replace=False))
    annot = np.array([b in chosen for b in blk], dtype=float)
    fr = full.mean / 2
    w = (fr * (1 - fr)) ** 0.7
    shape = w * (1 + 4 * annot)
    block = np.array([f"{c}:{(p - 50_000) // 200_000}" for c, p in zip(v["chrom"], v["pos"])])
    return dict(full=full, A=A, B=B, annot=annot, shape=shape, block=block, v=v)


def draw(P, design, h2, rng):
    """beta_hat of one replicate (and the truth f)."""
    f = P["shape"] * h2 / P["shape"].sum()
    beta = rng.standard_normal(len(f)) * np.sqrt(f)
    s = (1 - h2) / N
    src = P["A"] if design == "split" else P["full"]
    groups = P["block"] if design == "block" else P["v"]["chrom"].to_numpy()
    bh = np.empty(len(f))
    for g in pd.unique(groups):
        idx = np.flatnonzero(groups == g)
        X = src.standardised(idx)
        p = X.shape[1]
        bh[idx] = X @ (X.T @ beta[idx]) / p + np.sqrt(s / p) * (X @ rng.standard_normal(p))
    return bh, f


def enrichment(f, a):
    return (f[a > 0].sum() / f.sum()) / a.mean()


def one_replicate(P, design, h2, rep):
    rng = np.random.default_rng([rep, {"in-sample": 1, "split": 2, "block": 3}[design]])
    bh, f_true = draw(P, design, h2, rng)
    v = P["v"]
    table = pd.DataFrame({"SNP": v["snp"], "A1": v["a1"], "A2": v["a2"], "Z": bh * np.sqrt(N),
                          "N": N})
    source = P["B"] if design == "split" else P["full"]
    feats = ArrayFeatures(pred=P["annot"][:, None], pred_names=["A"])
    rows = []
    for name, kw in MODELS + [("LDSR", dict(ld_regularisation="none"))]:
        t0 = time.perf_counter()
        stats = deepwas.SummaryStats.from_ld_source(
            source, table, n=N, sigma2=1 - h2, features=feats, keep_ambiguous=True, window_bp=500_000,
            flank_bp=1_000_000, **kw)
        solver = "ldsr" if name == "LDSR" else "deepwas"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            const = deepwas.ConstantPrior(solver=solver, random_state=0).fit(stats)
            glm = deepwas.GLMPrior(solver=solver, random_state=0).fit(stats)
        f_glm = glm.predict_f(stats)
        a = stats.get_features().pred[:, 0]
        rows.append(dict(design=design, h2_true=h2, rep=rep, model=name,
                         h2=const.h2(stats), enrichment=enrichment(f_glm, a),
                         enrichment_true=enrichment(f_true, P["annot"]),
                         kappa=getattr(const, "ld_mismatch_", 0.0),
                         seconds=time.perf_counter() - t0))
        if name == "mismatch (default)":
            diag = stats.ld_diagnostics()
            rows[-1]["z_tail_median"] = float(diag["z_tail"].median())
            rows[-1]["z_tail_max"] = float(diag["z_tail"].max())
            rows[-1]["flagged"] = float(diag["flag"].mean())
    return rows


def summarise(df):
    out = []
    for (design, h2_true, model), g in df.groupby(["design", "h2_true", "model"], sort=False):
        h2_err = g["h2"] - g["h2_true"]
        e_err = g["enrichment"] - g["enrichment_true"]
        out.append(dict(design=design, h2_true=h2_true, model=model, reps=len(g),
                        h2_bias=h2_err.mean(), h2_sd=g["h2"].std(),
                        h2_rmse=np.sqrt((h2_err ** 2).mean()),
                        enr_bias=e_err.mean(), enr_sd=g["enrichment"].std(),
                        enr_rmse=np.sqrt((e_err ** 2).mean()),
                        kappa_median=g["kappa"].median(),
                        z_tail_median=g.get("z_tail_median", pd.Series(dtype=float)).median(),
                        seconds=g["seconds"].mean()))
    return pd.DataFrame(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--h2", type=float, default=0.05)
    ap.add_argument("--designs", default="in-sample,split,block")
    ap.add_argument("--out", default=None, help="CSV of every replicate")
    ap.add_argument("--from-csv", nargs="+", help="summarise these CSVs instead of running")
    ap.add_argument("--rst", default=None, help="also write the table as an rst list-table")
    args = ap.parse_args()
    if args.from_csv:
        return report(pd.concat([pd.read_csv(p) for p in args.from_csv]), args.rst)
    P = panel()
    print(f"{len(P['v'])} variants, panel 489 people (halves {P['A'].n_ref}/{P['B'].n_ref}), "
          f"true enrichment {enrichment(P['shape'], P['annot']):.3f}", flush=True)
    rows = []
    for design in args.designs.split(","):
        for rep in range(args.reps):
            t0 = time.perf_counter()
            rows += one_replicate(P, design, args.h2, rep)
            print(f"  {design} replicate {rep}: {time.perf_counter() - t0:.0f} s", flush=True)
            if args.out:
                pd.DataFrame(rows).to_csv(args.out, index=False)
    report(pd.DataFrame(rows), args.rst)


def report(rows, rst=None):
    """Print the summary table (and write it as an rst list-table)."""
    table = summarise(rows)
    with pd.option_context("display.width", 160, "display.max_columns", 20,
                           "display.float_format", "{:.4f}".format):
        print(table.to_string(index=False))
    if rst:
        lines = [".. list-table::", "   :header-rows: 1", "",
                 "   * - design, true h2", "     - model", "     - h2 bias / SD / RMSE",
                 "     - enrichment bias / SD / RMSE", "     - median kappa"]
        for _, r in table.iterrows():
            lines += [f"   * - {r.design}, {r.h2_true:g} ({r.reps} replicates)",
                      f"     - {r.model}",
                      f"     - {r.h2_bias:+.4f} / {r.h2_sd:.4f} / {r.h2_rmse:.4f}",
                      f"     - {r.enr_bias:+.3f} / {r.enr_sd:.3f} / {r.enr_rmse:.3f}",
                      f"     - {r.kappa_median:.3g}" if r.model.startswith("mismatch")
                      else "     - "]
        with open(rst, "w") as fh:
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

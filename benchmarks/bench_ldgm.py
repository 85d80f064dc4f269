"""deepwas against graphREML on LDGM blocks: the same GLM fit, time and memory, in one run.

Builds genomes of K LD blocks by reusing the real 1000 Genomes EUR LDGM blocks found in
``--ldgm`` as independent loci (block copy c sits on chromosome 1 + c mod 22, shifted by
10 Mb per round so that copies never overlap; edgelists are linked, not copied), simulates
z-scores exactly from each block's own LD R = P^-1::

    z = sqrt(N) R beta + e,   beta_m ~ N(0, f_m),   e ~ N(0, R)

with two binary annotations (annotA on 20 % of the variants with 3x the per-variant variance,
true enrichment 2.14; annotB on 10 % with none) and a total h2 of ``--h2``, then fits the same model
with both tools, each in its own process (wall time and peak RSS of that process):

* deepwas: ``SummaryStats.from_ldgm`` (the sparse precision path), a GLM prior with
  graphREML's model (softplus link, ``alpha=0``: no frequency term, ``ridge=0``) with the two
  annotations as features (the intercept is the base), L-BFGS, and
  ``partitioned_h2`` with the pseudo-jackknife over min(K, 200) blocks;
* graphREML (graphld 1.2.3), when ``--graphreml`` names a runner script
  (``run_graphreml.py --ldgm-metadata --sumstats --annot --out --threads 1``, which calls
  ``graphld.run_graphREML`` with the defaults of ``graphld reml`` and writes a JSON of
  ``h2_total``, ``h2_total_se``, ``annotations[name].enrichment[_se]`` and ``peak_rss_gb``):
  its REML fit of the same annotations (plus its all-ones base) with its own block jackknife,
  one process. graphld needs scikit-sparse, i.e. SuiteSparse's CHOLMOD from the system.
  graphREML's link is ``softplus(a tau) / M``, deepwas's ``softplus(eta)``: the same family
  only up to the scale inside the softplus, so small differences in the estimates are
  expected at strong enrichment.

Then, on one real block, the time of one AdamW training step of a tiny and a small
transformer prior (4 random tracks of width 16; plain, not residual, from a fixed h2, so that
the fit's set-up runs no likelihood of its own), on the sparse path and on the dense exact
path of the same LD (``ld_regularisation="truncate", ld_share=1.0``: every eigenvalue kept):
the set-up and the step apart, and the likelihood's loss and gradient alone, with the two
gradients compared.

Run with one BLAS thread per process (set here) on an otherwise idle machine::

    python benchmarks/bench_ldgm.py --blocks 40 200 --graphreml /path/to/run_graphreml.py

Prints the table and the ratios deepwas / graphREML; ``--csv`` writes the rows.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED_LDGM = os.path.join(HERE, os.pardir, os.pardir, "shared", "data", "ldgm")
ANNOTATIONS = ("annotA", "annotB")


# ---------------------------------------------------------------------------- the data
def source_blocks(ldgm_dir, population):
    """(edgelist, snplist) paths of the real blocks in ``ldgm_dir``."""
    out = []
    for e in sorted(glob.glob(os.path.join(ldgm_dir, f"*.{population}.edgelist"))):
        s = e[: -len(f".{population}.edgelist")] + ".snplist"
        if os.path.exists(s):
            out.append((os.path.abspath(e), os.path.abspath(s)))
    if not out:
        raise SystemExit(f"no {population} LDGM block in {ldgm_dir}")
    return out


def sample_block(P, f, n, rng):
    """z of one block: sqrt(n) R beta + e with R = P^-1 (exact, by P's sparse LDL^T)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve_triangular

    from deepwas.solvers.sparse_ldlt import SparseLDLT

    F = SparseLDLT(P).factor()
    L, D, perm = F.factors()
    L = (L + sp.eye(F.n, format="csc")).tocsr()
    xi = rng.standard_normal(F.n) / np.sqrt(D)
    e = np.empty(F.n)
    e[perm] = spsolve_triangular(L.T.tocsr(), xi, lower=False, unit_diagonal=True)
    beta = rng.standard_normal(F.n) * np.sqrt(f)
    return np.sqrt(n) * F.solve(beta) + e


def make_genome(k, blocks, folder, n, h2, seed, population="EUR", extra=None):
    """K blocks as independent loci in ``folder``: LDGM files, ``sumstats.tsv``,
    ``annot/bench.{chrom}.annot`` (CHR BP SNP CM annotA annotB) and ``truth.json``.

    ``extra(m, rng) -> (DataFrame of m rows, multiplier of f)``, if given, is called for each
    block after its two annotations are drawn: its columns are written to
    ``extra/extra.{chrom}.annot`` (CHR BP SNP CM + columns: kept apart from the model's
    annotations) and the variances ``f`` are multiplied by its second value before z is
    simulated (the truth's ``enrichment_A`` includes it)."""
    from deepwas.io.ldgm import LDGMSource

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    meta, stats, annots, extras, f_all = [], [], [], [], []
    sources = [LDGMSource(e, population=population) for e, _ in blocks]
    for c in range(k):
        b = c % len(blocks)
        src = sources[b]
        edgelist, snplist = blocks[b]
        chrom = 1 + c % 22
        shift = 10_000_000 * (c // 22)
        snp = pd.read_csv(snplist)
        snp["position"] = snp["position"] + shift
        snp["site_ids"] = [f"c{c}_{i}" for i in range(len(snp))]
        start, end = int(snp["position"].min()), int(snp["position"].max()) + 1
        name = f"1kg_chr{chrom}_{start}_{end}"
        snp.to_csv(os.path.join(folder, f"{name}.snplist"), index=False)
        link = os.path.join(folder, f"{name}.{population}.edgelist")
        if not os.path.exists(link):
            os.symlink(edgelist, link)
        meta.append(dict(chrom=chrom, chromStart=start, chromEnd=end,
                         name=f"{name}.{population}.edgelist", snplistName=f"{name}.snplist",
                         population=population, numVariants=len(snp),
                         numIndices=int(src.blocks["n_indices"].iat[0]),
                         numEntries=int((src.precision(0).nnz + src.precision(0).shape[0]) // 2),
                         info=""))
        # one variant per index stands for it (as graphREML merges): the first in the file
        v = src.variants.drop_duplicates("ld_index").sort_values("ld_index")
        rows = snp.reset_index().assign(pos=snp["position"] - shift).merge(
            v[["index", "pos", "a1", "a2"]], left_on=["index", "pos", "deriv_alleles",
                                                      "anc_alleles"],
            right_on=["index", "pos", "a1", "a2"]).drop_duplicates("index")
        assert len(rows) == len(v), "snplist rows not found for every index"
        ids = rows["site_ids"].to_numpy()
        m = len(v)
        a1 = rng.random(m) < 0.2
        a2 = rng.random(m) < 0.1
        f = np.where(a1, 3.0, 1.0)
        keys = pd.DataFrame({"CHR": chrom, "BP": rows["position"].to_numpy(), "SNP": ids,
                             "CM": 0.0})
        if extra is not None:
            cols, mult = extra(m, rng)
            extras.append(pd.concat([keys, cols.reset_index(drop=True)], axis=1))
            f = f * mult
        f_all.append(f)
        annots.append(keys.assign(annotA=a1.astype(int), annotB=a2.astype(int)))
        stats.append(pd.DataFrame({"SNP": ids, "CHR": chrom, "BP": rows["position"].to_numpy(),
                                   "A1": rows["a1"].to_numpy(), "A2": rows["a2"].to_numpy(),
                                   "N": float(n)}))
    scale = h2 / sum(float(f.sum()) for f in f_all)
    for c in range(k):
        P = sources[c % len(blocks)].precision(0)
        stats[c]["Z"] = sample_block(P, f_all[c] * scale, n, rng)
    pd.DataFrame(meta).to_csv(os.path.join(folder, "metadata.csv"), index=False)
    # graphREML's inputs: an LDSC-style .sumstats and one .annot per chromosome
    pd.concat(stats).to_csv(os.path.join(folder, "sumstats.tsv"), sep="\t", index=False)
    annot = pd.concat(annots)
    for sub, prefix, tab in (("annot", "bench", annot),
                             ("extra", "extra", pd.concat(extras) if extras else None)):
        if tab is None:
            continue
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
        for chrom, part in tab.groupby("CHR"):
            part.to_csv(os.path.join(folder, sub, f"{prefix}.{chrom}.annot"), sep="\t",
                        index=False)
    all_f = np.concatenate(f_all)
    in_a1 = annot["annotA"].to_numpy() > 0
    truth = dict(h2=h2, enrichment_A=float(all_f[in_a1].sum() / all_f.sum()
                                           / in_a1.mean()))
    with open(os.path.join(folder, "truth.json"), "w") as fh:
        json.dump(truth, fh)
    return truth


# ---------------------------------------------------------------------------- the fits
def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def load_stats(folder, annotations=ANNOTATIONS):
    """deepwas's data set of a genome of ``make_genome``: the sparse precision path, the
    given annotations (columns of ``annot/``) as features."""
    import deepwas
    from deepwas.io.ldgm import LDGMSource

    ss = pd.read_csv(os.path.join(folder, "sumstats.tsv"), sep="\t")
    annot = pd.concat(pd.read_csv(p, sep="\t") for p in
                      glob.glob(os.path.join(folder, "annot", "*.annot"))).set_index("SNP")
    # the LDGM read once; the features given one row per reference variant (by rsID)
    src = LDGMSource(os.path.join(folder, "metadata.csv"))
    feats = annot.reindex(src.variants["snp"])[list(annotations)].fillna(0).to_numpy(float)
    return deepwas.SummaryStats.from_ld_source(
        src, ss, keep_ambiguous=True, sigma2=1.0, ld_regularisation="none",
        features=deepwas.features.ArrayFeatures(pred=feats, pred_names=list(annotations)))


def run_deepwas(folder, out):
    """The deepwas fit (in this process): writes a JSON of estimates, times and memory."""
    import torch

    import deepwas

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    st = load_stats(folder)
    t1 = time.perf_counter()
    # graphREML's model: f = softplus(annotations . tau), no frequency term, no penalty
    est = deepwas.GLMPrior(model_params={"link": "softplus"}, alpha=0.0, ridge=0.0,
                           random_state=0).fit(st)
    t2 = time.perf_counter()
    h = est.partitioned_h2(st, n_blocks=min(len(st), 200))
    t3 = time.perf_counter()
    row = h.set_index("Category").loc["annotA"]
    res = dict(tool="deepwas", h2=float(h.attrs["h2"]), h2_se=float(h.attrs["h2_std_error"]),
               enrichment_A=float(row["Enrichment"]),
               enrichment_A_se=float(row["Enrichment_std_error"]),
               load_s=t1 - t0, fit_s=t2 - t1, jackknife_s=t3 - t2, wall_s=t3 - t0,
               peak_rss_gb=peak_rss_gb(), n_variants=int(st.n_variants), n_windows=len(st))
    with open(out, "w") as fh:
        json.dump(res, fh)


def child(cmd):
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        print(done.stdout[-2000:], done.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return time.perf_counter() - t


def race(k, args, blocks):
    folder = os.path.join(args.work, f"K{k}")
    truth = make_genome(k, blocks, folder, args.n, args.h2, args.seed)
    rows = []
    dw = os.path.join(folder, "deepwas.json")
    wall = child([sys.executable, __file__, "--deepwas-child", folder, dw])
    rows.append(dict(json.load(open(dw)), K=k, process_s=wall))
    if args.graphreml:
        gr = os.path.join(folder, "graphreml.json")
        wall = child([sys.executable, args.graphreml, "--ldgm-metadata",
                      os.path.join(folder, "metadata.csv"), "--sumstats",
                      os.path.join(folder, "sumstats.tsv"), "--annot",
                      os.path.join(folder, "annot"), "--out", gr, "--threads", "1"])
        g = json.load(open(gr))
        a = g["annotations"]["annotA"]
        rows.append(dict(tool="graphREML", K=k, h2=g["h2_total"], h2_se=g["h2_total_se"],
                         enrichment_A=a["enrichment"], enrichment_A_se=a["enrichment_se"],
                         fit_s=g["wall_seconds_fit"], wall_s=g["wall_seconds_total"],
                         peak_rss_gb=g["peak_rss_gb"], process_s=wall,
                         iterations=g["num_iterations"]))
    for r in rows:
        r.update(true_h2=truth["h2"], true_enrichment_A=truth["enrichment_A"])
    return rows


# ---------------------------------------------------------------------------- training steps
def step_times(blocks, args):
    """One AdamW step (loss + backward) of a tiny and a small transformer over one real
    block, sparse path against the dense exact path: the fit's set-up (building the net,
    the features' moments) and the step (its epoch's duration) apart; and the likelihood's
    loss and gradient w.r.t. f alone (float64), with the two gradients compared."""
    import torch

    import deepwas
    from deepwas.likelihood import window_gain

    torch.set_num_threads(1)
    folder = os.path.join(args.work, "K1")
    make_genome(1, blocks[:1], folder, args.n, args.h2 / 100, args.seed)
    ss = pd.read_csv(os.path.join(folder, "sumstats.tsv"), sep="\t")
    rng = np.random.default_rng(0)
    m = len(ss)
    feats = deepwas.features.ArrayFeatures(func=rng.standard_normal((m, 4, 16)),
                                           pred=rng.standard_normal((m, 2)))
    meta = os.path.join(folder, "metadata.csv")
    common = dict(keep_ambiguous=True, sigma2=1.0)
    # rows of the statistics in the order the data set keeps them (features by matched row)
    out = []
    t = time.perf_counter()
    sparse = deepwas.SummaryStats.from_ldgm(meta, ss, features=feats, **common)
    sparse.window_tensors(0)
    sparse_pre = time.perf_counter() - t
    t = time.perf_counter()
    dense = deepwas.SummaryStats.from_ldgm(meta, ss, features=feats,
                                           ld_regularisation="truncate", ld_share=1.0, **common)
    dense.window_tensors(0)
    dense_pre = time.perf_counter() - t
    f = torch.as_tensor(rng.exponential(1e-5, sparse.n_variants))
    grads, lik = [], []
    for st in (sparse, dense):
        ft = f.clone().requires_grad_(True)
        t = time.perf_counter()
        window_gain(st, 0, ft).backward()
        lik.append(time.perf_counter() - t)
        grads.append(ft.grad.numpy())
    rel = float(np.abs(grads[0] - grads[1]).max() / np.abs(grads[1]).max())
    for size in ("tiny", "small"):
        for (name, st, pre), lik_s in zip((("sparse", sparse, sparse_pre),
                                           ("dense", dense, dense_pre)), lik):
            # a plain (not residual) transformer from a fixed h2: the fit is its set-up and
            # one AdamW step, with no GLM warm start nor h2 search (L-BFGS runs of their own)
            est = deepwas.TransformerPrior(model_params={"size": size, "residual": False},
                                           h2_init=args.h2 / 100, random_state=0,
                                           max_epochs=1)
            t = time.perf_counter()
            est.fit(st)            # one window: one epoch = one step (after its set-up)
            total = time.perf_counter() - t
            step = float(est.history_[-1, "dur"])       # the epoch: the step alone
            out.append(dict(prior=size, path=name, precompute_s=pre, setup_s=total - step,
                            step_s=step, loss_grad_f64_s=lik_s, grad_rel_diff=rel))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ldgm", default=SHARED_LDGM, help="folder of real LDGM blocks")
    ap.add_argument("--blocks", type=int, nargs="+", default=[40, 200])
    ap.add_argument("--graphreml", help="graphREML runner script (run_graphreml.py)")
    ap.add_argument("--n", type=float, default=200_000)
    ap.add_argument("--h2", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default=os.path.join(HERE, "_bench_ldgm"))
    ap.add_argument("--csv")
    ap.add_argument("--no-steps", action="store_true")
    ap.add_argument("--deepwas-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.deepwas_child:
        return run_deepwas(*args.deepwas_child)
    blocks = source_blocks(args.ldgm, "EUR")
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPU cores, one thread per "
          f"process; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"{len(blocks)} real block(s) reused")
    rows = []
    for k in args.blocks:
        rows += race(k, args, blocks)
    table = pd.DataFrame(rows)
    cols = ["K", "tool", "h2", "h2_se", "enrichment_A", "enrichment_A_se", "wall_s",
            "process_s", "peak_rss_gb", "true_h2", "true_enrichment_A"]
    print(table[[c for c in cols if c in table]].to_string(index=False, float_format="%.4g"))
    if args.graphreml:
        for k in args.blocks:
            d = table[(table.K == k) & (table.tool == "deepwas")].iloc[0]
            g = table[(table.K == k) & (table.tool == "graphREML")].iloc[0]
            print(f"K={k}: deepwas / graphREML wall {d.process_s / g.process_s:.2f}, peak RSS "
                  f"{d.peak_rss_gb / g.peak_rss_gb:.2f}; h2 {100 * (d.h2 / g.h2 - 1):+.2f} %, "
                  f"enrichment A "
                  f"{100 * (d.enrichment_A / g.enrichment_A - 1):+.2f} %")
    if args.csv:
        table.to_csv(args.csv, index=False)
    if not args.no_steps:
        steps = pd.DataFrame(step_times(blocks, args))
        print(steps.to_string(index=False, float_format="%.4g"))
        for size in ("tiny", "small"):
            s = steps[steps.prior == size].set_index("path")["step_s"]
            print(f"{size} transformer, one AdamW step over the block (the fit's set-up "
                  f"excluded): dense / sparse {s['dense'] / s['sparse']:.1f}x")


if __name__ == "__main__":
    main()

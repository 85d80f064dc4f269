"""deepwas's score test against graphREML's (graphld's ``estest``) on the same LDGM genome, in
one run: time per 100 candidate annotations and the agreement of the z-scores.

The genome is ``bench_ldgm``'s (K copies of the real 1000 Genomes EUR LDGM block as
independent loci, z simulated exactly from each block's R = P^-1, annotA with 3x the
per-variant variance), plus ``--candidates`` binary candidate annotations (each on its own
fraction of the variants, drawn from 5-30 %), of which the first few are truly enriched: the
variance of their variants is multiplied by ``--enrich`` (one factor per enriched candidate);
the others are null. Both tools fit the null model base + annotA, then test every candidate
beyond it:

* deepwas: ``SummaryStats.from_ldgm`` data (the sparse precision path), a GLM prior with
  graphREML's model (softplus link, ``alpha=0``, ``ridge=0``) on annotA, then
  ``score_test`` of the candidates (``.annot`` files) with K jackknife blocks (one per LD
  block). Its time is the whole ``score_test`` call: one exact gradient pass over the windows
  for all candidates, plus their alignment.
* graphREML (graphld 1.2.3): ``run_graphREML`` through the runner of ``bench_ldgm``
  (``--graphreml``) with ``--annotation-columns annotA`` and graphld's score-statistics file
  (``MethodOptions.score_test_hdf5_file_name``, which ``graphld reml --score-test-filename``
  sets; the runner mirrors ``graphld reml``'s other defaults), then the score test of
  ``estest`` (its Python functions ``load_row_data``, ``load_variant_annotations``,
  ``load_trait_data``, ``run_score_test`` and its z = U / (sd(jackknife) sqrt(n - 1))).
  graphREML's time for the test is the per-variant score stage inside its fit (timed
  around ``GraphREML._compute_variant_grad``, 200 random probes a block) plus ``estest``.

The two scores are not the same statistic: graphREML's derivative is w.r.t. the argument of
its link ``softplus(x) / M`` per variant, from a stochastic estimate of diag((F + sP)^-1)
(200 probes), with the model's annotations projected out of the per-variant scores by least
squares over variants; deepwas's is w.r.t. ``tau`` in ``f exp(tau a)``, exact (selected
inversion), with the model's parameters projected out of the per-block scores (OPG). So the
z-scores should agree in sign and rough size (correlation, slope), not to many digits.

Each tool runs in its own process with one BLAS thread::

    python benchmarks/bench_score_test_graphreml.py --blocks 10 \\
        --graphreml /path/to/run_graphreml.py
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import glob  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_ldgm  # noqa: E402  (the genome builder and deepwas's data set of it)

TRAIT = "bench"


# ---------------------------------------------------------------------------- candidates
def candidate_maker(n_cand, enrich, seed):
    """``extra`` for :func:`bench_ldgm.make_genome`: ``n_cand`` binary candidates, each on a
    fixed fraction of every block's variants; candidate j < len(enrich) multiplies the
    variance of its variants by ``enrich[j]``."""
    frac = np.random.default_rng(seed).uniform(0.05, 0.3, n_cand)
    names = [f"cand{j:03d}" for j in range(n_cand)]

    def extra(m, rng):
        a = rng.random((m, n_cand)) < frac
        mult = np.ones(m)
        for j, e in enumerate(enrich):
            mult[a[:, j]] *= e
        return pd.DataFrame(a.astype(int), columns=names), mult

    return extra, names, frac


# ---------------------------------------------------------------------------- the children
def run_deepwas(folder, out):
    """deepwas (in this process): GLM on annotA, then the score test of the candidates."""
    import torch

    import deepwas

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    st = bench_ldgm.load_stats(folder, ["annotA"])
    t1 = time.perf_counter()
    est = deepwas.GLMPrior(model_params={"link": "softplus"}, alpha=0.0, ridge=0.0,
                           random_state=0).fit(st)
    t2 = time.perf_counter()
    files = sorted(glob.glob(os.path.join(folder, "extra", "*.annot")))
    tab = est.score_test(st, files, n_blocks=len(st))
    t3 = time.perf_counter()
    res = dict(tool="deepwas", load_s=t1 - t0, fit_s=t2 - t1, test_s=t3 - t2,
               n_candidates=len(tab), n_blocks=int(tab.attrs["n_blocks"]),
               z=dict(zip(tab["Category"], tab["z"].astype(float))),
               peak_rss_gb=bench_ldgm.peak_rss_gb())
    with open(out, "w") as fh:
        json.dump(res, fh)


def run_graphreml(runner, folder, out):
    """graphREML (in this process): its fit of base + annotA writing graphld's score file,
    then ``estest``'s test of the candidates."""
    from dataclasses import dataclass
    from typing import Optional

    import graphld.heritability as gh
    from score_test.score_test import run_score_test
    from score_test.score_test_io import (load_row_data, load_trait_data,
                                          load_variant_annotations)

    h5 = os.path.join(folder, "graphreml_scores.h5")
    for p in (h5, h5 + ".lock"):
        if os.path.exists(p):
            os.remove(p)

    # the runner builds MethodOptions with graphld reml's defaults; the score file is the one
    # field that --score-test-filename adds to them
    @dataclass
    class WithScores(gh.MethodOptions):
        score_test_hdf5_file_name: Optional[str] = h5
        score_test_hdf5_trait_name: Optional[str] = TRAIT

    gh.MethodOptions = WithScores
    timer = {"s": 0.0}
    grad = gh.GraphREML._compute_variant_grad

    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return grad(*a, **k)
        finally:
            timer["s"] += time.perf_counter() - t

    gh.GraphREML._compute_variant_grad = staticmethod(timed)
    spec = importlib.util.spec_from_file_location("run_graphreml", runner)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    t0 = time.perf_counter()
    fit = mod.main(["--ldgm-metadata", os.path.join(folder, "metadata.csv"), "--sumstats",
                    os.path.join(folder, "sumstats.tsv"), "--annot",
                    os.path.join(folder, "annot"), "--annotation-columns", "annotA",
                    "--out", os.path.join(folder, "graphreml_fit.json"), "--threads", "1"])
    t1 = time.perf_counter()
    rows = load_row_data(h5)
    annot = load_variant_annotations(os.path.join(folder, "extra"), variant_table=rows)
    trait = load_trait_data(h5, trait_name=TRAIT, variant_table=rows)
    U, jk = run_score_test(trait, annot)
    z = U.ravel() / np.std(jk, axis=0) / np.sqrt(jk.shape[0] - 1)   # as estest
    t2 = time.perf_counter()
    res = dict(tool="graphREML", fit_s=t1 - t0 - timer["s"], score_stage_s=timer["s"],
               estest_s=t2 - t1, test_s=timer["s"] + t2 - t1, n_candidates=len(z),
               n_blocks=int(jk.shape[0]), iterations=fit["num_iterations"],
               z=dict(zip(annot.annot_names, z.astype(float))),
               peak_rss_gb=bench_ldgm.peak_rss_gb())
    with open(out, "w") as fh:
        json.dump(res, fh)


# ---------------------------------------------------------------------------- the race
def compare(dw, gr, names, enrich):
    """Agreement table and summary of the two tools' z-scores."""
    z = pd.DataFrame({"deepwas": pd.Series(dw["z"]), "graphREML": pd.Series(gr["z"])}
                     ).reindex(names)
    ok = z.notna().all(axis=1)
    d, g = z.loc[ok, "deepwas"].to_numpy(), z.loc[ok, "graphREML"].to_numpy()
    slope = float(np.polyfit(d, g, 1)[0])
    null = z.iloc[len(enrich):]
    summary = dict(n_compared=int(ok.sum()), corr=float(np.corrcoef(d, g)[0, 1]),
                   slope_graphREML_on_deepwas=slope,
                   null_mean_z2_deepwas=float((null["deepwas"] ** 2).mean()),
                   null_mean_z2_graphREML=float((null["graphREML"] ** 2).mean()),
                   null_corr=float(null.corr().iloc[0, 1]))
    return z, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ldgm", default=bench_ldgm.SHARED_LDGM, help="folder of real LDGM blocks")
    ap.add_argument("--blocks", type=int, default=10, help="K: LD blocks of the genome")
    ap.add_argument("--candidates", type=int, default=100)
    ap.add_argument("--enrich", type=float, nargs="+", default=[2.0, 1.6, 1.3, 1.15],
                    help="variance factors of the first candidates (the others are null)")
    ap.add_argument("--graphreml", help="graphREML runner script (run_graphreml.py)")
    ap.add_argument("--n", type=float, default=200_000)
    ap.add_argument("--h2", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default=os.path.join(HERE, "_bench_score_test"))
    ap.add_argument("--csv", help="write the per-candidate z-scores here")
    ap.add_argument("--deepwas-child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--graphreml-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.deepwas_child:
        return run_deepwas(*args.deepwas_child)
    if args.graphreml_child:
        return run_graphreml(*args.graphreml_child)
    blocks = bench_ldgm.source_blocks(args.ldgm, "EUR")
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPU cores, one thread per "
          f"process; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"K = {args.blocks} blocks, {args.candidates} candidates "
          f"({len(args.enrich)} enriched x {', '.join(map(str, args.enrich))})")
    folder = os.path.join(args.work, f"K{args.blocks}")
    extra, names, frac = candidate_maker(args.candidates, args.enrich, args.seed)
    bench_ldgm.make_genome(args.blocks, blocks, folder, args.n, args.h2, args.seed, extra=extra)
    res = {}
    dw = os.path.join(folder, "deepwas_score.json")
    wall = bench_ldgm.child([sys.executable, __file__, "--deepwas-child", folder, dw])
    res["deepwas"] = dict(json.load(open(dw)), process_s=wall)
    if not args.graphreml:
        raise SystemExit("--graphreml (the runner script) is needed for the race")
    gr = os.path.join(folder, "graphreml_score.json")
    wall = bench_ldgm.child([sys.executable, __file__, "--graphreml-child", args.graphreml,
                             folder, gr])
    res["graphREML"] = dict(json.load(open(gr)), process_s=wall)
    per100 = 100 / args.candidates
    times = pd.DataFrame([
        dict(tool=t, fit_s=r["fit_s"], test_s=r["test_s"],
             test_per_100_s=r["test_s"] * per100, peak_rss_gb=r["peak_rss_gb"],
             process_s=r["process_s"], jackknife_blocks=r["n_blocks"])
        for t, r in res.items()])
    print(times.to_string(index=False, float_format="%.4g"))
    g = res["graphREML"]
    print(f"graphREML test = per-variant score stage {g['score_stage_s']:.1f} s + estest "
          f"{g['estest_s']:.2f} s; its fit took {g['iterations']} iterations")
    z, summary = compare(res["deepwas"], res["graphREML"], names, args.enrich)
    z.insert(0, "fraction", frac)
    print(z.iloc[:len(args.enrich)].assign(factor=args.enrich).to_string(
        float_format="%.3g"))
    print(", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in summary.items()))
    if args.csv:
        z.to_csv(args.csv)


if __name__ == "__main__":
    main()

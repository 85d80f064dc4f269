"""Does the transformer prior earn its place? Transformer-DeepWAS against GLM-DeepWAS on the demo.

For each truth and seed, runs the ``deepwas demo`` experiment (:func:`run_demo`: GroupKFold by
chromosome, held-out score and RMSE of log f) with only the GLM and the Transformer trained
by DeepWAS, and prints per run the held-out score difference (x1e-3 nats per person), both
RMSEs of log f, both fit times and how each fit stopped; then per truth: wins / seeds, mean
difference (with its SE), mean RMSEs and the transformer / GLM fit-time ratio.

The goal (issue 29): the transformer never below the GLM by more than 0.1e-3 nats per person
nor above its RMSE by more than 0.05, and better on average on the nonlinear truths.

Usage::

    python benchmarks/study_neural_prior.py --seeds 10 --truths glm network threshold
    python benchmarks/study_neural_prior.py --seeds 2 --chromosomes 1-8    # a short run

Writes ``study_neural_prior.tsv`` (one row per truth and seed) next to this file unless
``--out`` says otherwise.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from deepwas.datasets._demo_run import DemoSettings, run_demo

#: the issue's noise margins
SCORE_MARGIN_X1E3 = 0.1
RMSE_MARGIN = 0.05


def _chromosomes(text):
    if "-" in text:
        lo, hi = (int(x) for x in text.split("-"))
        return tuple(range(lo, hi + 1))
    return tuple(int(x) for x in text.split(","))


def one_run(truth, seed, chromosomes, cache_dir=None):
    """One row: the demo's GLM-DeepWAS and Transformer-DeepWAS on one truth and seed."""
    s = DemoSettings(truth=truth, seed=seed, chromosomes=chromosomes,
                     models=("glm", "transformer"), solvers=("deepwas",))
    t0 = time.perf_counter()
    res, _ = run_demo(s, cache_dir=cache_dir, progress=False, plots=False,
                      printer=lambda *a: None)
    by = res.set_index("model")
    glm, tr = by.loc["GLM"], by.loc["Transformer"]
    return dict(truth=truth, seed=seed, diff_x1e3=(tr.score - glm.score) * 1e3,
                rmse_glm=glm.rmse_log_f, rmse_transformer=tr.rmse_log_f,
                fit_s_glm=glm.fit_s, fit_s_transformer=tr.fit_s,
                stopped_glm=glm.stopped, stopped_transformer=tr.stopped,
                run_s=time.perf_counter() - t0)


def summary(df):
    """Per truth: wins / seeds, mean difference and SE, within-noise count, RMSEs, time ratio."""
    rows = []
    for truth, d in df.groupby("truth", sort=False):
        diff = d["diff_x1e3"].to_numpy()
        ok = (diff >= -SCORE_MARGIN_X1E3) & \
            (d["rmse_transformer"] <= d["rmse_glm"] + RMSE_MARGIN).to_numpy()
        rows.append(dict(truth=truth, seeds=len(d), wins=int((diff > 0).sum()),
                         within_noise=int(ok.sum()), mean_diff_x1e3=diff.mean(),
                         se_diff_x1e3=diff.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1
                         else np.nan,
                         rmse_glm=d["rmse_glm"].mean(),
                         rmse_transformer=d["rmse_transformer"].mean(),
                         time_ratio=d["fit_s_transformer"].sum() / d["fit_s_glm"].sum()))
    return pd.DataFrame(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--truths", nargs="+", default=["glm", "network", "threshold"])
    ap.add_argument("--chromosomes", type=_chromosomes, default=tuple(range(1, 23)),
                    help="demo regions, e.g. 1-22 (default) or 1-8")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                  "study_neural_prior.tsv"))
    args = ap.parse_args(argv)
    rows = []
    for truth in args.truths:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            r = one_run(truth, seed, args.chromosomes, args.cache_dir)
            rows.append(r)
            print(f"{truth:<10} seed {seed:>2}: transformer - GLM {r['diff_x1e3']:+.3f} x1e-3 "
                  f"nats/person; RMSE log f {r['rmse_transformer']:.3f} vs {r['rmse_glm']:.3f}; "
                  f"fit {r['fit_s_transformer']:.0f} s vs {r['fit_s_glm']:.0f} s "
                  f"(stopped on {r['stopped_transformer']} / {r['stopped_glm']})", flush=True)
            pd.DataFrame(rows).to_csv(args.out, sep="\t", index=False, float_format="%.6g")
    print(summary(pd.DataFrame(rows)).to_string(index=False, float_format="%.3f"))


if __name__ == "__main__":
    main()

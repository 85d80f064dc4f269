"""The README's cross-validation pattern with the transformer at its defaults, against the GLM.

Issue 29 measured ``cross_validate(FunctionalPrior(model="transformer"), stats,
groups=stats.groups, cv=GroupKFold(4))`` on 8 demo regions (network truth): 21 minutes on 2
cores, every fold at the 200-epoch cap with a ConvergenceWarning, held-out scores below the
GLM's on all 4 folds, where the GLM took 13 s. This runs the same call for the GLM and the
transformer, both with ``FunctionalPrior``'s defaults only, and prints per fold the held-out
scores (nats per person), how each fit stopped (and whether the transformer kept its flexible
part, with its validation gain), then the total times and their ratio (the issue's goal: at
most 5x).

Usage::

    python benchmarks/bench_transformer_defaults.py                 # chromosomes 1-8, network
    python benchmarks/bench_transformer_defaults.py --truth threshold --cache-dir DIR
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GroupKFold

from deepwas import FunctionalPrior
from deepwas.datasets import load_demo


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--truth", default="network", choices=("glm", "network", "threshold"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chromosomes", type=int, default=8, help="demo regions 1..K (default 8)")
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args(argv)

    demo = load_demo(truth=args.truth, random_state=args.seed,
                     chromosomes=tuple(range(1, args.chromosomes + 1)), cache_dir=args.cache_dir)
    stats = demo.stats
    print(f"demo chromosomes 1-{args.chromosomes} ({stats.n_variants:,} variants, "
          f"{len(stats)} windows), truth {args.truth}, seed {args.seed}; GroupKFold({args.folds}) "
          f"by chromosome; {os.cpu_count()} CPUs")
    splits = list(GroupKFold(args.folds).split(np.zeros(len(stats)), groups=stats.groups))
    total = {}
    scores = {}
    for model in ("glm", "transformer"):
        total[model], scores[model] = 0.0, []
        for k, (tr, te) in enumerate(splits):
            est = FunctionalPrior(model=model)
            t0 = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                est.fit(stats[tr])
            dt = time.perf_counter() - t0
            total[model] += dt
            scores[model].append(est.score(stats[te]))
            extra = ""
            if model == "transformer":
                extra = (f"; flexible part {'kept' if est.flexible_kept_ else 'dropped'} "
                         f"(validation gain {est.flexible_gain_:.1f} nats), "
                         f"{est.n_iter_} epochs, {est.n_steps_} steps of {est.accumulate_} "
                         f"window(s), lr {est.lr_:g}")
            warned = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
            print(f"  {model:<11} fold {k + 1}: held-out {scores[model][-1]:.6f}, "
                  f"stopped on {est.stopped_on_}, {dt:.1f} s, {warned} convergence "
                  f"warning(s){extra}", flush=True)
    diff = (np.array(scores["transformer"]) - np.array(scores["glm"])) * 1e3
    print(f"transformer - GLM, held out per fold (x1e-3 nats/person): "
          f"{', '.join(f'{d:+.3f}' for d in diff)}; mean {diff.mean():+.3f}")
    print(f"cross-validation time: GLM {total['glm']:.0f} s, transformer "
          f"{total['transformer']:.0f} s, ratio {total['transformer'] / total['glm']:.1f}x")


if __name__ == "__main__":
    main()

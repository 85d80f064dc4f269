"""The panel correction with Gaussian or bootstrap pseudo-panels, paired on the same replicates.

The panel correction (SIMEX, docs "LD from a reference panel") refits the prior on two
pseudo-panels and extrapolates ``2 theta_panel - mean(theta_pseudo)``. Its pseudo-panels are
Gaussian pseudo-people drawn from the panel's LD, which under-state the noise of strongly
linked pairs about twofold (``benchmarks/study_pseudo_panel_noise.py``); a bootstrap of the
panel's people comes closer (:class:`deepwas.pseudo_panel.BootstrapPanelLD`). This script
fits both on the realistic design of ``study_reference_panel.py`` (msprime loci, beta-hat
drawn through the LD of 10,000 people, 20 disjoint panels of ``--n-ref`` people, replicate r
on panel r mod 20, the same draws as that study's cells), with the GLM prior on the
annotation, and prints h2 and the enrichment of the annotation for:

* ``uncorrected`` -- the fit on the panel's LD (thinned cores, ``panel_correction="none"``);
* ``gaussian`` -- the correction with Gaussian pseudo-panels (``pseudo_panels="gaussian"``,
  the default until 2026-12-06; the same seeds as the estimator's);
* ``bootstrap`` -- the same extrapolation with bootstrap pseudo-panels: the package's
  correction of a genotype panel (``pseudo_panels="auto"``);
* ``bootstrap, reciprocal`` -- the same fits, the annotation's coefficients extrapolated
  as ``1 / c`` (:func:`reciprocal`);
* ``bootstrap, all draws`` -- with ``--draws`` above 2: the same extrapolation from that many
  bootstrap pseudo-panels (the correction's two first);
* ``quadratic`` -- with ``--kinds``: Gaussian pseudo-panels at two noise levels, the
  correction's two of the panel's size (noise ``2/n``) and two of half its size (``3/n``),
  and the quadratic through the three points extrapolated to no noise
  (``3 theta_panel - 3 mean(theta_n) + mean(theta_n/2)``; Cook and Stefanski's extrapolant),
  with ``linear3``, the least squares line through the same three points
  (``(4 theta_panel + mean(theta_n) - 2 mean(theta_n/2)) / 3``); ``--draws`` pseudo-panels
  at each level (default 2; more also give ``gaussian, all draws``, the correction's linear
  extrapolation from all those of the panel's size);
* ``in-sample`` -- the exact likelihood on the GWAS sample's own LD (the paired reference);
* ``thinned in-sample`` -- with ``--thinned-in-sample``: thinned cores on the GWAS sample's
  own LD (declared in-sample, so uncorrected), the panel fits' own reference (about 70 s more
  a replicate).

Point estimates only (no jackknife). About a minute a replicate on one core.

Usage::

    python benchmarks/study_simex_draws.py --n-ref 150 --reps 25 [--first-rep 0] [--out rows.csv]
        [--thinned-in-sample] [--kinds uncorrected,gaussian,quadratic] [--draws 2]
    python benchmarks/study_simex_draws.py --from-csv rows.csv [more.csv ...]
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

import deepwas
from deepwas.estimators._panel_correction import N_PSEUDO, _pseudo_seeds, weights
from deepwas.jackknife import flat_parameters, set_parameters

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import study_reference_panel as study  # noqa: E402

KINDS = ("uncorrected", "gaussian", "gaussian, all draws", "bootstrap", "bootstrap, all draws",
         "bootstrap, reciprocal", "quadratic", "linear3", "in-sample", "thinned in-sample")
#: what --kinds names (the others come with one of them)
SELECTABLE = ("uncorrected", "gaussian", "bootstrap", "quadratic", "in-sample")
#: what runs without --kinds (the study as first run)
DEFAULT_KINDS = "uncorrected,gaussian,bootstrap,in-sample"


def _point(est, stats, annot):
    f = est.predict_f(stats)
    return f.sum(), study.enrichment(f, annot)


def _level_seeds(rep, level, count):
    """Seeds of ``count`` pseudo-panels at noise level ``level`` (1: the panel's size, the
    correction's own two first; 2: half its size)."""
    if level == 1:
        extra = np.random.SeedSequence([rep, 5137, 1]).generate_state(max(count - N_PSEUDO, 0))
        return (_pseudo_seeds(rep) + [int(s) for s in extra])[:count]
    return [int(s) for s in np.random.SeedSequence([rep, 5137, 2]).generate_state(count)]


def reciprocal(prior, t1, t2):
    """The extrapolation with the annotations' coefficients (the GLM's weights, not its
    intercept) extrapolated as ``1 / c`` rather than ``c``: errors in a regressor attenuate its
    slope by ``k / (k + v)`` at noise variance ``v``, so ``1 / c`` is linear in ``v`` (the
    linear extrapolant is then short of the truth); from the panel's fit ``t1`` (``v = 1``) and
    the pseudo-panels' mean ``t2`` (``v = 2``), ``1 / c_0 = 2 / c_1 - 1 / c_2``. Where that has
    no solution of ``c_1``'s sign (``|c_2| <= |c_1| / 2``, or signs that differ) the coefficient
    is extrapolated linearly; the other parameters always are."""
    out = 2 * t1 - t2
    i = 0
    for name, p in prior.named_parameters():
        if name.split(".")[-1] in ("func_weight", "pred_weight"):
            for j in range(i, i + p.numel()):
                inv = 2 / t1[j] - 1 / t2[j] if t1[j] * t2[j] > 0 else 0.0
                if inv * t1[j] > 0:
                    out[j] = 1 / inv
        i += p.numel()
    return out


def one_replicate(D, panel_stats, in_sample, h2, rep, thinned_in_sample=None,
                  kinds=DEFAULT_KINDS.split(","), draws=2):
    rng = np.random.default_rng([rep, study.DESIGNS.index("realistic"), int(h2 * 1000)])
    bh, f_true = study.draw(D, "realistic", h2, rng)
    stats = panel_stats.with_beta_hat(bh)
    row = dict(rep=rep, h2_true=h2, enrichment_true=study.enrichment(f_true, D["annot"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = deepwas.GLMPrior(random_state=rep, panel_correction="none").fit(stats)
        theta = {"uncorrected": flat_parameters(fit.prior_)}

        def refits(seeds, people=None, draw="gaussian"):
            return np.array([flat_parameters(
                deepwas.GLMPrior(random_state=rep, panel_correction="none")
                .fit(stats.with_pseudo_panel(s, people, draw)).prior_) for s in seeds])

        pseudo = {}
        for kind in ("gaussian", "bootstrap"):
            if kind in kinds or (kind == "gaussian" and "quadratic" in kinds):
                pseudo[kind] = refits(_pseudo_seeds(rep), None, kind)
                fits = np.vstack([theta["uncorrected"], pseudo[kind]])
                # the correction's own extrapolation in the noise variance (1/n -> 2/n -> 0)
                theta[kind] = weights(len(fits)) @ fits
        if "bootstrap" in kinds:
            theta["bootstrap, reciprocal"] = reciprocal(
                fit.prior_, theta["uncorrected"], pseudo["bootstrap"].mean(0))
        more = _level_seeds(rep, 1, draws)[N_PSEUDO:]
        if "bootstrap" in kinds and more:
            # the same extrapolation from all the draws at the panel's size
            fits = np.vstack([theta["uncorrected"], pseudo["bootstrap"],
                              refits(more, None, "bootstrap")])
            theta["bootstrap, all draws"] = weights(len(fits)) @ fits
        if "quadratic" in kinds:
            t0 = theta["uncorrected"]
            level1 = np.vstack([pseudo["gaussian"], refits(more)]) if more else pseudo["gaussian"]
            t1 = level1.mean(0)
            t2 = refits(_level_seeds(rep, 2, draws), stats.ld.panel_size // 2).mean(0)
            if more:
                # the correction's linear extrapolation with as many draws
                theta["gaussian, all draws"] = weights(1 + len(level1)) @ np.vstack([t0, level1])
            theta["quadratic"] = 3 * t0 - 3 * t1 + t2
            theta["linear3"] = (4 * t0 + t1 - 2 * t2) / 3
        if "in-sample" in kinds:
            exact = deepwas.GLMPrior(random_state=rep).fit(in_sample.with_beta_hat(bh))
            row["h2 in-sample"], row["enrichment in-sample"] = _point(exact, in_sample,
                                                                      D["annot"])
        if thinned_in_sample is not None:
            thinned = thinned_in_sample.with_beta_hat(bh)
            row["h2 thinned in-sample"], row["enrichment thinned in-sample"] = _point(
                deepwas.GLMPrior(random_state=rep).fit(thinned), thinned, D["annot"])
    for kind, x in theta.items():
        est = copy.copy(fit)
        est.prior_ = copy.deepcopy(fit.prior_)
        set_parameters(est.prior_, x)
        row[f"h2 {kind}"], row[f"enrichment {kind}"] = _point(est, stats, D["annot"])
    return row


def report(rows):
    se = lambda x: x.std(ddof=1) / np.sqrt(len(x)) * 100   # noqa: E731
    for n_ref, d in rows.groupby("n_ref"):
        print(f"{int(n_ref)} people x 20 panels, h2 {d['h2_true'].iat[0]:g}, {len(d)} replicates: "
              "bias % of the truth (SE) / RMSE; paired: minus in-sample (and thinned "
              "in-sample), same replicates")
        for q, truth in (("h2", d["h2_true"]), ("enrichment", d["enrichment_true"])):
            refs = [k for k in ("in-sample", "thinned in-sample") if f"{q} {k}" in d]
            for kind in [k for k in KINDS if f"{q} {k}" in d]:
                x = d[f"{q} {kind}"]
                rel, rmse = x / truth - 1, np.sqrt(((x - truth) ** 2).mean())
                paired = [(x - d[f"{q} {r}"]) / truth for r in refs]
                print(f"  {q:10s} {kind:17s} {rel.mean() * 100:+6.1f} ({se(rel):.1f}) / "
                      f"{rmse:.4g}   paired " + ", ".join(
                          f"{p.mean() * 100:+6.1f} ({se(p):.1f})" for p in paired))
            for kind, ref in (("gaussian, all draws", "gaussian"), ("bootstrap", "gaussian"),
                              ("quadratic", "gaussian"), ("linear3", "gaussian"),
                              ("bootstrap, all draws", "bootstrap"),
                              ("bootstrap, reciprocal", "bootstrap")):
                if f"{q} {kind}" in d and f"{q} {ref}" in d:
                    diff = (d[f"{q} {kind}"] - d[f"{q} {ref}"]) / truth
                    print(f"  {q:10s} {kind} minus {ref} {diff.mean() * 100:+.2f} "
                          f"({se(diff):.2f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-ref", type=int, default=200)
    ap.add_argument("--h2", type=float, default=0.2)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--first-rep", type=int, default=0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--thinned-in-sample", action="store_true")
    ap.add_argument("--kinds", default=DEFAULT_KINDS,
                    help=f"of {', '.join(SELECTABLE)} (separated by ','; 'quadratic' adds "
                    "linear3; 'thinned in-sample' comes with --thinned-in-sample)")
    ap.add_argument("--draws", type=int, default=2,
                    help="pseudo-panels per noise level of 'quadratic' (the first two at the "
                    "panel's size are the correction's; more add 'gaussian, all draws', and "
                    "with 'bootstrap' as many bootstrap draws, 'bootstrap, all draws')")
    ap.add_argument("--from-csv", nargs="+")
    args = ap.parse_args()
    if args.from_csv:
        report(pd.concat([pd.read_csv(p) for p in args.from_csv]))
        return
    D = study.msprime_panel(n_ref=args.n_ref, panels=20)
    kinds = args.kinds.split(",")
    unknown = set(kinds) - set(SELECTABLE)
    if unknown:
        ap.error(f"unknown kinds {sorted(unknown)}")
    if args.draws < N_PSEUDO:
        ap.error(f"--draws must be at least {N_PSEUDO}: the correction's own pseudo-panels are "
                 "the first at the panel's size")
    in_sample = (study.base_stats(D, "realistic-in-sample", args.h2,
                                  dict(ld_regularisation="none"), None)
                 if "in-sample" in kinds else None)
    thinned = (study.base_stats(D, "realistic-in-sample", args.h2,
                                dict(ld_regularisation="thinned"), None)
               if args.thinned_in_sample else None)
    rows, cached = [], (None, None)
    for rep in range(args.first_rep, args.first_rep + args.reps):
        t0 = time.perf_counter()
        if cached[0] != rep % 20:
            cached = (rep % 20, study.base_stats(D, "realistic", args.h2,
                                                 dict(ld_regularisation="thinned"), None,
                                                 rep % 20))
        rows.append(dict(one_replicate(D, cached[1], in_sample, args.h2, rep, thinned, kinds,
                                       args.draws), n_ref=args.n_ref))
        print(f"  replicate {rep}: {time.perf_counter() - t0:.0f} s", flush=True)
        if args.out:
            pd.DataFrame(rows).to_csv(args.out, index=False)
    report(pd.DataFrame(rows))


if __name__ == "__main__":
    main()

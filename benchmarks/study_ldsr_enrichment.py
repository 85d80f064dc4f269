"""LD score regression's enrichment with a reference panel, over thousands of GWAS draws.

The study of ``study_reference_panel.py`` fits every estimator through the public API, 60-100
replicates a cell, each drawing beta-hat through the genotypes of 10,000 people (8 s a draw).
LD score regression's enrichment scatters by about 45 % of its value from one draw to the
next, so a cell's mean carries a sampling error of 4-6 % and the cells of one h2, which share
their draws, err together. This script measures the same estimator with 50-100 times the
draws, at no loss of exactness:

* the draws: ``beta_hat ~ N(0, R F R + (sigma^2 / N) R)`` per locus, ``R`` the LD of the GWAS's
  10,000 people (the realistic design of ``study_reference_panel.py``: 12 msprime loci, the
  annotation A on 20 % of the variants with 3x the per-variant variance,
  ``f ~ (p(1-p))^0.7 (1 + 2 A)``, N = 100,000, sigma^2 = 1 - h2 given), drawn from one
  eigendecomposition per locus: the distribution of ``beta_hat_from_genotypes``, exactly;
* the estimator: ``GLMPrior(solver="ldsr")`` on A with the package's defaults is a weighted
  least squares fit of ``N beta_hat^2 - sigma^2`` on the two partitioned LD scores
  ``N sum_k r^2_mk (p_k(1-p_k))^0.7 A_k`` and ``... (1 - A_k)`` (its exp link makes the two
  coefficients positive: non-negative least squares), with the weights of
  :func:`deepwas.fitting._ldsr.ldsr_weights` at the h2 of
  :func:`deepwas.fitting._ldsr.ldsr_regression` and the LD scores of
  :class:`deepwas.fitting._ldsr.LDSRBlocks` (the panel's unbiased r^2, the windows of the
  defaults). The script solves that least squares problem in closed form and checks it
  against the estimator itself on the first ``--check`` draws of the first panel of each cell
  (the differences are printed: up to 2e-3 of the enrichment, the estimator's loss being
  float32; the run stops at 1e-2).

Designs (``--designs``): ``in-sample`` (the GWAS's own LD, declared; ``--draws`` times
``--panels`` draws), and ``panel``: a panel of ``--n-ref`` other people with the defaults, over
``--panels`` disjoint panels (``--draws`` draws each); ``--variants`` adds :data:`VARIANTS`
to the panel cells (``--variants SIMEX``: only those named). Each row of the summary gives
the bias of h2 and of the enrichment relative to the truth with its SE (over the panels'
means, which vary from panel to panel), the SD over draws, and the RMSE.

usage: OMP_NUM_THREADS=2 python benchmarks/study_ldsr_enrichment.py [--n-ref 150,200,500]
       [--panels 20] [--draws 100] [--h2 0.05,0.2] [--check 2] [--designs in-sample,panel]
       [--variants [SIMEX,...]] [--out rows.csv]
       python benchmarks/study_ldsr_enrichment.py --from-csv rows.csv [--rst table.rst]

The docs' table (docs/ldsr_enrichment_table.rst) is ``--from-csv
benchmarks/results_ldsr_enrichment.csv.gz``: the panel rows of ``--n-ref 150,200,500``, the
in-sample rows of ``--n-ref 200 --designs in-sample``, the variants' rows of ``--n-ref 150``,
``--n-ref 200`` and ``--n-ref 500`` with ``--variants --designs panel``, and the weak signal's
of ``--n-ref 150,200 --h2 0.005,0.01 --designs panel --variants SIMEX`` (2026-12-06; about 6
minutes a panel size and both h2 on one core without the variants, 10 with them; the weak
signal's SIMEX run took 17 a size sharing two cores with another run).
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import nnls

import deepwas
from deepwas.estimators._panel_correction import _pseudo_seeds, extrapolation_agrees
from deepwas.estimators._panel_correction import weights as simex_weights
from deepwas.fitting._ldsr import (LDSRBlocks, ld_score_regression, ldsr_weights,
                                   local_ld_score)

from study_reference_panel import N, base_stats, enrichment, msprime_panel

#: the GLM prior's fixed frequency exponent (``alpha``), which the truth shares
ALPHA = 0.7


#: what ``--variants`` adds to the panel cells, beside the estimator itself: the partitioned LD
#: scores, or the LD scores of the weights, from the population's LD (the GWAS's 10,000
#: people) on the panel's windows instead of the panel's; the local LD score in both factors
#: of the weights (weights that do not follow a variant's own noise); and the estimator with
#: ``panel_correction="simex"`` (its two pseudo-panels, seeded by ``random_state=0``, and the
#: linear extrapolation of its parameters, the two log coefficients)
VARIANTS = ("population LD scores", "population weights", "local weights", "SIMEX")


class LDSRDesign:
    """The least squares problem of ``GLMPrior(solver="ldsr")`` on one SummaryStats: the
    core variants' partitioned LD scores, the weights' LD scores and the annotation sums;
    with ``population`` (genotypes, one row per variant of ``stats``) also those of its LD on
    the same windows, for :data:`VARIANTS`."""

    def __init__(self, stats, annot, population=None):
        freq = stats.variants["freq"].to_numpy(dtype=np.float64)
        pq = (freq * (1.0 - freq)) ** ALPHA
        self.g = np.stack([(1.0 - annot) * pq, annot * pq], axis=1)
        blocks = LDSRBlocks(stats)
        cores, xs, ls, lts = [], [], [], []
        try:
            for k in range(len(stats.windows)):
                core, ext = stats.windows[k]
                R2, l, lt, _ = blocks.get(k)
                cores.append(core)
                xs.append(R2.cpu().numpy().astype(np.float64) @ self.g[ext])
                ls.append(l.cpu().numpy().astype(np.float64))
                lts.append(lt.cpu().numpy().astype(np.float64))
        finally:
            blocks.free()
        self.core = np.concatenate(cores)
        self.pieces = {"panel": (N * np.concatenate(xs), np.concatenate(ls),
                                 np.concatenate(lts))}
        if population is not None:
            self.pieces["population"] = self._population_pieces(stats, population)
        self.sums = self.g.sum(axis=0)
        self.share_a = float(annot.mean())
        self.stats = stats
        self.M = float(len(stats.variants))

    def _population_pieces(self, stats, population):
        xs, ls, lts = [], [], []
        block = (None, None)
        for core, ext in stats.windows:
            if block[0] is None or not np.array_equal(block[0], ext):   # windows share blocks
                Z = population.standardised(ext)
                block = (ext, (Z @ Z.T / Z.shape[1]) ** 2)
            pos = np.searchsorted(ext, core)      # ext is sorted and holds the core
            R2 = block[1][pos]
            xs.append(R2 @ self.g[ext])
            l = R2.sum(axis=1)  # noqa: E741
            ls.append(l)
            lts.append(local_ld_score(l))
        return N * np.concatenate(xs), np.concatenate(ls), np.concatenate(lts)

    def fit(self, beta_hat, sigma2, variant="estimator", pseudo=()):
        """(h2, enrichment of A) of the estimator on ``beta_hat``, or of one of
        :data:`VARIANTS` ("SIMEX": ``pseudo`` holds the pseudo-panels' LDSRDesigns)."""
        if variant == "SIMEX":
            taus = [d.coefficients(beta_hat, sigma2) for d in (self,) + pseudo]
            logs = np.log(np.maximum(taus, 1e-300))
            h2, e = self._summary(np.exp(simex_weights(len(logs)) @ logs))
            # as the estimator: a fit at a bound leaves the fit on the panel's LD
            if not extrapolation_agrees([self._summary(t)[0] for t in taus], h2):
                return self._summary(taus[0])
            return h2, e
        return self._summary(self.coefficients(beta_hat, sigma2, variant))

    def _summary(self, tau):
        parts = tau * self.sums
        h2 = parts.sum()
        return float(h2), float(parts[1] / h2 / self.share_a) if h2 > 0 else float("nan")

    def coefficients(self, beta_hat, sigma2, variant="estimator"):
        """The non-negative coefficients of the two partitioned LD scores (``f / pq^0.7`` of
        the variants outside and inside A)."""
        X, l, lt = self.pieces["panel"]
        if variant == "population LD scores":
            X = self.pieces["population"][0]
        elif variant == "population weights":
            _, l, lt = self.pieces["population"]
        chi2 = N * beta_hat[self.core] ** 2
        h2_ballpark, _ = ld_score_regression(l, lt, chi2, N, self.M)
        h2_ballpark = float(np.clip(h2_ballpark, 1e-3, 1.0))
        w = (ldsr_weights(lt, lt, N, h2_ballpark, self.M) if variant == "local weights"
             else ldsr_weights(l, lt, N, h2_ballpark, self.M))
        sw = np.sqrt(w)
        tau, _ = nnls(X * sw[:, None], (chi2 - sigma2) * sw)
        return tau


class LocusDraws:
    """beta-hat ~ N(0, R F R + s R) per locus, R the GWAS sample's LD."""

    def __init__(self, geno, regions, f, s):
        self.parts = []
        for g in pd.unique(regions):
            idx = np.flatnonzero(regions == g)
            X = geno.standardised(idx)
            R = X @ X.T / X.shape[1]
            cov = R @ (f[idx, None] * R) + s * R
            vals, vecs = np.linalg.eigh(cov)
            self.parts.append((idx, vecs * np.sqrt(np.clip(vals, 0.0, None))))
        self.M = len(f)

    def draw(self, rng):
        out = np.empty(self.M)
        for idx, root in self.parts:
            out[idx] = root @ rng.standard_normal(root.shape[1])
        return out


def check_against_estimator(design, stats, bh, sigma2, pseudo=()):
    """|closed form - GLMPrior(solver="ldsr")| in h2 and enrichment (relative) on one draw, the
    estimator run to a tight tolerance; with ``pseudo`` (the pseudo-panels' designs), of the
    estimator with ``panel_correction="simex"`` against the "SIMEX" variant."""
    st = stats.with_beta_hat(bh, sigma2=sigma2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # a tight tolerance: the closed form is the optimum of the estimator's loss
        est = deepwas.GLMPrior(solver="ldsr", random_state=0, tol=1e-10, max_iter=5000,
                               panel_correction="simex" if pseudo else "none").fit(st)
        tab = est.partitioned_h2(st, jackknife="none")
    a = tab.loc[tab["Category"] == "A"].iloc[0]
    h2, e = design.fit(bh, sigma2, "SIMEX" if pseudo else "estimator", pseudo)
    return abs(h2 - tab.attrs["h2"]), abs(e - float(a["Enrichment"])) / abs(e)


def pseudo_designs(stats, annot):
    """The LDSRDesigns of the pseudo-panels ``panel_correction="simex"`` fits with
    ``random_state=0``."""
    return tuple(LDSRDesign(stats.with_pseudo_panel(seed, stats.ld.panel_size), annot)
                 for seed in _pseudo_seeds(0))


def run(n_refs, panels, draws, h2s, check, out=None, designs=("in-sample", "panel"),
        variants=()):
    rows = []
    for n_ref in n_refs:
        t0 = time.perf_counter()
        D = msprime_panel(n_ref=n_ref, panels=panels)
        annot = D["annot"]
        # the in-sample cell gets as many draws as the panel cell has in all
        cells = ([("in-sample", 0, draws * panels)] if "in-sample" in designs else []) + (
            [("panel", j, draws) for j in range(panels)] if "panel" in designs else [])
        # the LD, its LD scores and the pseudo-panels do not depend on h2: built once a cell
        truths, draws_of = {}, {}
        for h2 in h2s:
            f = D["shape"] * h2 / D["shape"].sum()
            draws_of[h2] = LocusDraws(D["P"], D["regions"], f, (1.0 - h2) / N)
            truths[h2] = enrichment(f, annot)
        for design_name, j, n_draws in cells:
            design = "realistic-in-sample" if design_name == "in-sample" else "realistic"
            stats = base_stats(D, design, h2s[0], {}, None, panel=j)
            extra = tuple(variants) if design_name == "panel" else ()
            population = any(v.startswith("population") for v in extra)
            problem = LDSRDesign(stats, annot, population=D["P"] if population else None)
            pseudo = pseudo_designs(stats, annot) if "SIMEX" in extra else ()
            for h2 in h2s:
                rng = np.random.default_rng([n_ref, j, int(h2 * 1000),
                                             int(design_name == "in-sample")])
                for d in range(n_draws):
                    bh = draws_of[h2].draw(rng)
                    if j == 0 and d < check:
                        for ps in ((), pseudo) if pseudo else ((),):
                            dh, de = check_against_estimator(problem, stats, bh, 1.0 - h2, ps)
                            print(f"  check n_ref {n_ref} {design_name} h2 {h2} draw {d}"
                                  f"{' SIMEX' if ps else ''}: |h2 diff| {dh:.2e}, "
                                  f"enrichment rel. diff {de:.2e}", flush=True)
                            if de > 1e-2:
                                raise RuntimeError("the closed form is not the estimator")
                    for variant in ("estimator",) + extra:
                        h2_hat, e_hat = problem.fit(bh, 1.0 - h2, variant, pseudo)
                        rows.append(dict(design=design_name, n_ref=n_ref, panel=j,
                                         h2_true=h2, variant=variant, draw=d, h2=h2_hat,
                                         enrichment=e_hat, enrichment_true=truths[h2]))
            print(f"n_ref {n_ref}, {design_name} {j}: done at "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        if out:
            pd.DataFrame(rows).to_csv(out, index=False)
    return pd.DataFrame(rows)


def summarise(df):
    out = []
    df = df.assign(variant=df["variant"].fillna("estimator") if "variant" in df
                   else "estimator")
    for (design, n_ref, h2, variant), g in df.groupby(["design", "n_ref", "h2_true", "variant"],
                                                      sort=False):
        rel_h2 = g["h2"] / h2 - 1.0
        rel_e = g["enrichment"] / g["enrichment_true"] - 1.0
        row = dict(design=design, variant=variant, n_ref=int(n_ref), h2=h2,
                   panels=g["panel"].nunique(), draws=len(g))
        for name, rel, est, true in (("h2", rel_h2, g["h2"], h2),
                                     ("enrichment", rel_e, g["enrichment"],
                                      g["enrichment_true"])):
            means = rel.groupby(g["panel"]).mean()
            # SE over the panels' means where there are several (the panel's own LD moves
            # every draw of a panel alike), over the draws otherwise
            se = (means.std() / np.sqrt(len(means)) if len(means) > 1
                  else rel.std() / np.sqrt(len(rel)))
            row[f"{name}_bias_pct"] = 100 * rel.mean()
            row[f"{name}_se_pct"] = 100 * se
            row[f"{name}_sd_pct"] = 100 * rel.std()
            row[f"{name}_panel_sd_pct"] = 100 * means.std() if len(means) > 1 else np.nan
            row[f"{name}_rmse"] = float(np.sqrt(((est - true) ** 2).mean()))
        out.append(row)
    return pd.DataFrame(out)


def report(df, rst=None):
    s = summarise(df)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(s.round(3).to_string(index=False))
    if rst:
        with open(rst, "w") as fh:
            fh.write(rst_table(s))
    return s


def rst_table(s):
    """The summary as the docs' list-table."""
    head = ["LD the model gets", "true h2 (draws)", "h2 bias (SE)", "h2 RMSE",
            "enrichment bias (SE)",
            "SD of a panel's mean enrichment error", "enrichment RMSE (truth about 2.14)"]
    lines = [".. list-table::", "   :header-rows: 1", ""]
    lines += [("   * - " if i == 0 else "     - ") + h for i, h in enumerate(head)]
    for r in s.sort_values(["design", "n_ref", "h2"], kind="stable").itertuples():
        who = ("the GWAS sample's own (in-sample)" if r.design == "in-sample"
               else f"a panel of {r.n_ref} ({r.panels} panels)")
        if r.variant != "estimator":
            who += f", {r.variant}"
        cells = [who, f"{r.h2:g} ({r.draws:,})",
                 f"{r.h2_bias_pct:+.1f}% ({r.h2_se_pct:.1f}%)", f"{r.h2_rmse:.4f}",
                 f"{r.enrichment_bias_pct:+.1f}% ({r.enrichment_se_pct:.1f}%)",
                 "(one LD)" if np.isnan(r.enrichment_panel_sd_pct)
                 else f"{r.enrichment_panel_sd_pct:.1f}%",
                 f"{r.enrichment_rmse:.2f}"]
        lines += [("   * - " if i == 0 else "     - ") + c for i, c in enumerate(cells)]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-ref", default="150,200,500")
    ap.add_argument("--panels", type=int, default=20)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--h2", default="0.05,0.2")
    ap.add_argument("--check", type=int, default=2,
                    help="draws of each cell's first panel also fitted by the estimator")
    ap.add_argument("--out", default=None)
    ap.add_argument("--designs", default="in-sample,panel")
    ap.add_argument("--variants", nargs="?", const=",".join(VARIANTS), default="",
                    help="also fit these VARIANTS (names separated by ','; all when none is "
                    "named) on the panel cells: the attenuation's sources and SIMEX")
    ap.add_argument("--from-csv", nargs="+", default=None)
    ap.add_argument("--rst", default=None, help="write the summary as a list-table here")
    args = ap.parse_args()
    if args.from_csv:
        report(pd.concat([pd.read_csv(p) for p in args.from_csv], ignore_index=True),
               args.rst)
        return
    variants = tuple(v for v in args.variants.split(",") if v)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    df = run([int(x) for x in args.n_ref.split(",")], args.panels, args.draws,
             [float(x) for x in args.h2.split(",")], args.check, args.out,
             args.designs.split(","), variants)
    report(df, args.rst)


if __name__ == "__main__":
    main()

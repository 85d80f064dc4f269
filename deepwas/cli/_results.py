"""What a geneticist takes from a saved prior: fine-mapping priors for PolyFun
(``deepwas predict --out-format polyfun``), PLINK ``--score`` weights from the posterior mean
effects (``deepwas posterior``) and partitioned heritability in S-LDSC's layout
(``deepwas h2``)."""
from __future__ import annotations

import json
import logging
import os
import warnings
from functools import partial

import numpy as np
import pandas as pd

from .._version import __version__
from ..estimators import load_model
from ..heritability import RESULTS_COLUMNS
from ..io.variant_names import user_id_columns
from ..utils.chrom import sort_chroms
from ._common import add_command, positive_int
from ._data import UserError, add_data_args, load_stats, model_features
from ._predict import cmd_predict, predicted_f

__all__ = ["register", "cmd_predict_any", "cmd_posterior", "cmd_h2", "write_polyfun",
           "polyfun_table", "posterior_weights"]

log = logging.getLogger("deepwas.cli")

#: PolyFun's SNPVAR input columns, in its order
POLYFUN_COLUMNS = ["CHR", "SNP", "BP", "A1", "A2", "SNPVAR", "Z", "N"]


# --- predict --out-format polyfun --------------------------------------------------------------

def polyfun_table(variants, f, z, n, builds=None):
    """PolyFun's SNPVAR table: ``CHR SNP BP A1 A2 SNPVAR Z N``, then the LD reference's
    ``REF_SNP REF_CHR REF_BP_<build>`` (:func:`deepwas.io.variant_names.user_id_columns`).

    ``SNP``, ``CHR``, ``BP``, ``A1``, ``A2`` are the summary statistics' own (``Z`` is signed
    for that ``A1``). ``SNPVAR`` is the per-SNP heritability of a standardised genotype,
    PolyFun's own scale (its ``SNPVAR`` is ``sum_c tau_c a_mc``, summing to the SNP
    heritability): here the prior variance ``f``. ``CHR`` is an integer (PolyFun's finemapper
    selects ``CHR == --chr`` with an integer); variants on other chromosomes (X, Y, MT) are
    left out with a warning.
    """
    ids, _ = user_id_columns(variants, builds)
    num = pd.to_numeric(ids["CHR"], errors="coerce")
    keep = num.notna().to_numpy()
    if not keep.all():
        log.warning("PolyFun needs integer chromosomes: %d variants on %s left out",
                    int((~keep).sum()), ", ".join(sort_chroms(set(ids["CHR"][~keep]))))
    out = ids[keep].reset_index(drop=True).assign(CHR=num[keep].astype(np.int64).to_numpy())
    first = ["CHR", "SNP", "BP", "A1", "A2"]
    out = out[first + [c for c in out.columns if c not in first]]
    out.insert(5, "SNPVAR", np.asarray(f, dtype=np.float64)[keep])
    out.insert(6, "Z", np.asarray(z, dtype=np.float64)[keep])
    out.insert(7, "N", np.broadcast_to(np.asarray(n, dtype=np.float64), (len(keep),))[keep])
    return out


def write_polyfun(table, prefix, fmt="gz"):
    """One file per chromosome, ``PREFIX.CHR.snpvar.gz`` (tab-separated, gzip: PolyFun's
    ``--output-prefix`` naming) or ``PREFIX.CHR.snpvar.parquet``. Returns the paths."""
    d = os.path.dirname(os.path.abspath(prefix))
    os.makedirs(d, exist_ok=True)
    paths = []
    for c in sorted(table["CHR"].unique()):
        part = table[table["CHR"] == c].sort_values("BP", kind="stable")
        path = f"{prefix}.{int(c)}.snpvar.{fmt}"
        if fmt == "parquet":
            part.to_parquet(path, index=False)
        else:
            part.to_csv(path, sep="\t", index=False, compression="gzip", float_format="%.6e")
        paths.append(path)
    return paths


def cmd_predict_any(args):
    """``deepwas predict``: the TSV of :func:`cmd_predict`, or PolyFun's SNPVAR files."""
    if args.out_format != "polyfun":
        return cmd_predict(args)
    v, f, z, n = predicted_f(args)
    tab = polyfun_table(v, f, z, n, v.attrs.get("genome_builds"))
    out = args.out
    fmt = "parquet" if out.endswith(".parquet") else "gz"
    for ext in (".parquet", ".gz"):
        if out.endswith(ext):
            out = out[: -len(ext)]
    paths = write_polyfun(tab, out, fmt)
    print(f"PolyFun SNPVAR of {len(tab)} variants on {len(paths)} "
          f"chromosome{'s' if len(paths) != 1 else ''} (sum SNPVAR = {tab.SNPVAR.sum():.4g}); "
          f"wrote {', '.join(paths)}; {user_id_columns(v, v.attrs.get('genome_builds'))[1]}")
    return 0


# --- posterior --------------------------------------------------------------------------------

def posterior_weights(variants, beta_std, scale="allelic", builds=None):
    """PLINK ``--score`` weights ``SNP A1 BETA`` from standardised posterior means, then
    ``A2 CHR BP`` and the LD reference's ``REF_SNP REF_CHR REF_BP_<build>``.

    ``SNP``, ``A1`` (the allele BETA counts), ``A2``, ``CHR``, ``BP`` are the summary
    statistics' own (:func:`deepwas.io.variant_names.user_id_columns`), so the weights match
    the user's genotypes by the user's identifiers. ``scale="allelic"``:
    ``BETA = beta_std / sqrt(2 p (1 - p))`` with ``p`` the frequency of A1, the effect of one
    copy of A1 on the standardised phenotype (what ``--score`` sums over allele counts);
    ``"standardised"``: per standard deviation of the genotype. Variants without a value (core
    in no window) or, for the allelic scale, without a usable frequency are left out; returns
    ``(table, n_left_out)``.
    """
    beta = np.asarray(beta_std, dtype=np.float64)
    if scale == "allelic":
        p = np.asarray(variants["freq"], dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            beta = beta / np.sqrt(2.0 * p * (1.0 - p))
    ok = np.isfinite(beta)
    ids, _ = user_id_columns(variants, builds)
    ids = ids[ok].reset_index(drop=True)
    first = ["SNP", "A1", "A2", "CHR", "BP"]
    tab = pd.concat([ids[first], ids.drop(columns=first)], axis=1)
    tab.insert(2, "BETA", beta[ok])
    return tab, int((~ok).sum())


def cmd_posterior(args):
    est, cfg = load_model(args.model)
    stats = load_stats(args, features=model_features(args, cfg))
    beta = est.posterior_mean(stats)
    tab, dropped = posterior_weights(stats.variants, beta, args.scale, stats.genome_builds)
    if dropped:
        log.warning("%d of %d variants left out of the weights (core in no window%s)", dropped,
                    stats.n_variants, ", or allele frequency 0, 1 or missing"
                    if args.scale == "allelic" else "")
    d = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(d, exist_ok=True)
    tab.to_csv(args.out, sep="\t", index=False, float_format="%.6g")
    print(f"posterior mean effects ({args.scale} scale) of {len(tab)} variants; wrote "
          f"{args.out} (plink --score {args.out} 1 2 3 header); "
          f"{user_id_columns(stats.variants, stats.genome_builds)[1]}")
    return 0


# --- h2 ---------------------------------------------------------------------------------------

def _fmt(x):
    return "nan" if not np.isfinite(x) else f"{x:.4g}"


def plot_enrichment(table, path):
    """Enrichment and its 95 % interval per annotation (matplotlib Agg); returns the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    k = len(table)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * k + 2.0), 3.6))
    x = np.arange(k)
    enr = table["Enrichment"].to_numpy(dtype=np.float64)
    half = table["Enrichment_ci95_upper"].to_numpy(dtype=np.float64) - enr
    ax.errorbar(x, enr, yerr=np.nan_to_num(half, nan=0.0, posinf=0.0), fmt="o", capsize=3)
    ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x)
    ax.set_xticklabels(table["Category"], rotation=45, ha="right")
    ax.set_ylabel("enrichment (95 % interval)")
    ax.set_title(f"h2 = {_fmt(table.attrs['h2'])} (SE {_fmt(table.attrs['h2_std_error'])})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _interval(attrs):
    """``[lo, hi]`` of ``attrs["h2_ci95"]`` with its quantile's degrees of freedom, or a
    sentence saying why there is none."""
    lo, hi = attrs["h2_ci95"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "none (no jackknife)"
    return f"[{_fmt(lo)}, {_fmt(hi)}] (t, {attrs['n_blocks'] - 1} degrees of freedom)"


def cmd_h2(args):
    est, cfg = load_model(args.model)
    for path in args.annot or []:
        if "@" not in path and not os.path.isfile(path):
            raise UserError(f"annotation file not found: {path}")
    stats = load_stats(args, features=model_features(args, cfg))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            tab = est.partitioned_h2(stats, args.annot, n_blocks=args.n_blocks,
                                     jackknife=args.jackknife)
        except FileNotFoundError as e:
            raise UserError(f"annotation file not found: {e.filename or e}") from e
    notes = [str(w.message) for w in caught]
    derived = list(tab.loc[tab["model_derived"], "Category"])
    if derived:
        notes.append(f"model-derived rows ({', '.join(map(str, derived))}): not features of the "
                     "model, so their Enrichment and Enrichment_p describe how the fitted f "
                     "(its features, its frequency term) falls on them, not a test of the data; "
                     "to test whether they add signal beyond the model use deepwas score-test")
    for text in notes:
        log.warning("%s", text)
    d = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(d, exist_ok=True)
    res = args.out + ".results"
    tab[RESULTS_COLUMNS + ["tau_star", "tau_star_std_error", "model_derived",
                           "Enrichment_ci95_lower", "Enrichment_ci95_upper"]].to_csv(
        res, sep="\t", index=False, float_format="%.6g", na_rep="NA")
    a = tab.attrs
    lines = [
        f"deepwas h2 (deepwas {__version__})",
        f"model: {os.path.abspath(args.model)}: {json.dumps(cfg.get('params', {}))}",
        f"data: {stats}",
        f"drop counts: {json.dumps({k: int(v) for k, v in stats.drop_counts.items()})}",
        f"annotations: {', '.join(args.annot) if args.annot else 'the model features'} "
        f"({len(tab)} columns)",
        f"variants summed over: {a['n_variants']} (not annotated, left out: "
        f"{a['n_variants_not_annotated']})",
        f"jackknife: {a['jackknife']}" + ("" if a["jackknife_unit"] is None else
                                          f" over {a['n_blocks']} blocks of "
                                          + {"windows": "windows", "variants":
                                             "contiguous variants"}[a["jackknife_unit"]]),
    ] + [f"warning: {t}" for t in notes] + [
        f"Total Observed scale h2: {_fmt(a['h2'])} ({_fmt(a['h2_std_error'])})",
        f"95 % interval of h2: {_interval(a)}",
        f"wrote {res}",
    ]
    png = args.out + ".enrichment.png"
    plot_enrichment(tab, png)
    lines.append(f"wrote {png}")
    with open(args.out + ".log", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"Total h2: {_fmt(a['h2'])} ({_fmt(a['h2_std_error'])}; 95 % interval "
          f"{_interval(a)}) over {a['n_variants']} variants; wrote {res}, {args.out}.log and "
          f"{png}")
    return 0


def register(subparsers):
    """Add ``deepwas predict``, ``deepwas posterior`` and ``deepwas h2``."""
    command = partial(add_command, subparsers)
    pr = command("predict", help="per-variant prior variances f of a saved prior",
                 description="Prior variance f and enrichment sqrt(f / mean f) of every "
                 "variant: of the data set's variants (with --bfile/--ld-dir) or of the "
                 "rows of --sumstats (needs a frequency column). Writes a TSV (gzip if it "
                 "ends .gz) and a parquet copy when pyarrow is installed.")
    pr.add_argument("--model", required=True, metavar="DIR", help="folder written by deepwas fit")
    add_data_args(pr)
    pr.add_argument("--out", required=True, metavar="FILE",
                    help="output table (.tsv[.gz]); with --out-format polyfun a prefix: "
                         "PREFIX.CHR.snpvar.gz, or PREFIX.CHR.snpvar.parquet when it ends "
                         ".parquet")
    pr.add_argument("--out-format", choices=("tsv", "polyfun"), default="tsv",
                    help="tsv: SNP CHR BP A1 A2 FREQ F ENRICHMENT; polyfun: PolyFun's SNPVAR "
                         "input for its finemapper (--sumstats PREFIX.CHR.snpvar.gz), one file "
                         "per chromosome with CHR SNP BP A1 A2 SNPVAR Z N, SNPVAR = f (per-SNP "
                         "heritability of a standardised genotype, PolyFun's scale). SNP, CHR, "
                         "BP, A1, A2 are the statistics' own; the LD reference's follow as "
                         "REF_SNP REF_CHR REF_BP_<build>. --format names the format of "
                         "--sumstats, not of the output")
    pr.set_defaults(func=cmd_predict_any)
    # predict may work from the statistics alone: LD is optional there
    for grp in pr._mutually_exclusive_groups:
        grp.required = False

    po = command("posterior", help="posterior mean effects as PLINK --score weights",
                 description="Posterior mean effects E[beta | beta_hat] under a saved prior "
                 "(from the window factors, each variant from the window where it is core), "
                 "written as SNP A1 BETA for plink --score FILE 1 2 3 header (the "
                 "statistics' own SNP IDs and alleles; A2 CHR BP and the LD reference's "
                 "REF_SNP REF_CHR REF_BP_<build> follow). The posterior "
                 "mean is computed per standardised genotype on a standardised phenotype; "
                 "--scale allelic (the default) divides it by sqrt(2 p (1 - p)), p the "
                 "frequency of A1 in the data (from the reference panel where the statistics "
                 "have none), giving the effect of one copy of A1 in phenotype standard "
                 "deviations, which is what --score sums over allele counts.")
    po.add_argument("--model", required=True, metavar="DIR", help="folder written by deepwas fit")
    add_data_args(po)
    po.add_argument("--scale", choices=("allelic", "standardised"), default="allelic",
                    help="BETA per copy of A1 (allelic) or per standard deviation of the "
                         "genotype (standardised)")
    po.add_argument("--out", required=True, metavar="FILE", help="weights table (TSV)")
    po.set_defaults(func=cmd_posterior)

    hh = command("h2", help="partitioned heritability and enrichment (S-LDSC .results)",
                 description="Total h2, and per annotation Prop._h2, Enrichment, Enrichment_p, "
                 "the coefficient tau and tau*, with block-jackknife standard errors (blocks "
                 "of contiguous windows, or of variants on fewer windows than --n-blocks), "
                 "from a saved prior on the data's variants. Writes "
                 "PREFIX.results (S-LDSC's .results columns, tab-separated, plus tau_star), "
                 "PREFIX.log (model, data, drop counts, total h2 and SE) and "
                 "PREFIX.enrichment.png.")
    hh.add_argument("--model", required=True, metavar="DIR", help="folder written by deepwas fit")
    add_data_args(hh)
    hh.add_argument("--annot", nargs="+", metavar="FILE",
                    help="S-LDSC .annot[.gz] files (CHR BP SNP CM + annotation columns; '@' "
                         "stands for the chromosome), joined on SNP, and/or BED files "
                         "(.bed[.gz]: one 0/1 annotation per file, named by the file, 1 for a "
                         "variant inside one of its intervals) (default: the model's scalar "
                         "features)")
    hh.add_argument("--n-blocks", type=positive_int, default=200, metavar="K",
                    help="jackknife blocks: contiguous runs of windows or, with fewer windows "
                         "than K (one LDGM block is one window), K blocks of contiguous "
                         "variants that split windows (pseudo only; warned: blocks shorter "
                         "than the LD between them under-estimate the SEs, so prefer K such "
                         "that each block spans a region of its own)")
    hh.add_argument("--jackknife", choices=("auto", "pseudo", "refit", "none"), default="auto",
                    help="pseudo: one-Newton-step pseudo-jackknife (graphREML); refit: each "
                         "leave-one-block-out optimum solved (from the Newton step for a "
                         "small prior; else K warm-started fits); none: no SEs; auto: pseudo "
                         "for constant/GLM priors (refit for LD score regression with at most "
                         "64 parameters, for which one step is short), none for neural ones")
    hh.add_argument("--out", required=True, metavar="PREFIX", help="output prefix")
    hh.set_defaults(func=cmd_h2)

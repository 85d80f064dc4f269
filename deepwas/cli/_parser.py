"""The ``deepwas`` argument parser: one subparser per command."""
from __future__ import annotations

import argparse

from ._data import add_data_args
from ._datasets import cmd_demo, cmd_precompute, cmd_simulate
from ._models import add_train_args, cmd_fit, cmd_predict, cmd_score

__all__ = ["build_parser"]


def build_parser():
    p = argparse.ArgumentParser(
        prog="deepwas",
        description="Functionally informed GWAS priors learned from summary statistics "
                    "(DeepWAS: exact marginal likelihood; or LD score regression).")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log progress and data drops; print tracebacks of errors")
    from .. import __version__

    p.add_argument("--version", action="version", version=f"deepwas {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="the main demo: cross-validated priors on the embedded data",
                       description="Cross-validate (GroupKFold by chromosome) Constant, GLM and "
                       "Transformer priors trained with DeepWAS and with LDSR on the embedded "
                       "demo (22 real 1000 Genomes EUR regions, hg38 bigWig tracks read through "
                       "liftover, semi-synthetic GWAS of N = 300,000 from a known prior). Prints "
                       "the held-out table and writes it with PNG plots to --out.")
    d.add_argument("--quick", action="store_true",
                   help="a sub-minute smoke run (2 regions, 1-2 epochs)")
    d.add_argument("--out", default="deepwas_demo", metavar="DIR",
                   help="output folder (default ./deepwas_demo)")
    d.add_argument("--cache-dir", metavar="DIR",
                   help="cache of tracks, features and window factors (default $DEEPWAS_CACHE "
                        "or ~/.cache/deepwas)")
    d.add_argument("--folds", type=int, help="GroupKFold splits (default 2)")
    d.add_argument("--seed", type=int, help="random seed of data and training (default 0)")
    d.add_argument("--truth", choices=("glm", "network", "threshold", "constant"),
                   help="true prior of the simulation (default glm)")
    d.add_argument("--n", type=float, help="GWAS sample size (default 300,000)")
    d.add_argument("--h2", type=float, help="heritability of the demo variants (default 0.5 for the 22 regions; "
                        "for --quick, 0.5 times their share of the variants)")
    d.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    d.set_defaults(func=cmd_demo)

    pc = sub.add_parser("precompute", help="compute and cache the window factors of a data set",
                        description="Build the windows of a data set and compute their theta-free "
                        "factors (eigendecomposition of each core's LD) into --cache-dir, so "
                        "that fit and score start at once.")
    add_data_args(pc, with_features=False)
    pc.add_argument("--out", metavar="JSON", help="write a summary (windows, drops, timing)")
    pc.add_argument("--no-progress", action="store_true")
    pc.set_defaults(func=cmd_precompute)

    ft = sub.add_parser("fit", help="train a prior and save it (state dict + JSON)",
                        description="Train a prior on the windows of the data (minus "
                        "--test-chrom) and save it to --out as model.pt (torch state dict, "
                        "loaded with weights_only=True) and model.json; with --test-chrom also "
                        "write the held-out report.")
    add_data_args(ft)
    add_train_args(ft)
    ft.add_argument("--test-chrom", nargs="+", metavar="CHR",
                    help="chromosomes held out from training and scored")
    ft.add_argument("--out", required=True, metavar="DIR", help="model folder")
    ft.set_defaults(func=cmd_fit)

    sc = sub.add_parser("score", help="held-out log-likelihood gain of a saved prior",
                        description="Exact log-likelihood gain over the null model of a saved "
                        "prior on the windows of the data, in nats per person and as the "
                        "paper's % likelihood increase per person; JSON summary + per-window TSV.")
    sc.add_argument("--model", required=True, metavar="DIR", help="folder written by deepwas fit")
    add_data_args(sc)
    sc.add_argument("--chrom", nargs="+", metavar="CHR", help="score only these chromosomes")
    sc.add_argument("--out", required=True, metavar="PATH",
                    help="report path; writes PATH.json and PATH.tsv")
    sc.set_defaults(func=cmd_score)

    pr = sub.add_parser("predict", help="per-variant prior variances f of a saved prior",
                        description="Prior variance f and enrichment sqrt(f / mean f) of every "
                        "variant: of the data set's variants (with --bfile/--ld-dir) or of the "
                        "rows of --sumstats (needs a frequency column). Writes a TSV (gzip if it "
                        "ends .gz) and a parquet copy when pyarrow is installed.")
    pr.add_argument("--model", required=True, metavar="DIR", help="folder written by deepwas fit")
    add_data_args(pr)
    pr.add_argument("--out", required=True, metavar="FILE", help="output table (.tsv[.gz])")
    pr.set_defaults(func=cmd_predict)
    # predict may work from the statistics alone: LD is optional there
    for grp in pr._mutually_exclusive_groups:
        grp.required = False

    sm = sub.add_parser("simulate", help="semi-synthetic summary statistics on real LD",
                        description="Draw f_true from features (--truth), effects beta ~ N(0, "
                        "f_true) and marginal effects beta_hat ~ N(R beta, (1-h2)/N R) with R "
                        "from PLINK genotypes; write SNP CHR BP A1 A2 FREQ Z N F_TRUE.")
    sm.add_argument("--bfile", nargs="+", required=True, metavar="PREFIX",
                    help="PLINK reference genotypes")
    sm.add_argument("--truth", choices=("glm", "network", "threshold", "constant"), default="glm")
    sm.add_argument("--h2", type=float, default=0.5, help="heritability of these variants")
    sm.add_argument("--n", type=float, default=300_000, help="GWAS sample size")
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--window-bp", type=int, default=1_000_000)
    sm.add_argument("--flank-bp", type=int, default=1_000_000)
    g = sm.add_argument_group("features (synthetic ones are drawn when no --tracks)")
    g.add_argument("--tracks", nargs="+", metavar="BIGWIG")
    g.add_argument("--chain", metavar="FILE")
    g.add_argument("--width", type=int, default=32)
    g.add_argument("--bin-size", type=int, default=500)
    g.add_argument("--no-freq-predictors", action="store_true")
    sm.add_argument("--out", required=True, metavar="FILE", help="output table (.tsv[.gz])")
    sm.set_defaults(func=cmd_simulate)
    return p



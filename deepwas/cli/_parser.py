"""The ``deepwas`` argument parser: one subparser per command."""
from __future__ import annotations

import argparse

from ._data import SHIPPED_CHAINS, add_data_args, add_ld_blocks_arg
from ._datasets import cmd_cache, cmd_demo, cmd_precompute, cmd_simulate
from ._fetch import add_data_command
from ._models import add_train_args, cmd_fit, cmd_score
from ._results import cmd_h2, cmd_posterior, cmd_predict_any
from ._score_test import register as register_score_test

__all__ = ["build_parser"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help line ends with its default, unless it has none (None, off) or the
    help text already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        none = action.default is None or action.default is False
        if none or action.default == argparse.SUPPRESS or "default" in text \
                or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def add_common_args(p, sub):
    """-v, -q and --threads: accepted before the command and after it."""
    kw = dict(default=argparse.SUPPRESS) if sub else {}
    g = p.add_argument_group("messages and threads") if sub else p
    g.add_argument("-v", "--verbose", action="store_true",
                   help="also print progress notes and data drops (info lines), and the "
                        "traceback of an error", **kw)
    g.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bars or training tables (they are shown only when stderr "
                        "is a terminal anyway); warnings and errors are still printed", **kw)
    g.add_argument("--threads", type=positive_int, metavar="N",
                   help="threads for BLAS, OpenMP and torch (default: the libraries' own, "
                        "all cores); give each of several parallel runs its share, e.g. "
                        "--threads 1 for as many runs as cores", **kw)


def build_parser():
    """The ``deepwas`` :class:`argparse.ArgumentParser` with all its subcommands.

    Returns
    -------
    argparse.ArgumentParser
    """
    p = argparse.ArgumentParser(
        prog="deepwas", formatter_class=HelpFormatter,
        description="Functionally informed GWAS priors learned from summary statistics "
                    "(DeepWAS: exact marginal likelihood; or LD score regression).")
    add_common_args(p, sub=False)
    from .. import __version__

    p.add_argument("--version", action="version", version=f"deepwas {__version__}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, **kw):
        sp = sub.add_parser(name, formatter_class=HelpFormatter, **kw)
        add_common_args(sp, sub=True)
        return sp

    d = command("demo", help="the main demo: cross-validated priors on the embedded data",
                description="Cross-validate (GroupKFold by chromosome) Constant, GLM and "
                "Transformer priors trained with DeepWAS and with LDSR on the embedded "
                "demo (22 real 1000 Genomes EUR regions, hg38 bigWig tracks read through "
                "liftover, semi-synthetic GWAS of N = 300,000 from a known prior). Prints "
                "the held-out table and writes it with PNG plots to --out.")
    d.add_argument("--quick", action="store_true",
                   help="a sub-minute smoke run (2 regions, 1-2 epochs)")
    d.add_argument("--out", default="deepwas_demo", metavar="DIR", help="output folder")
    d.add_argument("--cache-dir", metavar="DIR",
                   help="cache of tracks, features and window factors (default $DEEPWAS_CACHE "
                        "or ~/.cache/deepwas)")
    d.add_argument("--folds", type=int, metavar="K", help="GroupKFold splits (default 2)")
    d.add_argument("--seed", type=int, metavar="N",
                   help="random seed of data and training (default 0)")
    d.add_argument("--truth", choices=("glm", "network", "threshold", "constant"),
                   help="true prior of the simulation (default glm)")
    d.add_argument("--n", type=float, metavar="N", help="GWAS sample size (default 300,000)")
    d.add_argument("--h2", type=float, metavar="H2",
                   help="heritability of the demo variants (default 0.5 for "
                   "the 22 regions; for --quick, 0.5 times their share of the variants)")
    d.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    d.add_argument("--no-progress", action="store_true", help="no progress bars (as -q)")
    d.set_defaults(func=cmd_demo)

    pc = command("precompute", help="compute and cache the window factors of a data set",
                 description="Build the windows of a data set and compute their theta-free "
                 "factors (eigendecomposition of each core's LD) into --cache-dir, so "
                 "that fit and score start at once.")
    add_data_args(pc, with_features=False)
    pc.add_argument("--workers", type=positive_int, default=1, metavar="N",
                    help="worker processes, one window each at a time (needs --cache-dir; "
                         "default 1: this process). Rerunning skips the windows already "
                         "in the cache")
    pc.add_argument("--out", metavar="JSON", help="write a summary (windows, drops, timing)")
    pc.add_argument("--no-progress", action="store_true", help="no progress bar (as -q)")
    pc.set_defaults(func=cmd_precompute)

    ca = command("cache", help="size of a factor cache folder, or empty it",
                 description="info: window files, bytes and the projection to a genome; "
                 "clear: delete the window files (only files deepwas wrote are touched).")
    ca.add_argument("action", choices=("info", "clear"))
    ca.add_argument("--cache-dir", required=True, metavar="DIR", help="the cache folder")
    ca.set_defaults(func=cmd_cache)

    ft = command("fit", help="train a prior and save it (state dict + JSON)",
                 description="Train a prior on the windows of the data (minus those held out "
                 "with --test-chrom or --test-region) and save it to --out as model.pt (torch "
                 "state dict, loaded with weights_only=True) and model.json; with a hold-out, "
                 "also write the held-out report. Shows a progress bar and the training "
                 "loss when stderr is a terminal.")
    add_data_args(ft)
    add_train_args(ft)
    h = ft.add_argument_group("hold-out (scored after training)")
    h.add_argument("--test-chrom", nargs="+", metavar="CHR",
                   help="chromosomes held out from training and scored")
    h.add_argument("--test-region", nargs="+", metavar="CHR:START-END",
                   help="regions held out and scored, e.g. 22:30000000-40000000: the windows "
                        "whose core lies inside; windows whose flanks reach into them are "
                        "left out of training")
    ft.add_argument("--out", required=True, metavar="DIR", help="model folder")
    ft.set_defaults(func=cmd_fit)

    sc = command("score", help="held-out log-likelihood gain of a saved prior",
                 description="Exact log-likelihood gain over the null model of a saved "
                 "prior on the windows of the data, in nats per person and as the "
                 "paper's % likelihood increase per person; JSON summary + per-window TSV.")
    sc.add_argument("--model", required=True, metavar="DIR", help="folder written by deepwas fit")
    add_data_args(sc)
    sc.add_argument("--chrom", nargs="+", metavar="CHR", help="score only these chromosomes")
    sc.add_argument("--region", nargs="+", metavar="CHR:START-END",
                    help="score only the windows whose core lies inside these regions, as "
                         "fit --test-region holds them out (the same --window-bp and "
                         "--flank-bp give the same windows), e.g. 22:30000000-40000000")
    sc.add_argument("--out", required=True, metavar="PATH",
                    help="report path; writes PATH.json and PATH.tsv")
    sc.set_defaults(func=cmd_score)

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
                    help="pseudo: one-Newton-step pseudo-jackknife (graphREML); refit: a "
                         "warm-started refit without each block (K fits); none: no SEs; auto: "
                         "pseudo for constant/GLM priors, none for neural ones")
    hh.add_argument("--out", required=True, metavar="PREFIX", help="output prefix")
    hh.set_defaults(func=cmd_h2)
    add_common_args(register_score_test(sub), sub=True)

    sm = command("simulate", help="semi-synthetic summary statistics on real LD",
                 description="Draw f_true from features (--truth), effects beta ~ N(0, "
                 "f_true) and marginal effects beta_hat ~ N(R beta, (1-h2)/N R) with R "
                 "from PLINK genotypes within each LD block (--gwas-ld); write SNP CHR BP A1 "
                 "A2 FREQ Z N F_TRUE and a JSON of the settings.")
    sm.add_argument("--bfile", nargs="+", required=True, metavar="PREFIX",
                    help="PLINK reference genotypes (.bed/.bim/.fam prefixes)")
    sm.add_argument("--truth", choices=("glm", "network", "threshold", "constant"), default="glm",
                    help="the true prior: a linear function of the features (glm), a random "
                         "network, a sparse threshold function, or constant")
    sm.add_argument("--h2", type=float, default=0.5, metavar="H2",
                    help="heritability of these variants")
    sm.add_argument("--n", type=float, default=300_000, metavar="N", help="GWAS sample size")
    sm.add_argument("--seed", type=int, default=0, metavar="N", help="random seed")
    sm.add_argument("--gwas-ld", choices=("blocks", "chromosome"), default="blocks",
                    help="LD the simulated GWAS carries: 'blocks' draws beta-hat of different LD "
                         "blocks independently (the blocks a fit on this panel cuts, or "
                         "--block-bp stretches), as a large GWAS behaves; 'chromosome' draws it "
                         "through each whole chromosome of the panel, whose spurious long-range "
                         "correlations no real GWAS has (a fit then over-estimates h2)")
    sm.add_argument("--block-bp", type=int, metavar="BP",
                    help="with --gwas-ld blocks: independent stretches of this length (e.g. "
                         "1000000-3000000) instead of the LD blocks (default: the blocks of "
                         "--ld-blocks, 1 Mb stretches with --ld-blocks none)")
    add_ld_blocks_arg(sm)
    sm.add_argument("--window-bp", type=int, metavar="BP", default=1_000_000,
                    help="core window size (bp)")
    sm.add_argument("--flank-bp", type=int, metavar="BP", default=1_000_000,
                    help="flank of the extended set (bp)")
    g = sm.add_argument_group("features (synthetic ones are drawn when no --tracks)")
    g.add_argument("--tracks", nargs="+", metavar="BIGWIG", help="bigWig signal tracks")
    g.add_argument("--chain", metavar="FILE",
                   help="UCSC liftover chain file from the genotypes' build to the tracks' "
                        f"({SHIPPED_CHAINS})")
    g.add_argument("--width", type=int, metavar="BINS", default=32, help="bins per track window")
    g.add_argument("--bin-size", type=int, metavar="BP", default=500, help="bp per bin")
    g.add_argument("--no-freq-predictors", action="store_true",
                   help="do not use allele frequency and MAF as scalar predictors")
    sm.add_argument("--out", required=True, metavar="FILE", help="output table (.tsv[.gz])")
    sm.set_defaults(func=cmd_simulate)

    add_data_command(command, lambda sp: add_common_args(sp, sub=True))
    return p

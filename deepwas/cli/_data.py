"""Command-line data: the data options, and the inputs built from them (statistics, features)."""
from __future__ import annotations

import argparse
import logging
import os

from ..diagnostics import diagnostics_summary, needs_warning
from ..distributed import is_main_process
from ..features import AnnotFeatures, BasicPredictors, BedAnnotations, BigWigTracks, FeatureSet, \
    annotation_features
from ..features.liftover import HG19_TO_HG38_CHAIN, HG38_TO_HG19_CHAIN, load_chain
from ..io.formats import FORMAT_NAMES
from ..io.sumstats import SumstatsError, read_sumstats
from ..stats import SummaryStats
from ..utils.chrom import normalise_chrom

#: the help text's words for the two chains the package ships
SHIPPED_CHAINS = (f"the package ships hg19 -> hg38 ({HG19_TO_HG38_CHAIN}) and hg38 -> hg19 "
                  f"({HG38_TO_HG19_CHAIN})")

__all__ = ["UserError", "add_data_args", "add_ld_blocks_arg", "ld_blocks_arg", "check_file",
           "feature_provider", "feature_spec", "column_map", "read_sumstats_args", "load_stats",
           "split_chroms", "model_features", "lift_once", "join", "annotation_spec",
           "annotation_provider", "check_annotation_coverage"]

log = logging.getLogger("deepwas.cli")


class UserError(Exception):
    """An error the user can fix (bad input); printed as one line."""


def add_data_args(p, sumstats_required=True, with_features=True):
    g = p.add_argument_group("data")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--bfile", nargs="+", metavar="PREFIX",
                     help="PLINK reference genotypes (.bed/.bim/.fam prefixes, e.g. one per "
                          "chromosome): LD is computed from them")
    src.add_argument("--ld-dir", metavar="DIR",
                     help="folder of UK Biobank / PolyFun LD files (.npz + .gz)")
    src.add_argument("--ldgm", nargs="+", metavar="PATH",
                     help="LD graphical models (graphld): a metadata.csv, a folder or .edgelist "
                          "files (with their .snplist)")
    src.add_argument("--sbayesrc-ld", metavar="DIR",
                     help="SBayesRC eigen-decomposed LD blocks (ldm.info, snp.info, "
                          "block*.eigen.bin)")
    g.add_argument("--population", default="EUR",
                   help="population of the LDGM files (with --ldgm): the statistics' own "
                        "ancestry; a FREQ column that fits another population of the "
                        ".snplist files far better stops the run and names it")
    g.add_argument("--sumstats", metavar="FILE", required=sumstats_required,
                   help="summary statistics: BOLT-LMM, REGENIE, SAIGE, PLINK 2 --glm, GWAS "
                        "Catalog (GWAS-SSF), COJO .ma, fastGWA, METAL, GWAS-VCF, PolyFun "
                        "parquet, ldsc .sumstats or a table with SNP A1 A2 and Z, BETA+SE (or "
                        "OR) or BETA+P; plain or gzip; the format is detected from the header")
    g.add_argument("--format", choices=FORMAT_NAMES, default="auto",
                   help="force the --sumstats format")
    g.add_argument("--sumstats-chain", metavar="FILE",
                   help="UCSC chain file from the statistics' genome build to the LD's, applied "
                        "when the builds differ (the build-mismatch error names the file to "
                        f"use; {SHIPPED_CHAINS})")
    g.add_argument("--columns", nargs="+", metavar="KEY=NAME",
                   help="name the --sumstats columns that are not recognised, e.g. "
                        "SNP=rsid A1=effect_allele A2=other_allele (keys: SNP CHR BP A1 A2 Z "
                        "BETA SE P LOG10P N FREQ)")
    g.add_argument("--n", type=float, metavar="N",
                   help="GWAS sample size (required when the file has no N column)")
    g.add_argument("--sigma2", type=float, metavar="S",
                   help="residual variance of the standardised phenotype, 1 - h2 of all SNPs "
                        "(default 1.0, right only for a trait with little SNP heritability: fit "
                        "prints the value used and warns when its h2 says otherwise; fit "
                        "--sigma2-estimate estimates it; a simulation's JSON gives it); up to 2: "
                        "above 1 for statistics with inflated noise, e.g. an LDSC intercept of "
                        "1.08 (graphREML's --intercept)")
    g.add_argument("--window-bp", type=int, metavar="BP", default=1_000_000,
                   help="core window size (bp)")
    g.add_argument("--flank-bp", type=int, metavar="BP", default=1_000_000,
                   help="flank of the extended set (bp)")
    add_ld_blocks_arg(g)
    g.add_argument("--keep-ambiguous", action="store_true",
                   help="keep strand-ambiguous (A/T, C/G) SNPs")
    g.add_argument("--ld-regularisation",
                   choices=("auto", "thinned", "mismatch", "truncate", "none"),
                   help="how the LD enters the likelihood: 'thinned' (the exact likelihood on "
                        "small interleaved cores of each LD block, see --ld-core-size) is "
                        "right for a reference panel's LD cut at blocks, 'mismatch' for panel "
                        "LD in fixed windows, 'none' (exact) only for the GWAS sample's own LD "
                        "and for LDGMs (default: 'none' with --ldgm, the sparse precision "
                        "likelihood as graphREML's; otherwise 'auto': 'thinned' when the LD "
                        "is cut at blocks of a panel of known size, 'none' with "
                        "--ld-in-sample, 'mismatch' otherwise)")
    g.add_argument("--ld-in-sample", action="store_true",
                   help="the LD is the GWAS sample's own (statistics and LD from the same "
                        "people): 'auto' then takes the exact likelihood and corrects no "
                        "panel noise. Only when true: with a panel's LD the exact likelihood "
                        "runs away")
    g.add_argument("--ld-core-size", default="auto", type=_core_size, metavar="K",
                   help="variants per core with --ld-regularisation thinned (auto: from the "
                        "panel size)")
    g.add_argument("--ld-share", default="auto", type=_share,
                   help="share of each core's LD trace kept (auto: 0.98, or 0.95 for a panel "
                        "under a tenth of the GWAS)")
    g.add_argument("--cache-dir", metavar="DIR",
                   help="keep window factors on disk here (reused by later commands)")
    if with_features:
        f = p.add_argument_group("features")
        f.add_argument("--tracks", nargs="+", metavar="BIGWIG",
                       help="bigWig signal tracks (C_func); with --chain if their genome build "
                            "differs from the summary statistics'")
        f.add_argument("--chain", metavar="FILE",
                       help="UCSC liftover chain file from the statistics' build to the tracks' "
                            f"({SHIPPED_CHAINS})")
        f.add_argument("--width", type=int, metavar="BINS", default=32,
                       help="bins per track window")
        f.add_argument("--bin-size", type=int, metavar="BP", default=500, help="bp per bin")
        f.add_argument("--no-freq-predictors", action="store_true",
                       help="do not use allele frequency and MAF as scalar predictors")
        add_annotation_args(f)


def add_annotation_args(group):
    """``--annot-features``, ``--annot-bim`` and ``--bed-window`` (the data commands and
    ``simulate``)."""
    group.add_argument("--annot-features", nargs="+", metavar="FILE",
                       help="annotations as scalar predictors of the prior (as S-LDSC's "
                            "baseline-LD model): S-LDSC .annot[.gz] files (CHR BP SNP CM + "
                            "annotation columns; '@' stands for the chromosome; files with the "
                            "same columns are one set), joined on SNP, then on CHR:BP, a "
                            "variant they do not list taken as 0 in every annotation; and/or "
                            "BED files (.bed[.gz]: one 0/1 predictor per file, named by it); "
                            "on the LD's genome build. Later commands on the saved model read "
                            "the same files unless given others")
    group.add_argument("--annot-bim", metavar="BIM",
                       help="with --annot-features: the PLINK .bim file(s) ('@' for the "
                            "chromosome) whose rows thin .annot files (ldsc --thin-annot) "
                            "follow")
    group.add_argument("--bed-window", type=int, metavar="BP", default=0,
                       help="with --annot-features: widen each BED interval by BP on each "
                            "side (ldsc make_annot.py's --windowsize)")


def add_ld_blocks_arg(group):
    """``--ld-blocks`` (the data commands and ``simulate``)."""
    group.add_argument("--ld-blocks", default="auto", metavar="auto|detect|none|BED",
                       help="cut the LD at approximately independent blocks, one window each: "
                            "a BED file of blocks (e.g. LDetect's), 'detect' (found in the "
                            "panel), 'auto' (detect for a PLINK panel under 50,000 people, "
                            "else fixed windows) or 'none' (--window-bp/--flank-bp windows); "
                            "the blocks of LDGM, SBayesRC and UK Biobank LD are always used")


def auto_or(parse, what):
    """An argparse type: the word ``auto``, or ``parse(text)`` (an error names ``what``)."""
    def parse_auto(text):
        if text == "auto":
            return text
        try:
            return parse(text)
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"expected 'auto' or {what}, got {text!r}") from None
    return parse_auto


def _at_least_two(text):
    value = int(text)
    if value < 2:
        raise ValueError(text)
    return value


_share = auto_or(float, "a number")
_core_size = auto_or(_at_least_two, "an integer >= 2")


def join(items):
    """``a, b, c`` from any sequence (never a Python or NumPy repr on the command line)."""
    return ", ".join(str(x) for x in items)


def check_file(path, what):
    if path is not None and not os.path.isfile(path):
        raise UserError(f"{what} not found: {path}")


#: share of the variants below which annotation files are warned as not covering them
ANNOT_COVERAGE_WARN = 0.95


def annotation_spec(args):
    """``--annot-features`` and its options as the saved model's JSON keeps them (None when
    not given)."""
    if not getattr(args, "annot_features", None):
        return None
    if args.bed_window < 0:
        raise UserError(f"--bed-window must be >= 0, got {args.bed_window}")
    bim = args.annot_bim
    return dict(paths=[os.path.abspath(p) for p in args.annot_features],
                bim=None if bim is None else os.path.abspath(bim),
                bed_window=int(args.bed_window))


def annotation_provider(spec):
    """The ``--annot-features`` files of ``spec`` (:func:`annotation_spec`) as one feature
    provider; a missing or unreadable file is a :class:`UserError`."""
    for p in spec["paths"]:
        if "@" not in p:
            check_file(p, "annotation file (--annot-features)")
    try:
        return annotation_features(spec["paths"], bim=spec.get("bim"),
                                   bed_window=spec.get("bed_window", 0))
    except (FileNotFoundError, ValueError) as e:
        raise UserError(f"--annot-features: {e}") from e


def check_annotation_coverage(features, variants):
    """Say how many ``variants`` the annotation files list; warn when they miss more than
    :data:`ANNOT_COVERAGE_WARN` of them (each such variant gets 0 in every annotation, which
    is right for a variant outside all annotations and wrong for one the files name
    otherwise: another build, other rsIDs); an error when they list none, and a warning for
    a BED file that marks no variant, or all of them (its column is constant: the fit drops
    it)."""
    for p in getattr(features, "providers", [features]):
        if isinstance(p, AnnotFeatures):
            # only these variants are asked for later: keep only their rows in memory
            found = p.found(variants, restrict=True)
            n, k = len(found), int(found.sum())
            files = join(p.paths[:2]) + (" ..." if len(p.paths) > 2 else "")
            if n and k == 0:
                raise UserError(f"--annot-features: none of the {n} variants is in {files} "
                                "(matched by SNP, then by CHR:BP): are the files on the LD's "
                                "genome build, with the same variant names?")
            line = (f"annotations {join(p.pred_names[:3])}"
                    f"{' ...' if p.d_pred > 3 else ''}: {k} of {n} variants found in {files}")
            if k < ANNOT_COVERAGE_WARN * n:
                log.warning("%s; the other %d (%.1f %%) get 0 in every annotation: check "
                            "the files' genome build and variant names", line, n - k,
                            100.0 * (n - k) / n)
            elif is_main_process():     # rank 0 speaks for a torchrun fit's processes
                print(line, flush=True)
        elif isinstance(p, BedAnnotations):
            marked = p.get(variants).pred.sum(axis=0)
            for name, m in zip(p.pred_names, marked):
                if m in (0, len(variants)):
                    log.warning("--annot-features: BED file %s marks %s of the %d variants "
                                "(its predictor is constant and the fit drops it): check its "
                                "chromosome names and genome build", name,
                                "none" if m == 0 else "all", len(variants))


def feature_provider(tracks, chain, width, bin_size, freq_predictors, names=None, annot=None):
    parts = []
    if tracks:
        for t in tracks:
            check_file(t, "bigWig track")
            with open(t, "rb") as fh:  # check here: libBigWig prints its own errors to stderr
                magic = fh.read(4)
            if magic not in (b"\x26\xfc\x8f\x88", b"\x88\x8f\xfc\x26"):
                raise UserError(f"{t} is not a bigWig file (bad magic number)")
        if chain is not None:
            check_file(chain, "liftover chain file")
            load_chain(chain)  # a bad chain file fails here, with its own clear message
        parts.append(BigWigTracks(tracks, width=width, bin_size=bin_size, names=names,
                                  liftover_chain=chain, unmapped="nearest"))
    if freq_predictors:
        parts.append(BasicPredictors())
    if annot is not None:
        parts += annotation_provider(annot).providers
    return FeatureSet(parts) if parts else None


def feature_spec(args):
    annot = annotation_spec(args)
    if not getattr(args, "tracks", None) and getattr(args, "no_freq_predictors", True) \
            and annot is None:
        return None
    return dict(tracks=[os.path.abspath(t) for t in (args.tracks or [])],
                chain=None if args.chain is None else os.path.abspath(args.chain),
                width=int(args.width), bin_size=int(args.bin_size),
                freq_predictors=not args.no_freq_predictors, annot=annot)


def column_map(pairs):
    """``["SNP=rsid", ...]`` -> ``{"SNP": "rsid", ...}`` (None when no --columns)."""
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        key, sep, name = pair.partition("=")
        if not sep or not key or not name:
            raise UserError(f"--columns takes KEY=NAME pairs, got {pair!r}")
        out[key.strip().upper()] = name.strip()
    return out


def read_sumstats_args(args):
    """The --sumstats file as a DataFrame (read here so that --columns applies)."""
    check_file(args.sumstats, "summary statistics file")
    try:
        return read_sumstats(args.sumstats, n=args.n, columns=column_map(args.columns),
                             format=getattr(args, "format", "auto"))
    except SumstatsError as e:
        raise UserError(e.cli) from e


def lift_once(features, variants):
    """Lift every variant of the run through the tracks' chain now: one summary line, and the
    'nearest' policy chooses among all variants (not window by window)."""
    for p in getattr(features, "providers", [features]):
        if getattr(p, "liftover_chain", None) is not None:
            p.lift(variants)


def ld_blocks_arg(spec):
    """``--ld-blocks``: a keyword, or a BED file that must exist."""
    if spec in ("auto", "detect", "none"):
        return spec
    check_file(spec, "LD block file (--ld-blocks)")
    return spec


def load_stats(args, features=None):
    sumstats = read_sumstats_args(args)  # n is applied here (BOLT-LMM: as an effective N)
    check_file(args.sumstats_chain, "liftover chain file for the statistics")
    kw = dict(features=features, window_bp=args.window_bp, flank_bp=args.flank_bp,
              keep_ambiguous=args.keep_ambiguous, cache_dir=args.cache_dir,
              chain=args.sumstats_chain, ld_share=args.ld_share,
              ld_blocks=ld_blocks_arg(args.ld_blocks))
    if args.ld_regularisation is not None:      # else the LD source's own default
        kw["ld_regularisation"] = args.ld_regularisation
    if args.ld_core_size != "auto":
        kw["ld_core_size"] = args.ld_core_size
    if args.ld_in_sample:
        kw["ld_in_sample"] = True
    if args.sigma2 is not None:
        kw["sigma2"] = args.sigma2
    try:
        if args.bfile:
            for prefix in args.bfile:
                pre = prefix[:-4] if prefix.endswith(".bed") else prefix
                for ext in (".bed", ".bim", ".fam"):
                    check_file(pre + ext, "PLINK file")
            stats = SummaryStats.from_plink(args.bfile, sumstats, **kw)
        elif args.ldgm:
            for path in args.ldgm:
                if not os.path.exists(path):
                    raise UserError(f"LDGM file or folder not found: {path}")
            stats = SummaryStats.from_ldgm(args.ldgm, sumstats, population=args.population, **kw)
        elif args.sbayesrc_ld:
            if not os.path.isdir(args.sbayesrc_ld):
                raise UserError(f"SBayesRC LD folder not found: {args.sbayesrc_ld}")
            stats = SummaryStats.from_sbayesrc(args.sbayesrc_ld, sumstats, **kw)
        else:
            if not os.path.isdir(args.ld_dir):
                raise UserError(f"LD folder not found: {args.ld_dir}")
            stats = SummaryStats.from_ukbb(args.ld_dir, sumstats, **kw)
    except SumstatsError as e:
        raise UserError(e.cli) from e
    if features is not None:
        lift_once(features, stats.variants)
        check_annotation_coverage(features, stats.variants)
    return stats


def report_ld_check(stats, log):
    """Print the LD mismatch check of ``stats`` (one line) and warn when windows are flagged.

    Returns the diagnostics table (:func:`deepwas.diagnostics.ld_diagnostics`).
    """
    diag = stats.ld_diagnostics(warn=False)
    line = diagnostics_summary(diag, stats.ld_model.regularisation)
    if needs_warning(diag):
        log.warning("%s", line)
    else:
        print(line, flush=True)
    return diag


def split_chroms(text):
    out = []
    for part in text or []:
        out += [normalise_chrom(c) for c in str(part).split(",") if c.strip()]
    return out


def model_features(args, cfg):
    """Feature provider for a saved model: tracks from the command line or the saved paths."""
    spec = cfg.get("features")
    fit = cfg["fitted"]
    if not (fit["n_func"] or fit["n_pred"]):
        return None
    if spec is None:
        raise UserError("the model needs features but its config records none")
    tracks = args.tracks or spec["tracks"]
    if fit["n_func"] and len(tracks) != fit["n_func"]:
        raise UserError(f"the model was trained on {fit['n_func']} tracks; got {len(tracks)} "
                        "(pass --tracks in the training order)")
    chain = args.chain if args.chain is not None else spec.get("chain")
    annot = annotation_spec(args) or spec.get("annot")
    feats = feature_provider(tracks, chain, spec["width"], spec["bin_size"],
                             spec["freq_predictors"], annot=annot)
    trained = spec.get("pred_names")
    got = [] if feats is None else list(feats.pred_names)
    if trained is not None and got != list(trained):
        raise UserError(f"the model was trained on the scalar predictors {join(trained)}; the "
                        f"features given make {join(got) or 'none'} (pass --annot-features "
                        "with the training files, in the training order)")
    return feats

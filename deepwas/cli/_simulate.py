"""``deepwas simulate``: semi-synthetic summary statistics on the LD of PLINK genotypes."""
from __future__ import annotations

import json
from functools import partial

import numpy as np
import pandas as pd

from ..features import AnnotFeatures, BedAnnotations
from ..ld import read_plink_reference
from ..simulate import semi_synthetic
from ..stats import SummaryStats
from ._common import add_command
from ._data import SHIPPED_CHAINS, UserError, add_annotation_args, add_ld_blocks_arg, \
    annotation_spec, check_annotation_coverage, check_file, feature_provider, ld_blocks_arg
from ._reports import write_table

__all__ = ["register", "cmd_simulate"]


def _fit_note(args):
    """How to fit the simulated statistics: drawn block by block through the panel's LD
    blocks, they are in-sample for a fit on the same genotypes and blocks (the exact
    likelihood, the most accurate then); drawn in other blocks or through whole chromosomes
    they are not, and only the panel correction must stay off."""
    head = "fit with --sigma2 %g (= 1 - h2) and, on this panel's genotypes, " % (1.0 - args.h2)
    if args.gwas_ld == "blocks" and args.block_bp is None:
        return head + ("the same --ld-blocks and --ld-in-sample (beta-hat were drawn block by "
                       "block through its LD: the exact likelihood, no panel noise to correct)")
    return head + ("--panel-correction none (beta-hat were drawn through its LD, in other "
                   "blocks than the fit's: no panel noise to correct)")


def cmd_simulate(args):
    for prefix in args.bfile:
        pre = prefix[:-4] if prefix.endswith(".bed") else prefix
        for ext in (".bed", ".bim", ".fam"):
            check_file(pre + ext, "PLINK file")
    if not 0 < args.h2 < 1:
        raise UserError(f"--h2 must lie in (0, 1), got {args.h2}")
    if args.n <= 0:
        raise UserError(f"--n must be positive, got {args.n}")
    annot = annotation_spec(args)
    feats = feature_provider(args.tracks, args.chain, args.width, args.bin_size,
                             not args.no_freq_predictors,
                             annot=annot) if args.tracks or annot else None
    source = read_plink_reference(args.bfile)
    ref = source.variants
    if annot is not None:
        check_annotation_coverage(feats, ref)
    table = pd.DataFrame({"SNP": ref["snp"], "A1": ref["a1"], "A2": ref["a2"], "Z": 0.0,
                          "N": args.n})
    stats = SummaryStats.from_ld_source(source, table, n=args.n, features=feats,
                                        keep_ambiguous=True, window_bp=args.window_bp,
                                        flank_bp=args.flank_bp,
                                        ld_blocks=ld_blocks_arg(args.ld_blocks))
    if args.block_bp is not None and args.block_bp <= 0:
        raise UserError(f"--block-bp must be positive, got {args.block_bp}")
    sim, f_true = semi_synthetic(stats, truth=args.truth, h2=args.h2, n=args.n,
                                 gwas_ld=args.gwas_ld, block_bp=args.block_bp,
                                 random_state=args.seed)
    v = sim.variants
    out = pd.DataFrame({"SNP": v["snp"], "CHR": v["chrom"], "BP": v["pos"], "A1": v["a1"],
                        "A2": v["a2"], "FREQ": v["freq"],
                        "Z": v["beta_hat"].to_numpy() * np.sqrt(args.n), "N": args.n,
                        "F_TRUE": f_true})
    enrichment = true_enrichment(feats, v, f_true)
    paths = write_table(out, args.out)
    meta = dict(truth=args.truth, h2=args.h2, sigma2=1.0 - args.h2, n=args.n, seed=args.seed,
                gwas_ld=args.gwas_ld, block_bp=args.block_bp,
                n_variants=len(out), tracks=args.tracks or [], chain=args.chain,
                annot=annot, true_enrichment=enrichment,
                ld_in_sample=True, note=_fit_note(args))
    base = paths[0][:-3] if paths[0].endswith(".gz") else paths[0]
    meta_path = (base[:-4] if base.endswith(".tsv") else base) + ".json"
    with open(meta_path, "w") as fh:
        json.dump(meta, fh, indent=1)
    print(f"simulated {len(out)} variants (truth={args.truth}, h2={args.h2:g}, N={args.n:g}); "
          f"wrote {' and '.join(paths)} and {meta_path}")
    for name, e in enrichment.items():
        print(f"true enrichment of {name}: {e:.4g}")
    return 0


def true_enrichment(features, variants, f_true):
    """Per ``--annot-features`` annotation, its true enrichment as S-LDSC and ``deepwas h2``
    define it: (share of sum f_true in the annotation) / (share of the variants in it), with
    a continuous annotation weighting each variant by its value; NaN for one that is 0 on
    every variant. An empty dict without annotation files."""
    out = {}
    for p in getattr(features, "providers", []):
        if isinstance(p, (AnnotFeatures, BedAnnotations)):
            A = np.asarray(p.get(variants).pred, dtype=np.float64)
            size = A.sum(axis=0)
            share = (A.T @ f_true) / f_true.sum()
            with np.errstate(invalid="ignore", divide="ignore"):
                e = np.where(size != 0, share / (size / len(f_true)), np.nan)
            out.update(zip(p.pred_names, (float(x) for x in e)))
    return out


def register(subparsers):
    """Add ``deepwas simulate``."""
    command = partial(add_command, subparsers)
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
    g = sm.add_argument_group("features (synthetic ones are drawn when neither --tracks nor "
                              "--annot-features is given; the truth's weights are drawn on "
                              "them and the annotations' true enrichments printed)")
    g.add_argument("--tracks", nargs="+", metavar="BIGWIG", help="bigWig signal tracks")
    g.add_argument("--chain", metavar="FILE",
                   help="UCSC liftover chain file from the genotypes' build to the tracks' "
                        f"({SHIPPED_CHAINS})")
    g.add_argument("--width", type=int, metavar="BINS", default=32, help="bins per track window")
    g.add_argument("--bin-size", type=int, metavar="BP", default=500, help="bp per bin")
    g.add_argument("--no-freq-predictors", action="store_true",
                   help="do not use allele frequency and MAF as scalar predictors")
    add_annotation_args(g)
    sm.add_argument("--out", required=True, metavar="FILE", help="output table (.tsv[.gz])")
    sm.set_defaults(func=cmd_simulate)

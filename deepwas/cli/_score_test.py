"""``deepwas score-test``: which annotations explain signal beyond a saved prior.

For each candidate annotation, the score test of adding it to the prior's log-link
(:meth:`deepwas.FunctionalPrior.score_test`), one gradient pass over the windows for all of
them. Self-registering: :func:`register` adds the subcommand to the parser's subparsers.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import warnings

from .._version import __version__
from ..estimators import load_model
from ..score_test import MIN_VARIANTS, SCORE_COLUMNS
from ._common import add_common_args, positive_int
from ._data import UserError, add_data_args, load_stats, model_features

__all__ = ["register", "run"]

log = logging.getLogger("deepwas.cli")


def register(subparsers):
    """Add ``score-test`` to ``subparsers`` (an argparse subparsers action); returns its
    parser."""
    p = subparsers.add_parser(
        "score-test", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="score test of new annotations on a saved prior (enriched beyond the model?)",
        description="For each candidate annotation a, the score test of adding a term "
        "exp(tau a) to the saved prior's f (a new GLM column; a multiplicative term on a "
        "neural prior's f), conditional on the prior's own fitted parameters (all of a "
        "GLM's, a neural prior's overall scale), with a block-jackknife SE over the windows: "
        "does a explain signal the prior does not? One gradient pass over the windows serves "
        "all candidates. Writes PREFIX.score.tsv (Category n_variants score score_std_error "
        "z p direction status) and PREFIX.log.")
    p.add_argument("--model", required=True, metavar="DIR", help="folder written by deepwas fit")
    add_data_args(p)
    p.add_argument("--annot", nargs="+", required=True, metavar="FILE",
                   help="candidates: S-LDSC .annot[.gz] files (CHR BP SNP CM + annotation "
                        "columns, binary or continuous; '@' stands for the chromosome), "
                        "joined on SNP, and/or BED / gene-set files (.bed[.gz]: one 0/1 "
                        "candidate per file, named by the file); a variant a file does not "
                        "list counts as 0")
    p.add_argument("--n-blocks", type=positive_int, default=200, metavar="K",
                   help="jackknife blocks (as deepwas h2): contiguous runs of windows, or of "
                        "variants on fewer windows than K")
    p.add_argument("--min-variants", type=positive_int, default=MIN_VARIANTS, metavar="M",
                   help="candidates non-zero on fewer variants are reported as 'too few "
                        "variants', not tested")
    p.add_argument("--nuisance", choices=("auto", "all", "intercept", "none"), default="auto",
                   help="the prior's parameters the test is conditional on: auto = all of a "
                        "constant or GLM prior's, the intercept (overall scale) of a neural "
                        "prior's")
    p.add_argument("--out", required=True, metavar="PREFIX", help="output prefix")
    p.set_defaults(func=run)
    add_common_args(p, sub=True)    # last: the group ends the help, as before
    return p


def run(args):
    """Run ``deepwas score-test``; returns the exit status."""
    if args.n_blocks < 2:
        raise UserError(f"--n-blocks must be at least 2, got {args.n_blocks}")
    for path in args.annot:
        if "@" not in path and not os.path.isfile(path):
            raise UserError(f"annotation file not found: {path}")
    est, cfg = load_model(args.model)
    stats = load_stats(args, features=model_features(args, cfg))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            tab = est.score_test(stats, args.annot, n_blocks=args.n_blocks,
                                 min_variants=args.min_variants, nuisance=args.nuisance)
        except FileNotFoundError as e:
            raise UserError(f"annotation file not found: {e.filename or e}") from e
    notes = [str(w.message) for w in caught]
    for text in notes:
        log.warning("%s", text)
    d = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(d, exist_ok=True)
    out = args.out + ".score.tsv"
    tab[SCORE_COLUMNS].to_csv(out, sep="\t", index=False, float_format="%.6g", na_rep="NA")
    a = tab.attrs
    tested = tab[tab["status"] == "tested"]
    n_sig = int((tested["p"] < 0.05 / max(len(tested), 1)).sum())
    lines = [
        f"deepwas score-test (deepwas {__version__})",
        f"model: {os.path.abspath(args.model)}: {json.dumps(cfg.get('params', {}))}",
        f"data: {stats}",
        f"candidates: {', '.join(args.annot)} ({len(tab)} columns; {len(tested)} tested, "
        f"{int((tab['status'] == 'too few variants').sum())} on fewer than "
        f"{args.min_variants} variants, "
        f"{int((tab['status'] == 'explained by the model').sum())} explained by the model)",
        f"variants not listed by the candidate files (counted as 0): "
        f"{a['n_variants_not_annotated']}",
        f"conditional on: {', '.join(a['nuisance']) or 'nothing'}",
        f"jackknife: {a['n_blocks']} blocks of "
        + {"windows": "windows", "variants": "contiguous variants"}[a["jackknife_unit"]],
    ] + [f"warning: {t}" for t in notes] + [
        f"significant after Bonferroni (p < 0.05 / {len(tested)}): {n_sig}",
        f"wrote {out}",
    ]
    with open(args.out + ".log", "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"score test of {len(tab)} candidate annotations ({len(tested)} tested, {n_sig} "
          f"Bonferroni-significant); wrote {out} and {args.out}.log")
    return 0

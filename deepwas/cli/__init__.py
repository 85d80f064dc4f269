"""The ``deepwas`` command line.

Subcommands (each has ``--help``)::

    deepwas demo        cross-validated Constant / GLM / Transformer priors, DeepWAS vs LDSR,
                        on the embedded demo (real 1000 Genomes LD, hg38 bigWig tracks)
    deepwas precompute  window factors of a data set into a cache directory
    deepwas fit         train a prior; save it as a torch state dict + JSON config
    deepwas score       held-out log-likelihood gain of a saved prior (JSON + TSV)
    deepwas predict     per-variant prior variances f of a saved prior (TSV, + parquet)
    deepwas simulate    semi-synthetic summary statistics on real LD from a known prior

Errors a user can act on (a missing or unreadable file, a bad option value) end with one line
``deepwas: error: ...`` on stderr and exit status 2; ``-v`` also prints the traceback.
Saved models are never pickles: ``model.pt`` holds only tensors (loaded with
``torch.load(..., weights_only=True)``) and ``model.json`` the configuration.
"""
from __future__ import annotations

import logging
import sys

from ._data import UserError
from ._parser import build_parser

__all__ = ["main", "build_parser"]


def _one_line(exc):
    msg = str(exc).strip().splitlines()
    text = msg[0] if msg else type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"missing key {text}"
    return text


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (UserError, OSError, ValueError, KeyError, RuntimeError) as exc:
        if args.verbose:
            import traceback

            traceback.print_exc()
        print(f"deepwas {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepwas: interrupted", file=sys.stderr)
        return 130



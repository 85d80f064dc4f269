"""The ``deepwas`` command line.

Subcommands (each has ``--help``)::

    deepwas demo        cross-validated Constant / GLM / Transformer priors, DeepWAS vs LDSR,
                        on the embedded demo (real 1000 Genomes LD, hg38 bigWig tracks)
    deepwas precompute  window factors of a data set into a cache directory
    deepwas fit         train a prior; save it as a torch state dict + JSON config
    deepwas score       held-out log-likelihood gain of a saved prior (JSON + TSV)
    deepwas predict     per-variant prior variances f of a saved prior (TSV, + parquet)
                        or PolyFun's SNPVAR files (--out-format polyfun)
    deepwas posterior   posterior mean effects as PLINK --score weights (SNP A1 BETA)
    deepwas h2          partitioned heritability and enrichment: S-LDSC .results, .log, PNG
    deepwas simulate    semi-synthetic summary statistics on real LD from a known prior
    deepwas data        list, fetch (checked, resumable) and verify the public data of a
                        genome-wide run: LDGMs, UK Biobank LD, baselineLD, chains, tracks

Errors a user can act on (a missing or unreadable file, a bad option value) end with one line
``deepwas <command>: error: ...`` on stderr and exit status 2; ``-v`` also prints the traceback.
Messages go to stderr as ``deepwas: warning: ...`` (``-v`` adds ``deepwas: info: ...`` lines);
progress bars and training tables appear only when stderr is a terminal, never with ``-q``.
Saved models are never pickles: ``model.pt`` holds only tensors (loaded with
``torch.load(..., weights_only=True)``) and ``model.json`` the configuration.
"""
from __future__ import annotations

import logging
import sys
import warnings
from contextlib import contextmanager

from ..config import config_context
from ..distributed import is_main_process

from ._data import UserError
from ._parser import build_parser

__all__ = ["main", "build_parser"]


def _one_line(exc):
    msg = str(exc).strip().splitlines()
    text = msg[0] if msg else type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"missing key {text}"
    return text


class _StderrHandler(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a record arrives."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


class _Formatter(logging.Formatter):
    """``deepwas: warning: message`` (no logger names, no Python prefixes)."""

    def format(self, record):
        text = f"deepwas: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


@contextmanager
def _console(verbose):
    """Route the package's log records and Python warnings to stderr for one command.

    The ``deepwas`` logger gets a handler of its own and stops propagating: a library
    (cola-ml) configures the root logger at import, which would otherwise print
    ``WARNING:deepwas.stats:...`` and swallow INFO. Everything is restored on exit, so calling
    :func:`main` leaves the logging of the calling program as it was.
    """
    logger = logging.getLogger("deepwas")
    handler = _StderrHandler()
    handler.setFormatter(_Formatter())
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    # under torchrun the processes of rank > 0 repeat rank 0's messages: errors only
    logger.setLevel(logging.ERROR if not is_main_process()
                    else logging.INFO if verbose else logging.WARNING)
    logger.propagate = False

    def show(message, category, filename, lineno, file=None, line=None):
        kind = "" if issubclass(category, UserWarning) else f" ({category.__name__})"
        logger.warning("%s%s", message, kind)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def main(argv=None):
    """Run the ``deepwas`` command.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 on an error the user can fix, 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    with _console(args.verbose):
        try:
            with config_context(n_threads=args.threads):
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

"""The ``deepwas`` argument parser: the top-level options, then one subparser per command,
each added by its command module's ``register(subparsers)``."""
from __future__ import annotations

import argparse

from .._version import __version__
from . import _datasets, _fetch, _models, _results, _score_test, _simulate
from ._common import HelpFormatter, add_common_args

__all__ = ["build_parser", "COMMAND_MODULES"]

#: the command modules, in the order their commands appear in ``deepwas --help``; each has
#: ``register(subparsers)`` (a new command adds its module here)
COMMAND_MODULES = (_datasets, _models, _results, _score_test, _simulate, _fetch)


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
    p.add_argument("--version", action="version", version=f"deepwas {__version__}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return p

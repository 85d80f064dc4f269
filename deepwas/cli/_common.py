"""What every ``deepwas`` command shares, at the bottom of :mod:`deepwas.cli`: the help
formatter, argument types, the options accepted before and after a command, the subparser
factory the command modules register with, and whether to show progress.

A command module (``_datasets``, ``_models``, ``_results`` ...) defines
``register(subparsers)``, which adds its subparser(s) with :func:`add_command` and sets
``set_defaults(func=...)``; :func:`deepwas.cli._parser.build_parser` calls each module's
``register`` in a fixed order (the order of ``deepwas --help``).
"""
from __future__ import annotations

import argparse
import sys

__all__ = ["HelpFormatter", "positive_int", "add_common_args", "add_command", "show_progress"]


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


def add_command(subparsers, name, **kw):
    """A subparser of ``deepwas`` named ``name`` with the help formatter and the common options
    (``-v``, ``-q``, ``--threads``); ``kw`` as for ``add_parser``."""
    sp = subparsers.add_parser(name, formatter_class=HelpFormatter, **kw)
    add_common_args(sp, sub=True)
    return sp


def show_progress(args):
    """Progress bars and training tables: on a terminal, unless -q / --no-progress."""
    quiet = getattr(args, "quiet", False) or getattr(args, "no_progress", False)
    return not quiet and sys.stderr.isatty()

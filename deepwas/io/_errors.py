"""The error of a summary-statistics file that cannot be read as it is: the bottom of
:mod:`deepwas.io`, imported by every reader and re-exported by :mod:`deepwas.io.sumstats`."""
from __future__ import annotations

__all__ = ["SumstatsError"]


class SumstatsError(ValueError):
    """A summary-statistics file that cannot be read as it is.

    ``str(err)`` words the fix for Python (``n=``, ``columns=``); ``err.cli`` words it for
    the ``deepwas`` command (``--n``, ``--columns``).
    """

    def __init__(self, message, cli=None):
        super().__init__(message)
        self.cli = message if cli is None else cli

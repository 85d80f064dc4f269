"""Wording of messages."""
from __future__ import annotations

__all__ = ["plural", "listed_twice"]


def plural(k, word):
    """``1 window``, ``2 windows``."""
    return f"{k} {word}" + ("" if k == 1 else "s")


def listed_twice(keys, what="SNPs", examples=5):
    """``None``, or ``'3 SNPs listed more than once (e.g. rs1, rs2, rs3)'`` for identifiers
    that repeat in ``keys`` (each counted once, the first ``examples`` named)."""
    import numpy as np
    import pandas as pd

    keys = pd.Series(np.asarray(keys).astype(str))
    dup = pd.unique(keys[keys.duplicated()])
    if len(dup) == 0:
        return None
    return f"{len(dup)} {what} listed more than once (e.g. {', '.join(dup[:examples])})"

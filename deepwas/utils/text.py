"""Wording of messages."""
from __future__ import annotations

__all__ = ["plural"]


def plural(k, word):
    """``1 window``, ``2 windows``."""
    return f"{k} {word}" + ("" if k == 1 else "s")

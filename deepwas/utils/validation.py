"""Checks of user-given numbers, with messages that name the parameter and its range."""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_scalar", "check_int"]


def check_scalar(name, value, lo, hi, lo_open=True, hi_open=False):
    """``value`` as a float after checking it is a finite real number in the given interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    ok_lo = value > lo if lo_open else value >= lo
    ok_hi = value < hi if hi_open else value <= hi
    if not (ok_lo and ok_hi):
        rng = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        raise ValueError(f"{name} must lie in {rng}, got {value!r}")
    return float(value)


def check_int(name, value, lo):
    """``value`` as an int after checking it is an integer >= ``lo`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return int(value)

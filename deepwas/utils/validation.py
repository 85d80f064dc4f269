"""Checks of user-given numbers, with messages that name the parameter and its range."""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_scalar", "check_int", "check_sigma2", "SIGMA2_MAX"]

#: largest noise variance sigma2 accepted. Above 1 it is a noise inflated beyond the
#: phenotype's variance: an LD score regression intercept above 1 (confounding), which
#: graphREML takes as ``--intercept``. Larger values are refused as a likely mistake (a
#: percentage, a sample size).
SIGMA2_MAX = 2.0


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


def check_sigma2(value):
    """``sigma2`` (the noise variance of ``beta_hat`` times N) as a float in (0, SIGMA2_MAX]."""
    return check_scalar("sigma2", value, 0.0, SIGMA2_MAX)

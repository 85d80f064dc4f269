"""Z from p-values: ``|Z| = Phi^-1(1 - P/2)`` computed from ``log P``, so that p-values far
below float64's smallest number (written as text, e.g. ``3e-400``) keep their size."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._text import _num


def _log10_p(text):
    """log10 of p-values given as text, exact also below float64's range ("3e-400" -> -399.5);
    NaN for text that is not a number, -inf for 0."""
    p = _num(text)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(p.to_numpy())
        tiny = p.to_numpy() == 0
        if tiny.any():                      # "3e-400" parses as 0: take it from the digits
            parts = text[tiny].astype(str).str.extract(r"^\s*(\d*\.?\d+)[eE]([-+]?\d+)\s*$")
            mant, expo = _num(parts[0]).to_numpy(), _num(parts[1]).to_numpy()
            out[tiny] = np.where(mant > 0, np.log10(mant) + expo, -np.inf)
    return pd.Series(out, index=text.index)


def _z_from_p(beta, log10_p):
    """``Z = sign(BETA) * Phi^-1(1 - P/2)`` from ``log10 P``, without underflow.

    Parameters
    ----------
    beta : array-like
        Effect estimates (only their sign is used).
    log10_p : array-like
        ``log10`` of the two-sided p-values (<= 0).

    Returns
    -------
    ndarray
    """
    from scipy.special import ndtri_exp

    log_half_p = np.asarray(log10_p, dtype=np.float64) * np.log(10.0) - np.log(2.0)
    return np.sign(np.asarray(beta, dtype=np.float64)) * np.abs(ndtri_exp(log_half_p))

"""Constant and collinear columns of a design, from their means and covariance.

A linear model with an intercept cannot tell apart two columns that are copies of each other
(``freq`` and ``maf`` when A1 is always the minor allele, as in a PLINK 1 ``.bim``), nor a
constant column from the intercept: their coefficients are not identified, and a fit that
keeps them splits an effect between them arbitrarily. :func:`redundant_columns` finds them.

Rule, in column order: a column is *constant* when its standard deviation is at most
``CONSTANT_RTOL`` times its absolute mean (exactly 0 for a column of one value);
a column is *collinear* when its variance not explained by the columns kept before it, as a
share of its variance, is below ``tol`` (:data:`COLLINEAR_TOL` = 1e-6, i.e. R² > 1 - 1e-6 on
them, a variance inflation factor above 10⁶). Columns are visited in order and the first of a
set of collinear columns is kept, so a model keeps ``freq`` and drops ``maf``. The columns kept
have a correlation matrix whose smallest eigenvalue is at least about ``tol`` / p.
"""
from __future__ import annotations

import numpy as np

__all__ = ["redundant_columns", "COLLINEAR_TOL", "CONSTANT_RTOL"]

#: residual variance share (1 - R² on the columns kept before) below which a column is dropped
COLLINEAR_TOL = 1e-6
#: standard deviation, relative to the absolute mean, at or below which a column is constant
CONSTANT_RTOL = 1e-6


def redundant_columns(mean, cov, names, tol=COLLINEAR_TOL):
    """Columns a model with an intercept cannot identify, and why.

    Parameters
    ----------
    mean : array-like, shape (p,)
    cov : array-like, shape (p, p)
        Covariance of the columns (any positive scale: population or sample).
    names : sequence of str
    tol : float, default=COLLINEAR_TOL

    Returns
    -------
    dict
        ``{index: reason}`` for each column to drop, in order; the reason reads ``"constant"``
        or ``"collinear with freq (R² = 1 - 3e-17)"`` (naming up to three kept columns that
        explain it, largest coefficient first).
    """
    mean = np.asarray(mean, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    var = np.maximum(np.diag(cov), 0.0)
    sd = np.sqrt(var)
    out = {}
    kept = []
    for j in range(len(mean)):
        if sd[j] == 0 or sd[j] <= CONSTANT_RTOL * abs(mean[j]):
            out[j] = "constant"
            continue
        if kept:
            corr = cov[np.ix_(kept + [j], kept + [j])] / np.outer(sd[kept + [j]], sd[kept + [j]])
            beta = np.linalg.lstsq(corr[:-1, :-1], corr[:-1, -1], rcond=None)[0]
            resid = 1.0 - float(corr[:-1, -1] @ beta)
            if resid < tol:
                order = np.argsort(-np.abs(beta))[:3]
                big = np.abs(beta) >= 1e-3 * np.abs(beta).max()   # not rounding noise
                on = ", ".join(str(names[kept[i]]) for i in order if big[i])
                out[j] = f"collinear with {on} (R² = 1 - {max(resid, 0.0):.1g})"
                continue
        kept.append(j)
    return out

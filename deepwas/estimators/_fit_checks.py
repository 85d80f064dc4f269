"""Checks of a finished maximum-likelihood fit that warn when its prior is not to be trusted.

Two ways a flexible prior fitted to few variants goes wrong without failing:

* **at a bound of log f**: the network's output (log f before the frequency term) ends
  within 1 nat of the soft bound ``log_f_bounds[0]`` (-30: f ~ 1e-13) for more than
  :data:`FLOOR_SHARE` of the training variants, or within 1 nat of the upper bound (f ~ 1)
  for any. The likelihood has pushed weights out until f of most variants is 0 to float
  precision and the rest carry everything (measured on one LDGM block of 304 SNPs with
  ``ridge=0``: intercept -116, weights 52 and 31, 78 % of the variants at the floor);
* **h2 on a handful of variants**: the :data:`HANDFUL` largest f hold more than half of the
  h2 of more than ten times as many training variants.

The warning says what to do: more windows (more data per parameter), fewer predictors, or a
larger ``ridge`` penalty.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from ..fitting._features import FEATURE_CHUNK, features_to_tensors

__all__ = ["check_fit", "FLOOR_SHARE", "HANDFUL"]

#: share of the training variants at the lower bound of log f above which a fit is warned
FLOOR_SHARE = 0.1
#: "a handful" of variants: warned when these many hold more than half of the h2
HANDFUL = 10


def check_fit(prior, stats, train_ids, freq, sizes, ridge):
    """Warn (``RuntimeWarning``) when the fitted ``prior`` ends at a bound of log f or puts
    most of the h2 of the training windows' core variants on a handful of them."""
    wins = stats.windows
    core = np.unique(np.concatenate([wins[k][0] for k in train_ids]))
    raw, f = [], []
    with torch.no_grad():
        for lo in range(0, len(core), FEATURE_CHUNK):
            idx = core[lo:lo + FEATURE_CHUNK]
            feats = stats.get_features(idx) if (sizes[0] or sizes[2]) else None
            func, pred = features_to_tensors(feats, sizes, "cpu")
            fq = None if freq is None else torch.as_tensor(freq[idx], dtype=torch.float32)
            raw.append(prior.network_output(func, pred, n=len(idx)).double().numpy())
            f.append(torch.exp(prior(func, pred, fq, n=len(idx)).double()).numpy())
    raw, f = np.concatenate(raw), np.concatenate(f)
    problems = []
    floor = float(np.mean(raw < prior.lo + 1.0))
    if floor > FLOOR_SHARE:
        problems.append(f"{100 * floor:.0f} % of the {len(raw)} training variants end at the "
                        f"lower bound of log f ({prior.lo:g}: f ~ {np.exp(prior.lo):.0e})")
    top = int((raw > prior.hi - 1.0).sum())
    if top:
        problems.append(f"{top} variant{'s' if top > 1 else ''} end at the upper bound of "
                        f"log f ({prior.hi:g}: f ~ 1)")
    if len(f) > 10 * HANDFUL and f.sum() > 0:
        share = float(np.sort(f)[-HANDFUL:].sum() / f.sum())
        if share > 0.5:
            problems.append(f"the {HANDFUL} largest prior variances hold {100 * share:.0f} % "
                            f"of the h2 of {len(f)} variants")
    if problems:
        warnings.warn("the fitted prior is not to be trusted: " + "; ".join(problems) +
                      f" (ridge={ridge:g}). Fit on more windows, with fewer predictors, or "
                      "with a larger ridge penalty (ridge=, deepwas fit --ridge)",
                      RuntimeWarning, stacklevel=4)

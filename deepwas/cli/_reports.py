"""What the commands write: tables (TSV + parquet) and held-out score reports (JSON + TSV)."""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import pandas as pd

from ..estimators import likelihood_increase_percent
from ..utils.chrom import sort_chroms

__all__ = ["write_table", "score_report", "score_line", "write_report"]

log = logging.getLogger("deepwas.cli")


def write_table(df, path):
    """TSV (gzip when the name ends .gz) and, with pyarrow, a parquet copy. Returns the paths."""
    if path.endswith(".parquet"):
        base = path[: -len(".parquet")]
        tsv, pq = base + ".tsv", path
    else:
        tsv = path
        base = path[:-3] if path.endswith(".gz") else path
        base = base[:-4] if base.endswith(".tsv") else base
        pq = base + ".parquet"
    d = os.path.dirname(os.path.abspath(tsv))
    os.makedirs(d, exist_ok=True)
    df.to_csv(tsv, sep="\t", index=False, float_format="%.6g")
    out = [tsv]
    try:
        import pyarrow  # noqa: F401

        df.to_parquet(pq, index=False)
        out.append(pq)
    except ImportError:
        log.info("pyarrow not installed: no parquet copy")
    return out


def score_report(est, stats):
    """Per-window and total held-out gains (DataFrame, dict)."""
    f = est.predict_f(stats)
    per = np.asarray(est.gain(stats, per_window=True), dtype=np.float64)
    wins = stats.windows
    v = stats.variants
    tab = pd.DataFrame({
        "window": np.arange(len(stats)), "chrom": np.asarray(stats.groups).astype(str),
        "start": [int(v["pos"].iat[c[0]]) for c, _ in wins],
        "end": [int(v["pos"].iat[c[-1]]) for c, _ in wins],
        "n_core": [len(c) for c, _ in wins], "n_extended": [len(e) for _, e in wins],
        "gain_nats": per, "gain_per_person": per / stats.n})
    score = float(per.sum() / stats.n)
    summary = dict(score_nats_per_person=score,
                   pct_likelihood_increase_per_person=likelihood_increase_percent(score),
                   gain_nats=float(per.sum()), n=float(stats.n), n_windows=len(stats),
                   n_variants=int(stats.n_variants),
                   chromosomes=sort_chroms(tab["chrom"]),
                   h2_of_variants=float(f.sum()))
    return tab, summary


def score_line(summary):
    """The score of a report as one phrase: nats per person and the paper's percentage."""
    return (f"{summary['score_nats_per_person']:.6g} nats per person = "
            f"{summary['pct_likelihood_increase_per_person']:.4g} % likelihood increase per "
            "person")


def write_report(tab, summary, out):
    base = out[:-5] if out.endswith(".json") else (out[:-4] if out.endswith(".tsv") else out)
    os.makedirs(os.path.dirname(os.path.abspath(base)) or ".", exist_ok=True)
    js, tsv = base + ".json", base + ".tsv"
    with open(js, "w") as fh:
        json.dump(summary, fh, indent=1)
    tab.to_csv(tsv, sep="\t", index=False, float_format="%.6g")
    return js, tsv

"""Matching summary statistics to the variants of an LD reference by position, for
:func:`deepwas.io.harmonise.harmonise`: statistics without an rsID the reference knows are
matched on chromosome, position and compatible alleles; when nothing matches at all, the
message says what each side holds."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..utils.chrom import chrom_sort_key, normalise_chrom
from .alignment import align_alleles

__all__ = ["no_overlap_message"]


def _match_positions(ss, ref, at):
    """Fill unmatched rows of ``at`` (reference row per statistic, NaN = none) by chromosome,
    position and compatible alleles. Returns the new ``at`` and how many were filled."""
    todo = at.isna().to_numpy().copy()
    if not todo.any() or "CHR" not in ss or "BP" not in ss:
        return at, 0
    bp = pd.to_numeric(ss["BP"], errors="coerce")
    todo &= (ss["CHR"].notna() & bp.notna()).to_numpy()
    if not todo.any():
        return at, 0

    taken = np.zeros(len(ref), dtype=bool)
    done = at.notna().to_numpy()
    taken[at.to_numpy()[done].astype(np.int64)] = True
    left = pd.DataFrame({"i": np.flatnonzero(todo),
                         "chrom": normalise_chrom(ss["CHR"].astype(str).to_numpy()[todo]),
                         "pos": bp.to_numpy()[todo].astype(np.int64)})
    right = pd.DataFrame({"r": np.arange(len(ref)), "chrom": ref["chrom"].to_numpy(dtype=object),
                          "pos": ref["pos"].to_numpy(dtype=np.int64)})
    right = right[~taken]
    right = right[right["pos"].isin(left["pos"])]
    pairs = left.merge(right, on=["chrom", "pos"])
    if pairs.empty:
        return at, 0
    sign, _ = align_alleles(ss["A1"].to_numpy()[pairs["i"]], ss["A2"].to_numpy()[pairs["i"]],
                            ref["a1"].to_numpy()[pairs["r"]], ref["a2"].to_numpy()[pairs["r"]],
                            keep_ambiguous=True)
    pairs = pairs[sign != 0]
    # one reference row per statistic and one statistic per reference row
    pairs = pairs.drop_duplicates("i", keep="first").drop_duplicates("r", keep=False)
    out = at.to_numpy().copy()
    out[pairs["i"].to_numpy()] = pairs["r"].to_numpy()
    return pd.Series(out, index=at.index), int(len(pairs))


def _coverage(chrom, pos):
    """'1:20.0-21.0 Mb, 22:...' -- which chromosomes and ranges a table covers."""
    df = pd.DataFrame({"c": chrom, "p": pd.to_numeric(pos, errors="coerce")}).dropna()
    if df.empty:
        return "no positions"

    parts = []
    for c, g in sorted(df.groupby("c")["p"], key=lambda kv: chrom_sort_key(kv[0])):
        parts.append(f"{c}:{g.min() / 1e6:.2f}-{g.max() / 1e6:.2f} Mb")
    return ", ".join(parts[:6]) + (f" and {len(parts) - 6} more" if len(parts) > 6 else "")


def no_overlap_message(ss, ref):
    """Why no SNP matched: what each side holds, so a wrong chromosome or build shows."""
    if len(ss) == 0:
        dropped = ss.attrs.get("dropped") or {}
        if dropped:
            return ("every row of the summary statistics was dropped (" +
                    ", ".join(f"{k} {v:,}" for k, v in dropped.items()) + "): nothing to "
                    "match with the LD reference; check the file's columns and values")
        return "the summary statistics hold no rows: nothing to match with the LD reference"

    ss_cov = (_coverage(normalise_chrom(ss["CHR"].astype(str)), ss["BP"])
              if {"CHR", "BP"} <= set(ss.columns) else "no CHR/BP columns")
    return ("the summary statistics share no SNP identifier with the LD reference: "
            f"{len(ss)} statistics (e.g. {', '.join(map(str, ss['SNP'][:3]))}; {ss_cov}) "
            f"against {len(ref)} reference variants (e.g. {', '.join(map(str, ref['snp'][:3]))}; "
            f"{_coverage(ref['chrom'], ref['pos'])}); check the SNP column, the chromosomes "
            "and the genome build")

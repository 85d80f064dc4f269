"""The steps every summary-statistics reader shares, from a frame of standard-named columns
to the standard table of :mod:`deepwas.io.sumstats`, and the count of the rows each step
drops (``attrs["dropped"]``)."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..utils.chrom import normalise_chrom
from ..utils.validation import check_scalar
from ._columns import OPTIONAL_COLUMNS, STANDARD_COLUMNS, bolt_effective_n
from ._errors import SumstatsError
from ._pvalues import _log10_p, _z_from_p

log = logging.getLogger(__name__)
# override_n lived in deepwas.io.harmonise; its warning keeps that logger
_n_log = logging.getLogger("deepwas.io.harmonise")

#: two-sided 95% normal quantile, to turn a 95% confidence interval into a standard error
_Z975 = 1.959963984540054


def check_sample_size(n):
    """``n`` as a float after checking it is a finite number > 0."""
    return check_scalar("n (GWAS sample size)", n, 0.0, np.inf, hi_open=True)


def override_n(df, n, where):
    """Set ``df["N"] = n``, logging a warning when a different N column is replaced."""
    n = check_sample_size(n)
    if "N" in df:
        old = pd.to_numeric(df["N"], errors="coerce").to_numpy(dtype=np.float64)
        ok = np.isfinite(old)
        if ok.any() and not np.allclose(old[ok], n, rtol=1e-9, atol=0.0):
            lo, med, hi = np.min(old[ok]), np.median(old[ok]), np.max(old[ok])
            span = f"{med:g}" if lo == hi else f"median {med:g}, range {lo:g}-{hi:g}"
            _n_log.warning("%s: the sample size given (%g) overrides the N column (%s)", where,
                           n, span)
    df["N"] = n
    return df


def _drop(df, mask, reason, dropped, path):
    """``df`` without the rows of ``mask``, counted under ``reason`` in ``dropped`` and logged."""
    n = int(np.asarray(mask).sum())
    if n:
        dropped[reason] = dropped.get(reason, 0) + n
        log.warning("%s: dropped %d rows: %s", path, n, reason)
        df = df.loc[~np.asarray(mask)]
    return df


def _finish(df, path, fmt, n, info, z_from):
    """The steps every format shares, from a frame of standard-named columns to the table."""
    dropped = info.get("dropped", {})
    for a in ("A1", "A2"):
        df[a] = df[a].astype("string").str.strip().str.upper()
    bad_allele = df[["A1", "A2"]].isna().any(axis=1) | df["A1"].isin([".", ""]) \
        | df["A2"].isin([".", ""])
    snp = df["SNP"].astype("string").str.strip() if "SNP" in df else \
        pd.Series(pd.NA, index=df.index, dtype="string")
    no_id = snp.isna() | snp.isin([".", "", "NA", "#NA"])
    has_pos = pd.Series(False, index=df.index)
    if "CHR" in df and "BP" in df:
        bp = pd.to_numeric(df["BP"], errors="coerce")
        has_pos = df["CHR"].notna() & bp.notna()
    df = _drop(df, bad_allele | (no_id & ~has_pos), "missing_id_or_allele", dropped, path)
    snp, no_id = snp[df.index], no_id[df.index]
    made = no_id.to_numpy()
    if made.any():
        chrom = normalise_chrom(df.loc[made, "CHR"].astype(str))
        bp = pd.to_numeric(df.loc[made, "BP"], errors="coerce").astype(np.int64).astype(str)
        snp[made] = [f"{c}:{p}:{a2}:{a1}" for c, p, a2, a1 in
                     zip(chrom, bp, df.loc[made, "A2"], df.loc[made, "A1"])]
        log.info("%s: %d rows without an rsID named CHR:BP:A2:A1 (matched by position)",
                 path, int(made.sum()))
    df["SNP"] = snp.astype(str)
    df["A1"] = df["A1"].astype(str)
    df["A2"] = df["A2"].astype(str)

    if "OR" in df:
        ratio = df.pop("OR")
        df = _drop(df, ~(ratio > 0).to_numpy(), "bad_odds_ratio", dropped, path)
        df["BETA"] = np.log(ratio[df.index])
        if "L95" in df:
            with np.errstate(divide="ignore", invalid="ignore"):
                df["SE"] = (np.log(df.pop("U95")) - np.log(df.pop("L95"))) / (2 * _Z975)
    elif "L95" in df:
        df["SE"] = (df.pop("U95") - df.pop("L95")) / (2 * _Z975)
    if z_from in ("BETA and P", "BETA and LOG10P"):
        log10_p = -df["LOG10P"] if "LOG10P" in df else _log10_p(df.pop("P"))
        df = _drop(df, ~(log10_p <= 0) | np.isneginf(log10_p), "bad_p", dropped, path)
        df["Z"] = _z_from_p(df["BETA"], log10_p[df.index])
        log.info("%s: Z from the sign of BETA and the p-value (%s)", path, z_from)
    elif z_from in ("BETA/SE", "log(OR)/SE"):
        with np.errstate(divide="ignore", invalid="ignore"):
            df["Z"] = df["BETA"] / df["SE"]
    bad = ~np.isfinite(df["Z"])
    if "SE" in df:
        bad |= ~(np.isfinite(df["SE"]) & (df["SE"] > 0))
    df = _drop(df, bad, "bad_z_or_se", dropped, path)

    n_eff = None
    if fmt.name == "bolt":
        n_eff = bolt_effective_n(df["CHISQ_BOLT_LMM"], df["CHISQ_LINREG"], n)
        df["N"] = n_eff
    elif n is not None:
        override_n(df, n, path)
    elif "N" not in df:
        raise SumstatsError(f"{path}: no sample size in the file: pass n= (the GWAS sample "
                            "size)", cli=f"{path}: no sample size in the file: pass --n (the "
                            "GWAS sample size)")
    df = _drop(df, ~(np.isfinite(df["N"]) & (df["N"] > 0)), "bad_n", dropped, path)

    dup = df["SNP"].duplicated(keep=False)
    df = _drop(df, dup, "duplicate_snp", dropped, path)

    if "CHR" in df:
        df["CHR"] = normalise_chrom(df["CHR"])
    else:
        df["CHR"] = pd.Series(pd.NA, index=df.index, dtype="string")
    df["BP"] = (pd.to_numeric(df["BP"], errors="coerce").astype("Int64") if "BP" in df
                else pd.Series(pd.NA, index=df.index, dtype="Int64"))

    out_cols = STANDARD_COLUMNS + [c for c in OPTIONAL_COLUMNS if c in df]
    out = df[out_cols].reset_index(drop=True)
    out.attrs["dropped"] = dropped
    out.attrs["format"] = fmt.name
    out.attrs["effect_allele"] = info.get("effect_allele", fmt.effect_allele)
    out.attrs["z_from"] = z_from
    out.attrs["genome_build"] = info.get("genome_build")
    for k, v in info.items():
        if k not in ("dropped", "genome_build", "effect_allele"):
            out.attrs[k] = v
    if n_eff is not None:
        out.attrs["n_effective"] = n_eff
    log.info("%s: read %d variants (format %s: %s; effect allele %s; Z from %s); dropped: %s",
             path, len(out), fmt.name, fmt.title, out.attrs["effect_allele"], z_from,
             ", ".join(f"{k} {v}" for k, v in dropped.items()) or "none")
    return out

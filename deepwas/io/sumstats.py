"""Readers for GWAS summary statistics: BOLT-LMM output, ldsc ``.sumstats`` and generic tables.

Every reader returns the same standard table, one row per variant:

========  ==================================================================================
SNP       variant identifier (rsID), str
CHR       chromosome, str without a ``chr`` prefix (``<NA>`` when the file has none, e.g. ldsc)
BP        position, 1-based as in the file (pandas ``Int64``; ``<NA>`` when the file has none)
A1        effect allele, upper case: ``Z`` (and ``BETA``) are signed for A1
A2        other allele, upper case
Z         signed association statistic of A1
N         GWAS sample size (effective N for BOLT-LMM, see :func:`read_sumstats`)
BETA, SE  per-allele effect and its standard error, when the file has them
FREQ      frequency of A1, when the file has it
========  ==================================================================================

Every row removed is counted in ``df.attrs["dropped"]`` (a dict: reason -> count) and logged.
Allele alignment against an LD reference is not done here (see :mod:`deepwas.io.alignment`).
"""
from __future__ import annotations

import gzip
import logging
import os
import zlib

import numpy as np
import pandas as pd

__all__ = ["read_sumstats", "bolt_effective_n", "STANDARD_COLUMNS"]

from ..utils.chrom import normalise_chrom
from .harmonise import override_n

log = logging.getLogger(__name__)

STANDARD_COLUMNS = ["SNP", "CHR", "BP", "A1", "A2", "Z", "N"]
OPTIONAL_COLUMNS = ["BETA", "SE", "FREQ"]

# Header spellings accepted for each standard column (compared case-insensitively).
SYNONYMS = {
    "SNP": ["snp", "rsid", "rs_id", "rs", "markername", "marker", "variant_id", "id", "snpid"],
    "CHR": ["chr", "chrom", "chromosome", "#chrom", "chr_name", "#chr"],
    "BP": ["bp", "pos", "position", "base_pair_location", "bp_hg19", "chr_position"],
    "A1": ["a1", "allele1", "effect_allele", "ea", "alt", "tested_allele"],
    "A2": ["a2", "allele0", "allele2", "other_allele", "oa", "nea", "ref", "non_effect_allele"],
    "Z": ["z", "zscore", "z_score", "stat"],
    "BETA": ["beta", "b", "effect", "log_odds"],
    "SE": ["se", "stderr", "standard_error", "se_beta"],
    "N": ["n", "neff", "n_eff", "sample_size", "n_total"],
    "FREQ": ["freq", "a1freq", "eaf", "effect_allele_frequency", "frq", "af"],
}
BOLT_EXTRA = ["CHISQ_LINREG", "CHISQ_BOLT_LMM"]

#: SNPs with CHISQ_BOLT_LMM above this enter the effective-N ratio (PolyFun's convention).
BOLT_NEFF_CHISQ_MIN = 30.0


def _open_text(path):
    """Text handle on a plain or gzip file (detected by its magic bytes, not its name)."""
    return gzip.open(path, "rt") if _is_gzip(path) else open(path, "rt")


def _header(path):
    with _open_text(path) as fh:
        for line in fh:
            if line.strip():
                return line.split()
    raise ValueError(f"{path}: file is empty")


def _match_columns(header, columns):
    """Map standard names to the file's column names.

    ``columns`` (user mapping standard -> file name) wins; otherwise the first header entry
    equal (case-insensitively) to a synonym is taken.
    """
    lower = {h.lower(): h for h in header}
    found = {}
    for std, names in SYNONYMS.items():
        for name in names:
            if name in lower:
                found[std] = lower[name]
                break
    for std in BOLT_EXTRA:
        if std.lower() in lower:
            found[std] = lower[std.lower()]
    for std, name in (columns or {}).items():
        std = std.upper()
        if std not in SYNONYMS and std not in BOLT_EXTRA:
            raise ValueError(f"unknown column key {std!r} in columns=; known: "
                             f"{', '.join([*SYNONYMS, *BOLT_EXTRA])}")
        if name.lower() not in lower:
            raise ValueError(f"column {name!r} (given for {std}) is not in the header: {header}")
        found[std] = lower[name.lower()]
    return found


def _detect_format(header):
    up = {h.upper() for h in header}
    if "CHISQ_BOLT_LMM" in up or ("ALLELE1" in up and "ALLELE0" in up):
        return "bolt"
    if {"SNP", "A1", "A2", "Z", "N"} <= up:
        return "ldsc"
    return "table"


def bolt_effective_n(chisq_bolt, chisq_linreg, n, chisq_min=BOLT_NEFF_CHISQ_MIN):
    """Effective sample size of BOLT-LMM statistics.

    ``N_eff = median(CHISQ_BOLT_LMM / CHISQ_LINREG) * n`` over SNPs with
    ``CHISQ_BOLT_LMM > chisq_min`` (30), the rule of PolyFun's ``munge_polyfun_sumstats.py``.
    The mixed model gains power over linear regression; the ratio of the two chi-squares at
    clearly associated SNPs measures that gain as a multiplier of the sample size. With no SNP
    above the threshold the ratio is not estimable and ``n`` is returned unchanged.
    """
    chisq_bolt = np.asarray(chisq_bolt, dtype=np.float64)
    chisq_linreg = np.asarray(chisq_linreg, dtype=np.float64)
    big = (chisq_bolt > chisq_min) & (chisq_linreg > 0) & np.isfinite(chisq_linreg)
    if not big.any():
        log.info("BOLT-LMM: no SNP with CHISQ_BOLT_LMM > %g; effective N = N = %g", chisq_min, n)
        return float(n)
    ratio = float(np.median(chisq_bolt[big] / chisq_linreg[big]))
    log.info("BOLT-LMM: effective N = %.4g x %g = %.6g (median chi2 ratio over %d SNPs)",
             ratio, n, ratio * n, int(big.sum()))
    return ratio * float(n)


def _read_chunks(path, usecols, text_cols, chunksize):
    """Only the needed columns, chunk by chunk, numbers parsed per chunk, so peak memory stays
    near the size of the output table rather than a multiple of the file."""
    gz = _is_gzip(path)
    reader = pd.read_csv(path, sep=r"\s+", usecols=usecols, chunksize=chunksize,
                         compression="gzip" if gz else None,
                         dtype={c: str for c in usecols if c in text_cols})
    parts = []
    try:
        with reader:
            for chunk in reader:
                for c in chunk.columns:
                    if c not in text_cols:
                        chunk[c] = _num(chunk[c])
                parts.append(chunk)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(f"{path}: the gzip file is truncated or corrupt ({e}); "
                         "re-download or re-compress it") from e
    if not parts:
        return pd.DataFrame(columns=usecols)
    return pd.concat(parts, ignore_index=True)


def _is_gzip(path):
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _num(s):
    return pd.to_numeric(s, errors="coerce").astype(np.float64)


def _drop(df, mask, reason, dropped, path):
    n = int(np.asarray(mask).sum())
    if n:
        dropped[reason] = dropped.get(reason, 0) + n
        log.warning("%s: dropped %d rows: %s", path, n, reason)
        df = df.loc[~np.asarray(mask)]
    return df


def read_sumstats(path, format="auto", n=None, columns=None, chunksize=1_000_000):
    """Read summary statistics into the standard table (see the module docstring).

    Parameters
    ----------
    path : str or path-like
        Whitespace- or tab-separated text, plain or gzip (detected from the bytes).
    format : {"auto", "bolt", "ldsc", "table"}
        ``"auto"`` picks ``"bolt"`` when the header has CHISQ_BOLT_LMM or ALLELE1/ALLELE0,
        ``"ldsc"`` when it has SNP A1 A2 Z N, else ``"table"``.
    n : float, optional
        GWAS sample size. Required for BOLT-LMM (its output has no N column: ``n`` is the
        number of people analysed, from which the effective N is derived) and for any file
        without an N column. An explicit ``n`` overrides the file's N column; when the two
        disagree a warning gives both values.
    columns : dict, optional
        Explicit mapping ``{standard name: file column}`` (e.g. ``{"A1": "effect_allele"}``)
        for a generic table; unmapped names are looked up among common spellings,
        case-insensitively.
    chunksize : int
        Rows parsed at a time. Only the needed columns are kept, as numbers, so a
        10-million-row file needs roughly the memory of the output table.

    Returns
    -------
    pandas.DataFrame
        Columns SNP CHR BP A1 A2 Z N, plus BETA SE FREQ when present. ``attrs["dropped"]``
        counts removed rows by reason; ``attrs["format"]`` is the format used and, for
        BOLT-LMM, ``attrs["n_effective"]`` the N assigned.

    Notes
    -----
    * Z: taken from a Z column; otherwise ``Z = BETA / SE`` (BOLT-LMM: ALLELE1 is the effect
      allele, BETA is per copy of ALLELE1).
    * BOLT-LMM N: ``N = n`` times the effective-N ratio of :func:`bolt_effective_n`
      (median CHISQ_BOLT_LMM / CHISQ_LINREG over SNPs with CHISQ_BOLT_LMM > 30); ``n`` is
      required. Rows with CHISQ_BOLT_LMM = 0 (variants BOLT-LMM did not test) are dropped first.
    * Repairs (each counted in ``attrs["dropped"]`` and logged as a warning): rows whose Z is
      NaN/inf or whose SE is zero, negative, NaN or inf (``"bad_z_or_se"``); rows with a
      missing or non-positive N (``"bad_n"``); rows missing SNP or alleles
      (``"missing_id_or_allele"``); every copy of an rsID that occurs more than once
      (``"duplicate_snp"`` -- which copy is right cannot be known).
    * Errors (``ValueError``): no way to get Z or N; a required column missing; a truncated or
      corrupt gzip file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"summary statistics file not found: {path}")
    try:
        header = _header(path)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(f"{path}: the gzip file is truncated or corrupt ({e})") from e
    fmt = _detect_format(header) if format == "auto" else format
    if fmt not in ("bolt", "ldsc", "table"):
        raise ValueError(f"format must be 'auto', 'bolt', 'ldsc' or 'table', got {format!r}")
    colmap = _match_columns(header, columns)
    if fmt == "bolt":
        colmap.pop("N", None)  # BOLT-LMM has no N; never guess one from a stray column
        for need in ("BETA", "SE", "CHISQ_BOLT_LMM", "CHISQ_LINREG"):
            if need not in colmap:
                raise ValueError(f"{path}: BOLT-LMM output needs a {need} column; header is {header}")
        if n is None:
            raise ValueError(f"{path}: BOLT-LMM output has no N column; pass n= (the number of "
                             "people analysed); the effective N is derived from it")
    for need in ("SNP", "A1", "A2"):
        if need not in colmap:
            raise ValueError(f"{path}: no {need} column found (header: {header}); name it with "
                             f"columns={{'{need}': '<name>'}} (command line: --columns "
                             f"{need}=<name>)")
    if "Z" not in colmap and not {"BETA", "SE"} <= colmap.keys():
        raise ValueError(f"{path}: cannot get Z: need a Z column or BETA and SE (header: {header})")
    if fmt == "bolt":
        colmap.pop("Z", None)  # Z = BETA / SE by definition for BOLT-LMM
    if "N" not in colmap and n is None:
        raise ValueError(f"{path}: no N column and n was not given; pass n= (the GWAS sample size)")

    usecols = sorted(set(colmap.values()))
    text_cols = {colmap[c] for c in ("SNP", "CHR", "A1", "A2") if c in colmap}
    raw = _read_chunks(path, usecols, text_cols, chunksize)
    df = pd.DataFrame({std: raw[col] for std, col in colmap.items()})
    dropped = {}

    missing = df[["SNP", "A1", "A2"]].isna().any(axis=1) | df["SNP"].isin([".", ""])
    df = _drop(df, missing, "missing_id_or_allele", dropped, path)
    df["SNP"] = df["SNP"].astype(str).str.strip()
    for a in ("A1", "A2"):
        df[a] = df[a].astype(str).str.strip().str.upper()

    if fmt == "bolt":
        df = _drop(df, df["CHISQ_BOLT_LMM"] == 0, "chisq_bolt_lmm_zero", dropped, path)
    if "Z" not in df:
        with np.errstate(divide="ignore", invalid="ignore"):
            df["Z"] = df["BETA"] / df["SE"]
    bad = ~np.isfinite(df["Z"])
    if "SE" in df:
        bad |= ~(np.isfinite(df["SE"]) & (df["SE"] > 0))
    df = _drop(df, bad, "bad_z_or_se", dropped, path)

    n_eff = None
    if fmt == "bolt":
        n_eff = bolt_effective_n(df["CHISQ_BOLT_LMM"], df["CHISQ_LINREG"], n)
        df["N"] = n_eff
    elif n is not None:
        override_n(df, n, path)
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
    out.attrs["format"] = fmt
    if n_eff is not None:
        out.attrs["n_effective"] = n_eff
    log.info("%s: read %d variants (format %s); dropped %s", path, len(out), fmt, dropped or "none")
    return out

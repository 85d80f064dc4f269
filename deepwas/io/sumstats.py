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

Z comes from a Z column, else from BETA and SE, else from the sign of BETA and a p-value
(a ``-log10 P`` column such as REGENIE's LOG10P, or a P column): ``|Z| = Phi^-1(1 - P/2)``,
computed from ``log P`` so that p-values far below 1e-308 keep their size.

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

__all__ = ["read_sumstats", "bolt_effective_n", "STANDARD_COLUMNS", "SumstatsError"]

from ..utils.chrom import normalise_chrom
from .harmonise import override_n

log = logging.getLogger(__name__)

STANDARD_COLUMNS = ["SNP", "CHR", "BP", "A1", "A2", "Z", "N"]
OPTIONAL_COLUMNS = ["BETA", "SE", "FREQ"]

# Header spellings accepted for each standard column (compared case-insensitively).
SYNONYMS = {
    "SNP": ["snp", "rsid", "rs_id", "rs", "markername", "marker", "variant_id", "id", "snpid"],
    "CHR": ["chr", "chrom", "chromosome", "#chrom", "chr_name", "#chr"],
    "BP": ["bp", "pos", "position", "base_pair_location", "bp_hg19", "chr_position", "genpos"],
    "A1": ["a1", "allele1", "effect_allele", "ea", "alt", "tested_allele"],
    "A2": ["a2", "allele0", "allele2", "other_allele", "oa", "nea", "ref", "non_effect_allele"],
    "Z": ["z", "zscore", "z_score", "stat"],
    "BETA": ["beta", "b", "effect", "log_odds"],
    "SE": ["se", "stderr", "standard_error", "se_beta"],
    "N": ["n", "neff", "n_eff", "sample_size", "n_total"],
    "FREQ": ["freq", "a1freq", "eaf", "effect_allele_frequency", "frq", "af"],
    "P": ["p", "pval", "p_value", "pvalue", "p-value", "p.value"],
    "LOG10P": ["log10p", "mlog10p", "neglog10p", "log10_p", "neg_log10_p", "minus_log10_p",
               "-log10p", "-log10(p)", "log10pval", "neg_log10_pval", "mlog10pval"],
}
BOLT_EXTRA = ["CHISQ_LINREG", "CHISQ_BOLT_LMM"]

#: SNPs with CHISQ_BOLT_LMM above this enter the effective-N ratio (PolyFun's convention).
BOLT_NEFF_CHISQ_MIN = 30.0


class SumstatsError(ValueError):
    """A summary-statistics file that cannot be read as it is.

    ``str(err)`` words the fix for Python (``n=``, ``columns=``); ``err.cli`` words it for
    the ``deepwas`` command (``--n``, ``--columns``).
    """

    def __init__(self, message, cli=None):
        super().__init__(message)
        self.cli = message if cli is None else cli


def _open_text(path):
    """Text handle on a plain or gzip file (detected by its magic bytes, not its name)."""
    return gzip.open(path, "rt") if _is_gzip(path) else open(path, "rt")


def _header(path):
    """The column names and the separator: comma when the header line is split by commas
    rather than by tabs or spaces, else any run of whitespace."""
    with _open_text(path) as fh:
        for line in fh:
            if line.strip():
                fields = line.split()
                commas = [h.strip().strip('"') for h in line.rstrip("\r\n").split(",")]
                if "\t" not in line and len(commas) > len(fields):
                    return commas, ","
                return fields, r"\s+"
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
            known = ", ".join([*SYNONYMS, *BOLT_EXTRA])
            raise SumstatsError(f"unknown column key {std!r} in columns=; known: {known}",
                                cli=f"unknown column key {std!r} in --columns; known: {known}")
        if name.lower() not in lower:
            raise ValueError(f"column {name!r} (given for {std}) is not in the header: "
                             f"{' '.join(header)}")
        found[std] = lower[name.lower()]
    return found


def _detect_format(header):
    up = {h.upper() for h in header}
    regenie = any(h.lower() in SYNONYMS["LOG10P"] for h in header)  # also ALLELE1/ALLELE0
    if "CHISQ_BOLT_LMM" in up or ("ALLELE1" in up and "ALLELE0" in up and not regenie):
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


def _read_chunks(path, usecols, text_cols, chunksize, sep=r"\s+"):
    """Only the needed columns, chunk by chunk, numbers parsed per chunk, so peak memory stays
    near the size of the output table rather than a multiple of the file."""
    gz = _is_gzip(path)
    reader = pd.read_csv(path, sep=sep, usecols=usecols, chunksize=chunksize,
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
        Whitespace-, tab- or comma-separated text, plain or gzip (detected from the bytes).
    format : {"auto", "bolt", "ldsc", "table"}
        ``"auto"`` picks ``"bolt"`` when the header has CHISQ_BOLT_LMM, or ALLELE1/ALLELE0
        without a -log10 P column (REGENIE), ``"ldsc"`` when it has SNP A1 A2 Z N, else
        ``"table"``.
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
        counts removed rows by reason; ``attrs["format"]`` is the format used,
        ``attrs["z_from"]`` what Z was computed from and, for BOLT-LMM,
        ``attrs["n_effective"]`` the N assigned.

    Notes
    -----
    * Separator: a comma when the header line is comma-separated, otherwise any run of tabs
      or spaces.
    * Z: taken from a Z column; otherwise ``Z = BETA / SE`` (BOLT-LMM: ALLELE1 is the effect
      allele, BETA is per copy of ALLELE1); otherwise, without SE (e.g. PRS-CS's
      ``SNP A1 A2 BETA P``), ``Z = sign(BETA) * Phi^-1(1 - P/2)`` from a ``-log10 P`` column
      (REGENIE's LOG10P; also named log10p, mlog10p, neglog10p ...) or a P column, through
      ``log P`` so that tiny p-values do not underflow (a P written as ``3e-400`` is read from
      its digits).
    * BOLT-LMM N: ``N = n`` times the effective-N ratio of :func:`bolt_effective_n`
      (median CHISQ_BOLT_LMM / CHISQ_LINREG over SNPs with CHISQ_BOLT_LMM > 30); ``n`` is
      required. Rows with CHISQ_BOLT_LMM = 0 (variants BOLT-LMM did not test) are dropped first.
    * Repairs (each counted in ``attrs["dropped"]`` and logged as a warning): rows whose Z is
      NaN/inf or whose SE is zero, negative, NaN or inf (``"bad_z_or_se"``); when Z comes
      from a p-value, rows whose P is 0, above 1 or missing (``"bad_p"``); rows with a
      missing or non-positive N (``"bad_n"``); rows missing SNP or alleles
      (``"missing_id_or_allele"``); every copy of an rsID that occurs more than once
      (``"duplicate_snp"`` -- which copy is right cannot be known).
    * Errors (``ValueError``; :class:`SumstatsError` where the fix is an argument): no way to
      get Z or N; a required column missing; a truncated or corrupt gzip file.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"summary statistics file not found: {path}")
    try:
        header, sep = _header(path)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(f"{path}: the gzip file is truncated or corrupt ({e})") from e
    shown = " ".join(header) if len(header) <= 30 else " ".join(header[:30]) + " ..."
    fmt = _detect_format(header) if format == "auto" else format
    if fmt not in ("bolt", "ldsc", "table"):
        raise ValueError(f"format must be 'auto', 'bolt', 'ldsc' or 'table', got {format!r}")
    colmap = _match_columns(header, columns)
    if fmt == "bolt":
        colmap.pop("N", None)  # BOLT-LMM has no N; never guess one from a stray column
        for need in ("BETA", "SE", "CHISQ_BOLT_LMM", "CHISQ_LINREG"):
            if need not in colmap:
                raise ValueError(f"{path}: BOLT-LMM output needs a {need} column; the header "
                                 f"is: {shown}")
        if n is None:
            why = "{} (the number of people analysed); the effective N is derived from it"
            raise SumstatsError(f"{path}: BOLT-LMM output has no N column: pass "
                                + why.format("n="), cli=f"{path}: BOLT-LMM output has no N "
                                "column: pass " + why.format("--n"))
    for need in ("SNP", "A1", "A2"):
        if need not in colmap:
            msg = f"{path}: no {need} column found (the header is: {shown}); name it with "
            raise SumstatsError(msg + f"columns={{'{need}': '<name>'}}",
                                cli=msg + f"--columns {need}=<name>")
    have = colmap.keys()
    z_from = ("Z" if "Z" in have and fmt != "bolt" else "BETA/SE" if {"BETA", "SE"} <= have
              else "BETA and LOG10P" if {"BETA", "LOG10P"} <= have
              else "BETA and P" if {"BETA", "P"} <= have else None)
    if z_from is None:
        raise ValueError(f"{path}: cannot get Z: need a Z column, or BETA with SE, P or a "
                         f"-log10 P column (LOG10P); the header is: {shown}")
    needed = {"Z": ["Z"], "BETA/SE": [], "BETA and LOG10P": ["LOG10P"], "BETA and P": ["P"]}
    for c in ("Z", "P", "LOG10P"):          # read only the columns Z is computed from
        if c not in needed[z_from]:
            colmap.pop(c, None)
    if "N" not in colmap and n is None:
        raise SumstatsError(f"{path}: no N column: pass n= (the GWAS sample size)",
                            cli=f"{path}: no N column: pass --n (the GWAS sample size)")

    usecols = sorted(set(colmap.values()))
    text_cols = {colmap[c] for c in ("SNP", "CHR", "A1", "A2", "P") if c in colmap}
    raw = _read_chunks(path, usecols, text_cols, chunksize, sep=sep)
    df = pd.DataFrame({std: raw[col] for std, col in colmap.items()})
    dropped = {}

    missing = df[["SNP", "A1", "A2"]].isna().any(axis=1) | df["SNP"].isin([".", ""])
    df = _drop(df, missing, "missing_id_or_allele", dropped, path)
    df["SNP"] = df["SNP"].astype(str).str.strip()
    for a in ("A1", "A2"):
        df[a] = df[a].astype(str).str.strip().str.upper()

    if fmt == "bolt":
        df = _drop(df, df["CHISQ_BOLT_LMM"] == 0, "chisq_bolt_lmm_zero", dropped, path)
    if z_from in ("BETA and P", "BETA and LOG10P"):
        log10_p = -df["LOG10P"] if "LOG10P" in df else _log10_p(df.pop("P"))
        df = _drop(df, ~(log10_p <= 0) | np.isneginf(log10_p), "bad_p", dropped, path)
        df["Z"] = _z_from_p(df["BETA"], log10_p[df.index])
        log.info("%s: Z from the sign of BETA and the p-value (%s)", path, z_from)
    elif z_from == "BETA/SE":
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
    out.attrs["z_from"] = z_from
    if n_eff is not None:
        out.attrs["n_effective"] = n_eff
    log.info("%s: read %d variants (format %s, Z from %s); dropped: %s", path, len(out), fmt,
             z_from, ", ".join(f"{k} {v}" for k, v in dropped.items()) or "none")
    return out

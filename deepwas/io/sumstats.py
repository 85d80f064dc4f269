"""Readers for GWAS summary statistics: the layouts of BOLT-LMM, REGENIE, SAIGE, PLINK 2,
GWAS-SSF, COJO, fastGWA, METAL, GWAS-VCF, PolyFun parquet, ldsc and generic tables.

The layout is detected from the header (:mod:`deepwas.io.formats`), or named with
``format=``; each knows its effect-allele column (SAIGE's is ``Allele2``, GWAS-VCF's ``ALT``,
PLINK 2's ``A1`` ...) and where its sample size comes from.

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
    "BP": ["bp", "pos", "position", "base_pair_location", "bp_hg19", "bp_hg38", "pos_hg19",
           "pos_hg38", "chr_position", "genpos"],
    "A1": ["a1", "allele1", "effect_allele", "ea", "alt", "tested_allele"],
    "A2": ["a2", "allele0", "allele2", "other_allele", "oa", "nea", "ref", "non_effect_allele"],
    "Z": ["z", "zscore", "z_score", "stat"],
    "BETA": ["beta", "b", "effect", "log_odds", "logor", "log_or"],
    "SE": ["se", "stderr", "standard_error", "se_beta", "log(or)_se", "se_logor"],
    "OR": ["or", "odds_ratio", "oddsratio", "hazard_ratio", "hr"],
    "L95": ["l95", "ci_lower", "or_95l", "lower_95", "ci_low", "lcl"],
    "U95": ["u95", "ci_upper", "or_95u", "upper_95", "ci_high", "ucl"],
    "N": ["n", "neff", "n_eff", "sample_size", "n_total", "obs_ct"],
    "NCASE": ["n_case", "n.cases", "ncase", "n_cases"],
    "NCTRL": ["n_ctrl", "n.controls", "ncontrol", "n_controls", "nctrl", "n_control"],
    "FREQ": ["freq", "a1freq", "eaf", "effect_allele_frequency", "frq", "af", "a1_freq", "af1"],
    "P": ["p", "pval", "p_value", "pvalue", "p-value", "p.value"],
    "LOG10P": ["log10p", "mlog10p", "neglog10p", "log10_p", "neg_log10_p", "minus_log10_p",
               "-log10p", "-log10(p)", "log10pval", "neg_log10_pval", "mlog10pval",
               "neg_log_10_p_value"],
}
BOLT_EXTRA = ["CHISQ_LINREG", "CHISQ_BOLT_LMM"]
#: columns a format reads besides the standard ones (PLINK 2's REF/ALT, a TEST column ...)
FORMAT_EXTRA = ["REF", "ALT", "OMITTED", "TEST", "ERRCODE"]

#: SNPs with CHISQ_BOLT_LMM above this enter the effective-N ratio (PolyFun's convention).
BOLT_NEFF_CHISQ_MIN = 30.0
#: two-sided 95% normal quantile, to turn a 95% confidence interval into a standard error
_Z975 = 1.959963984540054
_TEXT_KEYS = ("SNP", "CHR", "A1", "A2", "P", "REF", "ALT", "OMITTED", "TEST", "ERRCODE")


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


def _sniff(path):
    """``"parquet"``, ``"vcf"`` or ``"text"`` from the file's first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    try:
        with _open_text(path) as fh:
            first = fh.readline()
    except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError):
        return "text"
    return "vcf" if first.startswith("##fileformat=VCF") else "text"


def match_columns(header, columns=None, fmt=None):
    """Map standard names to the file's column names.

    ``columns`` (user mapping standard -> file name) wins; then the format's own names
    (``fmt.columns``), then the first header entry equal (case-insensitively) to a synonym.
    A header column is given to one standard name only.
    """
    lower = {}
    for h in header:
        lower.setdefault(h.lower(), h)
    found, used = {}, set()

    def take(std, name):
        col = lower.get(name.lower())
        if col is not None and col not in used and std not in found:
            found[std] = col
            used.add(col)

    for std, name in (columns or {}).items():
        std = std.upper()
        if std not in SYNONYMS and std not in BOLT_EXTRA and std not in FORMAT_EXTRA:
            known = ", ".join([*SYNONYMS, *BOLT_EXTRA])
            raise SumstatsError(f"unknown column key {std!r} in columns=; known: {known}",
                                cli=f"unknown column key {std!r} in --columns; known: {known}")
        if name.lower() not in lower:
            raise ValueError(f"column {name!r} (given for {std}) is not in the header: "
                             f"{' '.join(header)}")
        found[std] = lower[name.lower()]
        used.add(found[std])
    if fmt is not None:
        for std, names in fmt.columns.items():
            for name in names:
                take(std, name)
    own = set(fmt.columns) if fmt is not None and fmt.name != "table" else set()
    for std, names in SYNONYMS.items():
        if std in ("A1", "A2") and {"A1", "A2"} & own:
            continue        # a format that names its alleles never takes them from synonyms
        for name in names:
            take(std, name)
    for std in BOLT_EXTRA + FORMAT_EXTRA:
        take(std, std)
    return found


# kept for callers of the former private name
_match_columns = match_columns


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
        Whitespace-, tab- or comma-separated text, plain or gzip (detected from the bytes); a
        GWAS-VCF file (``.vcf`` / ``.vcf.gz``, told by its ``##fileformat=VCF`` line) or a
        parquet file (told by its magic bytes; needs pyarrow).
    format : str
        ``"auto"`` (default) detects the layout from the header
        (:func:`deepwas.io.formats.detect_format`); otherwise one of
        :data:`deepwas.io.formats.FORMAT_NAMES`: ``bolt``, ``regenie``, ``saige``, ``plink2``,
        ``gwas-ssf``, ``cojo``, ``fastgwa``, ``metal``, ``gwas-vcf``, ``polyfun``, ``ldsc``,
        ``table``. A forced format whose columns are missing from the header is an error that
        names them.
    n : float, optional
        GWAS sample size. Required for BOLT-LMM (its output has no N column: ``n`` is the
        number of people analysed, from which the effective N is derived) and for any file
        without an N column. An explicit ``n`` overrides the file's N column; when the two
        disagree a warning gives both values.
    columns : dict, optional
        Explicit mapping ``{standard name: file column}`` (e.g. ``{"A1": "effect_allele"}``);
        unmapped names are taken from the format's own column names, then looked up among
        common spellings, case-insensitively.
    chunksize : int
        Rows parsed at a time. Only the needed columns are kept, as numbers, so a
        10-million-row file needs roughly the memory of the output table.

    Returns
    -------
    pandas.DataFrame
        Columns SNP CHR BP A1 A2 Z N, plus BETA SE FREQ when present. ``attrs["dropped"]``
        counts removed rows by reason; ``attrs["format"]`` is the format used,
        ``attrs["effect_allele"]`` the file column that became A1, ``attrs["z_from"]`` what Z
        was computed from, ``attrs["genome_build"]`` the build the file declares (GWAS-VCF
        header, a GWAS-SSF ``-meta.yaml`` beside it, a column such as ``bp_hg38``; else
        ``None``) and, for BOLT-LMM, ``attrs["n_effective"]`` the N assigned.

    Notes
    -----
    * Separator: a comma when the header line is comma-separated, otherwise any run of tabs
      or spaces.
    * Effect allele (A1), per format: BOLT-LMM and REGENIE ``ALLELE1``; SAIGE ``Allele2``
      (``Allele1`` is the other allele); PLINK 2 ``A1`` (the other allele is whichever of
      ``REF``/``ALT`` is not A1); GWAS-SSF ``effect_allele``; COJO, fastGWA, ldsc, PolyFun
      ``A1``; METAL ``Allele1``; GWAS-VCF ``ALT``. Frequencies (``A1FREQ``, ``AF_Allele2``,
      ``A1_FREQ``, ``AF1``, ``freq``, VCF ``AF``) count that same allele.
    * Z: taken from a Z column; otherwise ``Z = BETA / SE``; odds (or hazard) ratios become
      ``BETA = log(OR)`` with ``SE`` read as the standard error of ``log(OR)`` (PLINK 2's
      ``LOG(OR)_SE``; GWAS-SSF's ``standard_error``); without SE, from a 95% confidence
      interval (``L95``/``U95``, ``ci_lower``/``ci_upper``: ``SE = (log U - log L) / 3.92``
      for ratios, ``(U - L) / 3.92`` for BETA); otherwise ``Z = sign(BETA) * Phi^-1(1 - P/2)``
      from a ``-log10 P`` column (REGENIE's LOG10P; also named log10p, mlog10p ...) or a P
      column, through ``log P`` so that tiny p-values do not underflow.
    * Sample size: an N column (PLINK 2: ``OBS_CT``; GWAS-VCF: ``SS``/``NS``); SAIGE
      case-control output without N: ``N_case + N_ctrl``; BOLT-LMM: ``N = n`` times the
      effective-N ratio of :func:`bolt_effective_n`; else ``n``.
    * Rows of other tests than the additive one (REGENIE and PLINK 2 ``TEST`` other than
      ``ADD``: covariates, dominance, interaction terms) are dropped (``"not_additive_test"``).
    * Repairs (each counted in ``attrs["dropped"]`` and logged as a warning): rows whose Z is
      NaN/inf or whose SE is zero, negative, NaN or inf (``"bad_z_or_se"``); odds ratios
      that are not positive (``"bad_odds_ratio"``); when Z comes from a p-value, rows whose P
      is 0, above 1 or missing (``"bad_p"``); rows with a missing or non-positive N
      (``"bad_n"``); rows missing alleles, or an identifier and a position
      (``"missing_id_or_allele"``); multi-allelic PLINK 2 rows (``"multiallelic"``); every
      copy of an rsID that occurs more than once (``"duplicate_snp"`` -- which copy is right
      cannot be known). A row with no rsID but a position gets the identifier
      ``CHR:BP:A2:A1`` (matched to an LD reference by position and alleles).
    * Errors (``ValueError``; :class:`SumstatsError` where the fix is an argument): an
      unknown format name; a header that fits several formats reading it differently (the
      message names them); no way to get Z or N; a required column missing; a truncated or
      corrupt gzip file.
    """
    from .formats import detect_format, get_format

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"summary statistics file not found: {path}")
    fmt = None if format in (None, "auto") else get_format(format)
    try:
        kind = _sniff(path)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(f"{path}: the gzip file is truncated or corrupt ({e})") from e
    if kind == "vcf" or (fmt is not None and fmt.kind == "vcf"):
        from .vcf import read_gwas_vcf

        if kind != "vcf":
            raise ValueError(f"{path}: format 'gwas-vcf' was asked for but the file does not "
                             "start with a ##fileformat=VCF line")
        df, info = read_gwas_vcf(path, chunksize=chunksize)
        return _finish(df, path, get_format("gwas-vcf"), n, info, z_from=info.pop("z_from"))
    if kind == "parquet":
        raw_all = _read_parquet(path)
        header = [str(c) for c in raw_all.columns]
    else:
        try:
            header, sep = _header(path)
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise ValueError(f"{path}: the gzip file is truncated or corrupt ({e})") from e
    shown = " ".join(header) if len(header) <= 30 else " ".join(header[:30]) + " ..."
    if fmt is None:
        fmt = detect_format(header, kind=kind)
        if fmt.name == "table":
            _refuse_allele12_guess(header, shown, columns)
    elif fmt.kind == "parquet" and kind != "parquet":
        raise ValueError(f"{path}: format 'polyfun' is a parquet file; this file is text")
    else:
        missing = [r for r in fmt.required if r.lower() not in {h.lower() for h in header}]
        if missing and not columns:
            raise SumstatsError(
                f"{path}: format {fmt.name!r} ({fmt.title}) needs the column(s) "
                f"{', '.join(missing)}; the header is: {shown}. Check the format, or name the "
                "columns with columns={...}",
                cli=f"{path}: format {fmt.name!r} ({fmt.title}) needs the column(s) "
                    f"{', '.join(missing)}; the header is: {shown}. Check --format, or name the "
                    "columns with --columns")
    colmap = match_columns(header, columns, fmt)
    if fmt.name == "bolt":
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
    if fmt.name == "plink2" and "A2" not in colmap:
        if "REF" not in colmap or "ALT" not in colmap:
            raise ValueError(f"{path}: PLINK 2 output needs A1, REF and ALT columns (the other "
                             f"allele is whichever of REF/ALT is not A1); the header is: {shown}")
    for need in ("SNP", "A1", "A2"):
        if need == "A2" and fmt.name == "plink2":
            continue
        if need not in colmap:
            msg = f"{path}: no {need} column found (the header is: {shown}); name it with "
            raise SumstatsError(msg + f"columns={{'{need}': '<name>'}}",
                                cli=msg + f"--columns {need}=<name>")
    have = set(colmap)
    has_beta = bool({"BETA", "OR"} & have)
    has_se = "SE" in have or {"L95", "U95"} <= have
    z_from = ("Z" if "Z" in have and fmt.name != "bolt"
              else ("BETA/SE" if "BETA" in have else "log(OR)/SE") if has_beta and has_se
              else "BETA and LOG10P" if has_beta and "LOG10P" in have
              else "BETA and P" if has_beta and "P" in have else None)
    if z_from is None:
        raise ValueError(f"{path}: cannot get Z: need a Z column, or BETA with SE, P or a -log10 "
                         f"P column (LOG10P; an odds ratio OR counts as BETA); the header is: "
                         f"{shown}")
    needed = {"Z": ["Z"], "BETA/SE": [], "log(OR)/SE": [], "BETA and LOG10P": ["LOG10P"],
              "BETA and P": ["P"]}
    for c in ("Z", "P", "LOG10P"):          # read only the columns Z is computed from
        if c not in needed[z_from]:
            colmap.pop(c, None)
    if z_from != "Z" and "BETA" in have:
        colmap.pop("OR", None)
    if "SE" in colmap or z_from not in ("BETA/SE", "log(OR)/SE"):
        colmap.pop("L95", None)
        colmap.pop("U95", None)
    n_cases = fmt.n_rule == "cases" and "N" not in colmap and {"NCASE", "NCTRL"} <= have
    if not n_cases:
        colmap.pop("NCASE", None)
        colmap.pop("NCTRL", None)
    if fmt.name != "bolt" and "N" not in colmap and not n_cases and n is None:
        raise SumstatsError(f"{path}: no N column: pass n= (the GWAS sample size)",
                            cli=f"{path}: no N column: pass --n (the GWAS sample size)")
    if fmt.test_column is None or "TEST" not in colmap:
        colmap.pop("TEST", None)
    if fmt.name != "plink2":
        for c in ("REF", "ALT", "OMITTED", "ERRCODE"):
            colmap.pop(c, None)

    usecols = sorted(set(colmap.values()))
    text_cols = {colmap[c] for c in _TEXT_KEYS if c in colmap}
    if kind == "parquet":
        raw = raw_all[usecols].copy()
        for c in raw.columns:
            raw[c] = raw[c].astype(str).where(raw[c].notna()) if c in text_cols else _num(raw[c])
    else:
        raw = _read_chunks(path, usecols, text_cols, chunksize, sep=sep)
    df = pd.DataFrame({std: raw[col] for std, col in colmap.items()})
    dropped = {}
    if "TEST" in df:
        test = df.pop("TEST").astype(str).str.strip().str.upper()
        df = _drop(df, ~test.isin(["ADD", "ADDITIVE"]).to_numpy(), "not_additive_test", dropped,
                   path)
    if fmt.name == "plink2":
        df = _plink2_other_allele(df, dropped, path)
    if fmt.name == "bolt":
        df = _drop(df, df["CHISQ_BOLT_LMM"] == 0, "chisq_bolt_lmm_zero", dropped, path)
    if n_cases:
        df["N"] = df.pop("NCASE") + df.pop("NCTRL")
        log.info("%s: N = N_case + N_ctrl", path)
    info = {"dropped": dropped, "genome_build": _declared_build(path, header, colmap)}
    return _finish(df, path, fmt, n, info, z_from=z_from)


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
    out.attrs["effect_allele"] = fmt.effect_allele
    out.attrs["z_from"] = z_from
    out.attrs["genome_build"] = info.get("genome_build")
    for k, v in info.items():
        if k not in ("dropped", "genome_build"):
            out.attrs[k] = v
    if n_eff is not None:
        out.attrs["n_effective"] = n_eff
    log.info("%s: read %d variants (format %s: %s; effect allele %s; Z from %s); dropped: %s",
             path, len(out), fmt.name, fmt.title, fmt.effect_allele, z_from,
             ", ".join(f"{k} {v}" for k, v in dropped.items()) or "none")
    return out


def _refuse_allele12_guess(header, shown, columns):
    """``Allele1``/``Allele2`` with nothing else to say whose effect it is: SAIGE counts
    Allele2, METAL and most meta-analysis tools Allele1. Guessing could flip every sign."""
    low = {h.lower() for h in header}
    if {"allele1", "allele2"} <= low and not (columns and {"A1", "A2"} <= {k.upper() for k in
                                                                         columns}):
        msg = ("the header has Allele1 and Allele2 but nothing that tells whose effect BETA "
               "is: saige (SAIGE: effect allele Allele2) or metal (METAL and most "
               f"meta-analysis tools: effect allele Allele1). The header is: {shown}. Say which "
               "with ")
        raise SumstatsError(msg + "format='saige' or format='metal'",
                            cli=msg + "--format saige or --format metal")


def _plink2_other_allele(df, dropped, path):
    """PLINK 2: A2 is whichever of REF/ALT is not A1; multi-allelic rows are dropped."""
    if "ERRCODE" in df:
        err = df.pop("ERRCODE").astype(str).str.strip()
        df = _drop(df, ~err.isin([".", "", "nan", "<NA>"]).to_numpy(), "plink2_errcode",
                   dropped, path)
    if "A2" in df:
        return df
    a1 = df["A1"].astype(str).str.strip().str.upper()
    ref = df.pop("REF").astype(str).str.strip().str.upper()
    alt = df.pop("ALT").astype(str).str.strip().str.upper()
    omitted = df.pop("OMITTED").astype(str).str.strip().str.upper() if "OMITTED" in df else None
    multi = alt.str.contains(",", regex=False)
    a2 = pd.Series(np.where(a1 == ref, alt, ref), index=df.index, dtype=object)
    if omitted is not None:
        a2 = a2.where(~multi, omitted)
        multi = multi & omitted.str.contains(",", regex=False)
    df["A2"] = a2
    known = [a == r or a in str(al).split(",") for a, r, al in zip(a1, ref, alt)]
    df = _drop(df, (multi | ~np.asarray(known, dtype=bool)).to_numpy(), "multiallelic",
               dropped, path)
    return df


def _declared_build(path, header, colmap):
    """The genome build a file declares: a GWAS-SSF ``-meta.yaml`` beside it, or a position
    column named for its build (``bp_hg38``, ``POS_GRCh37`` ...)."""
    from .build import build_from_text

    meta = path + "-meta.yaml"
    if os.path.exists(meta):
        import re

        with open(meta) as fh:
            m = re.search(r"genome_assembly\s*:\s*['\"]?([A-Za-z0-9.]+)", fh.read())
        if m:
            b = build_from_text(m.group(1))
            if b:
                return b
    bp = colmap.get("BP")
    return build_from_text(bp) if bp else None


def _read_parquet(path):
    try:
        return pd.read_parquet(path)
    except ImportError as e:
        raise ImportError(f"{path} is a parquet file: reading it needs pyarrow "
                          "(pip install pyarrow)") from e

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

import pandas as pd

# the column names, match_columns and SumstatsError live below every reader (._columns,
# ._errors) and are re-exported here, where they were first published
from ._columns import (BOLT_EXTRA, BOLT_NEFF_CHISQ_MIN, FORMAT_EXTRA,  # noqa: F401
                       OPTIONAL_COLUMNS, STANDARD_COLUMNS, SYNONYMS, _match_columns,
                       bolt_effective_n, match_columns)
from ._errors import SumstatsError
from ._format_fixes import _declared_build, _plink2_other_allele, _read_parquet, \
    _refuse_allele12_guess
from ._standard_table import _drop, _finish
from ._text import _header, _num, _read_chunks, _sniff
from .formats import detect_format, get_format
from .vcf import read_gwas_vcf

__all__ = ["read_sumstats", "bolt_effective_n", "STANDARD_COLUMNS", "SumstatsError"]

log = logging.getLogger(__name__)

_TEXT_KEYS = ("SNP", "CHR", "A1", "A2", "P", "REF", "ALT", "OMITTED", "TEST", "ERRCODE")


def read_sumstats(path, format="auto", n=None, columns=None, chunksize=1_000_000):
    """Read summary statistics into the standard table (see the module docstring).

    Parameters
    ----------
    path : str or path-like
        Tab-, comma- or whitespace-separated text, plain or gzip (detected from the bytes); a
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
        ``attrs["effect_allele"]`` the file column that became A1 (as the header spells
        it), ``attrs["z_from"]`` what Z was computed from, ``attrs["genome_build"]`` the
        build the file declares (GWAS-VCF header, a GWAS-SSF ``-meta.yaml`` beside it, a
        column such as ``bp_hg38``; else ``None``) and, for BOLT-LMM,
        ``attrs["n_effective"]`` the N assigned.

    Notes
    -----
    * Separator: a tab when the header line holds one (an empty field is then a missing
      value, as ``pandas.to_csv`` and ``data.table::fwrite`` write NaN), a comma when the
      header is comma-separated, otherwise any run of tabs or spaces. A line with another
      number of fields than the header (a file mixing tabs and spaces, a truncated line) is
      an error naming the line.
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
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"summary statistics file not found: {path}")
    fmt = None if format in (None, "auto") else get_format(format)
    try:
        kind = _sniff(path)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(f"{path}: the gzip file is truncated or corrupt ({e})") from e
    if kind == "vcf" or (fmt is not None and fmt.kind == "vcf"):
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
    if len(raw) == 0:
        raise ValueError(f"{path}: the file has a header line and no rows")
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
    info = {"dropped": dropped, "genome_build": _declared_build(path, header, colmap),
            "effect_allele": colmap["A1"]}
    return _finish(df, path, fmt, n, info, z_from=z_from)

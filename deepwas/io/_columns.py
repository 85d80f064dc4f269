"""The standard columns of a summary-statistics table, the header spellings accepted for each
(:func:`match_columns`) and BOLT-LMM's effective sample size: what every format and reader of
:mod:`deepwas.io` shares, re-exported by :mod:`deepwas.io.sumstats`."""
from __future__ import annotations

import logging

import numpy as np

from ._errors import SumstatsError

__all__ = ["STANDARD_COLUMNS", "OPTIONAL_COLUMNS", "SYNONYMS", "match_columns",
           "bolt_effective_n"]

# the name of the module these lived in, so log records keep their logger
log = logging.getLogger("deepwas.io.sumstats")

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

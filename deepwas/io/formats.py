"""Summary-statistics formats: what each tool writes, which allele its effects count, and how a
file's header tells them apart.

Each :class:`SumstatsFormat` names the columns that carry the standard fields (SNP, CHR, BP,
A1 = effect allele, A2 = other allele, BETA, SE, FREQ, N ...) in that tool's documented output,
and the rules that differ between tools (where N comes from, which rows are additive tests,
odds ratios). :func:`detect_format` reads the header: every format whose signature the header
carries is a candidate; one candidate is the answer; several candidates that read the file the
same way (same effect allele, same N rule) resolve to the most specific one; candidates that
would read it differently are an error that names them, because guessing could flip every sign
(SAIGE's effect allele is ``Allele2``, METAL's ``Allele1``).

Sources of the layouts (read for the column names and allele rules; no code taken):
REGENIE step 2 output (rgcgithub.github.io/regenie), SAIGE step 2 (saigegit.github.io/SAIGE-doc),
PLINK 2 ``--glm`` (cog-genomics.org/plink/2.0/formats), GWAS Catalog GWAS-SSF
(ebi.ac.uk/gwas/docs/summary-statistics-format), GCTA-COJO ``.ma`` and fastGWA
(yanglab.westlake.edu.cn/software/gcta), MRC-IEU GWAS-VCF
(github.com/MRCIEU/gwas-vcf-specification), PolyFun ``munge_polyfun_sumstats.py`` parquet,
BOLT-LMM, ldsc ``.sumstats`` and METAL.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ._columns import match_columns
from ._errors import SumstatsError

__all__ = ["SumstatsFormat", "FORMATS", "FORMAT_NAMES", "detect_format", "get_format",
           "formats_help"]


@dataclass(frozen=True)
class SumstatsFormat:
    """One summary-statistics layout.

    Attributes
    ----------
    name : str
        Key used by ``read_sumstats(format=...)`` and ``attrs["format"]``.
    title : str
        The tool and file, in words.
    effect_allele : str
        The column whose allele the effects count (the standard ``A1``).
    columns : dict
        Standard name -> header names to try first (case-insensitive), before the generic
        spellings of :data:`deepwas.io.sumstats.SYNONYMS`.
    required : tuple of str
        Header names (case-insensitive) the signature needs; also checked when the format is
        forced with ``format=``.
    any_of : tuple of tuple of str
        Further signature terms: each inner tuple needs at least one of its names.
    n_rule : str
        ``"column"`` (an N column, else ``n=``), ``"bolt"`` (``n=`` turned into an effective N)
        or ``"cases"`` (N, else cases + controls).
    test_column : str or None
        A column naming the test of each row; only additive-model rows are kept.
    kind : str
        ``"text"``, ``"vcf"`` or ``"parquet"``.
    """

    name: str
    title: str
    effect_allele: str
    columns: dict = field(default_factory=dict)
    required: tuple = ()
    any_of: tuple = ()
    exclude: tuple = ()
    n_rule: str = "column"
    test_column: str | None = None
    kind: str = "text"
    example: str = ""

    def matches(self, header):
        """Whether a header (list of column names) carries this format's signature."""
        low = {h.lower() for h in header}
        if not all(r.lower() in low for r in self.required):
            return False
        if any(x.lower() in low for x in self.exclude):
            return False
        return all(any(a.lower() in low for a in group) for group in self.any_of)

    def reading(self, header):
        """What this format makes of a header: the columns of A1, A2, SNP and the N rule.

        Two candidate formats with the same reading read the file identically.
        """
        cm = match_columns(header, None, self)
        return (cm.get("A1"), cm.get("A2"), cm.get("SNP"), self.n_rule, self.test_column)


_ORDER = []


def _fmt(**kw):
    f = SumstatsFormat(**kw)
    _ORDER.append(f)
    return f


# Specific layouts first: the order breaks ties between candidates that read a file the same way.
_fmt(name="bolt", title="BOLT-LMM output", effect_allele="ALLELE1",
     columns={"A1": ["ALLELE1"], "A2": ["ALLELE0"], "FREQ": ["A1FREQ"], "BP": ["BP"]},
     required=("ALLELE1", "ALLELE0"), any_of=(("CHISQ_BOLT_LMM", "CHISQ_BOLT_LMM_INF",
                                               "CHISQ_LINREG", "P_BOLT_LMM", "P_LINREG"),),
     n_rule="bolt",
     example="SNP CHR BP GENPOS ALLELE1 ALLELE0 A1FREQ INFO CHISQ_LINREG P_LINREG BETA SE "
             "CHISQ_BOLT_LMM_INF P_BOLT_LMM_INF CHISQ_BOLT_LMM P_BOLT_LMM")
_fmt(name="regenie", title="REGENIE step 2 output (.regenie)", effect_allele="ALLELE1",
     columns={"A1": ["ALLELE1"], "A2": ["ALLELE0"], "SNP": ["ID"], "CHR": ["CHROM"],
              "BP": ["GENPOS"], "FREQ": ["A1FREQ"], "LOG10P": ["LOG10P"]},
     required=("ALLELE1", "ALLELE0"), any_of=(("LOG10P", "TEST", "CHISQ", "GENPOS", "ID"),),
     exclude=("CHISQ_BOLT_LMM", "CHISQ_BOLT_LMM_INF", "CHISQ_LINREG", "BP", "SNP"),
     test_column="TEST",
     example="CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ INFO N TEST BETA SE CHISQ LOG10P")
_fmt(name="saige", title="SAIGE step 2 output", effect_allele="Allele2",
     columns={"A1": ["Allele2"], "A2": ["Allele1"], "SNP": ["MarkerID", "SNPID", "rsid"],
              "BP": ["POS"], "CHR": ["CHR"], "FREQ": ["AF_Allele2"], "P": ["p.value"]},
     required=("Allele1", "Allele2"),
     any_of=(("AF_Allele2", "AC_Allele2", "MarkerID", "Tstat", "p.value.NA", "Is.SPA",
              "Is.SPA.converge", "varT", "N_case", "N.Cases"),),
     n_rule="cases",
     example="CHR POS MarkerID Allele1 Allele2 AC_Allele2 AF_Allele2 MissingRate BETA SE Tstat "
             "var p.value N")
_fmt(name="plink2", title="PLINK 2 --glm (.glm.linear, .glm.logistic, .glm.logistic.hybrid, "
                          ".glm.firth)",
     effect_allele="A1",
     columns={"A1": ["A1"], "SNP": ["ID"], "CHR": ["#CHROM", "CHROM"], "BP": ["POS"],
              "FREQ": ["A1_FREQ"], "N": ["OBS_CT"], "SE": ["SE", "LOG(OR)_SE"],
              "LOG10P": ["LOG10_P", "NEG_LOG10_P"]},
     required=("A1", "REF"), any_of=(("ALT", "ALT1"), ("OBS_CT", "#CHROM", "TEST", "A1_FREQ",
                                                       "LOG(OR)_SE", "T_STAT", "Z_STAT")),
     test_column="TEST",
     example="#CHROM POS ID REF ALT PROVISIONAL_REF? A1 OMITTED A1_FREQ TEST OBS_CT BETA SE "
             "L95 U95 T_STAT P ERRCODE")
_fmt(name="gwas-ssf", title="GWAS Catalog summary statistics (GWAS-SSF)",
     effect_allele="effect_allele",
     columns={"A1": ["effect_allele"], "A2": ["other_allele"], "SNP": ["rsid", "variant_id"],
              "CHR": ["chromosome"], "BP": ["base_pair_location"],
              "FREQ": ["effect_allele_frequency"], "SE": ["standard_error"],
              "LOG10P": ["neg_log_10_p_value"], "N": ["n"]},
     required=("chromosome", "base_pair_location", "effect_allele", "other_allele"),
     example="chromosome base_pair_location effect_allele other_allele beta standard_error "
             "effect_allele_frequency p_value rsid n")
_fmt(name="cojo", title="GCTA-COJO .ma (also SBayesRC's input)", effect_allele="A1",
     columns={"A1": ["A1"], "A2": ["A2"], "FREQ": ["freq"], "BETA": ["b"], "SE": ["se"],
              "P": ["p"], "N": ["N"]},
     required=("SNP", "A1", "A2", "freq", "b", "se", "p", "N"),
     exclude=("CHR", "BP", "POS", "Z", "AF1"),
     example="SNP A1 A2 freq b se p N")
_fmt(name="fastgwa", title="GCTA fastGWA / fastGWA-GLMM (.fastGWA)", effect_allele="A1",
     columns={"A1": ["A1"], "A2": ["A2"], "FREQ": ["AF1"], "BP": ["POS"]},
     required=("SNP", "A1", "A2", "AF1"),
     example="CHR SNP POS A1 A2 N AF1 BETA SE P")
_fmt(name="metal", title="METAL meta-analysis output", effect_allele="Allele1",
     columns={"A1": ["Allele1"], "A2": ["Allele2"], "SNP": ["MarkerName"], "FREQ": ["Freq1"],
              "BETA": ["Effect"], "SE": ["StdErr"], "Z": ["Zscore"], "P": ["P-value"]},
     required=("Allele1", "Allele2"), any_of=(("MarkerName",),),
     example="MarkerName Allele1 Allele2 Freq1 FreqSE Effect StdErr P-value Direction")
_fmt(name="gwas-vcf", title="GWAS-VCF (MRC-IEU; .vcf / .vcf.gz)", effect_allele="ALT",
     kind="vcf", example="#CHROM POS ID REF ALT QUAL FILTER INFO FORMAT <study>  (FORMAT "
                         "ES:SE:LP:AF:SS)")
_fmt(name="polyfun", title="PolyFun munged summary statistics (.parquet)", effect_allele="A1",
     kind="parquet", columns={"A1": ["A1"], "A2": ["A2"]}, required=("SNP", "A1", "A2"),
     example="SNP CHR BP A1 A2 Z N (parquet)")
_fmt(name="ldsc", title="ldsc .sumstats (munge_sumstats.py)", effect_allele="A1",
     columns={"A1": ["A1"], "A2": ["A2"]}, required=("SNP", "A1", "A2", "Z", "N"),
     example="SNP A1 A2 Z N")
_fmt(name="table", title="any other table (columns matched by common spellings)",
     effect_allele="A1 (or effect_allele, ea, alt, allele1 ...)",
     example="SNP CHR BP A1 A2 BETA SE N")

#: every format, in detection priority
FORMATS = {f.name: f for f in _ORDER}
#: names accepted by ``format=``
FORMAT_NAMES = ["auto"] + list(FORMATS)
_SYNONYM_NAMES = {"ssf": "gwas-ssf", "gwas_ssf": "gwas-ssf", "gwascatalog": "gwas-ssf",
                  "vcf": "gwas-vcf", "gwas_vcf": "gwas-vcf", "plink": "plink2",
                  "glm": "plink2", "ma": "cojo", "sbayesrc": "cojo", "parquet": "polyfun",
                  "bolt-lmm": "bolt", "bolt_lmm": "bolt", "generic": "table"}


def get_format(name):
    """The :class:`SumstatsFormat` called ``name`` (a few aliases accepted: ``vcf``, ``ssf``,
    ``ma`` ...). Raises ``ValueError`` naming the known formats."""
    key = str(name).strip().lower()
    key = _SYNONYM_NAMES.get(key, key)
    if key not in FORMATS:
        raise ValueError(f"unknown summary-statistics format {name!r}; known: "
                         f"{', '.join(FORMAT_NAMES)}")
    return FORMATS[key]


def detect_format(header, kind="text"):
    """The format a header belongs to.

    Parameters
    ----------
    header : list of str
        Column names.
    kind : {"text", "vcf", "parquet"}
        What the file's bytes are (VCF and parquet are told from the content, not the header).

    Returns
    -------
    SumstatsFormat

    Raises
    ------
    SumstatsError
        Several formats match and would read the file differently; the message names them
        and the effect allele each would use.
    """
    if kind == "vcf":
        return FORMATS["gwas-vcf"]
    cands = [f for f in _ORDER if f.kind in ("text", kind) and f.required and f.matches(header)]
    if kind == "parquet":
        cands = [f for f in cands if f.kind == "parquet"] or cands
    if not cands:
        return FORMATS["polyfun"] if kind == "parquet" else FORMATS["table"]
    if len(cands) == 1:
        return cands[0]
    readings = {f.name: f.reading(header) for f in cands}
    if len(set(readings.values())) == 1:
        return cands[0]
    # ldsc/table-like readings are subsumed by a specific format that reads the alleles alike
    specific = [f for f in cands if f.name not in ("ldsc", "polyfun")]
    if len(specific) == 1 and all(readings[f.name][:3] == readings[specific[0].name][:3]
                                  for f in cands):
        return specific[0]
    shown = " ".join(header) if len(header) <= 30 else " ".join(header[:30]) + " ..."
    names = "; ".join(f"{f.name} ({f.title}: effect allele {f.effect_allele}, "
                      f"N rule {f.n_rule})" for f in cands)
    msg = (f"the header fits several summary-statistics formats that read it differently: "
           f"{names}. The header is: {shown}. Say which with ")
    raise SumstatsError(msg + "format='<name>'", cli=msg + "--format <name>")


def formats_help():
    """One line per format (name, tool, effect allele): for ``--help`` and error messages."""
    return "\n".join(f"{f.name}: {f.title}; effect allele {f.effect_allele}"
                     for f in _ORDER)

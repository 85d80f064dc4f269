"""Readers for summary statistics and LD files; harmonisation with an LD reference."""
from .build import BuildCheck, check_build, lift_sumstats, shipped_chain
from .contigs import CHROM_LENGTHS, build_from_contigs
from .formats import FORMAT_NAMES, FORMATS, detect_format, formats_help
from .harmonise import Harmonised, harmonise, standard_sumstats
from .ldgm import LDGMSource
from .sbayesrc import SBayesRCLD, write_sbayesrc_ld
from .sumstats import STANDARD_COLUMNS, SumstatsError, bolt_effective_n, read_sumstats
from .ukbb import LONG_RANGE_LD_REGIONS_HG19, UKBBLD, in_long_range_ld, write_ukbb_ld
from .vcf import read_gwas_vcf

__all__ = ["read_sumstats", "bolt_effective_n", "STANDARD_COLUMNS", "SumstatsError", "harmonise",
           "standard_sumstats", "Harmonised",
           "UKBBLD", "write_ukbb_ld", "LONG_RANGE_LD_REGIONS_HG19", "in_long_range_ld",
           "FORMATS", "FORMAT_NAMES", "detect_format", "formats_help", "read_gwas_vcf",
           "check_build", "lift_sumstats", "BuildCheck", "shipped_chain",
           "CHROM_LENGTHS", "build_from_contigs",
           "LDGMSource", "SBayesRCLD", "write_sbayesrc_ld"]

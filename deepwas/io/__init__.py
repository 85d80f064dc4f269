"""Readers for summary statistics and LD files; harmonisation with an LD reference."""
from .harmonise import Harmonised, harmonise, standard_sumstats
from .sumstats import STANDARD_COLUMNS, SumstatsError, bolt_effective_n, read_sumstats
from .ukbb import LONG_RANGE_LD_REGIONS_HG19, UKBBLD, in_long_range_ld, write_ukbb_ld

__all__ = ["read_sumstats", "bolt_effective_n", "STANDARD_COLUMNS", "SumstatsError", "harmonise",
           "standard_sumstats", "Harmonised",
           "UKBBLD", "write_ukbb_ld", "LONG_RANGE_LD_REGIONS_HG19", "in_long_range_ld"]

"""Utilities shared across the package: chromosome labels and a public estimator check suite
(:mod:`deepwas.utils.estimator_checks`)."""
from .chrom import chrom_sort_key, genome_order, normalise_chrom, sort_chroms

__all__ = ["normalise_chrom", "chrom_sort_key", "sort_chroms", "genome_order"]

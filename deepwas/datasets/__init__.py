"""Embedded data sets: :func:`load_demo` (real 1000 Genomes LD, hg38 bigWig tracks,
semi-synthetic GWAS with a known prior)."""
from ._demo import DemoData, default_cache_dir, demo_bfiles, load_demo
from ._pseudo_chromosome import pseudo_chromosome, simulated_loci

__all__ = ["load_demo", "DemoData", "demo_bfiles", "default_cache_dir", "pseudo_chromosome",
           "simulated_loci"]

"""deepwas: functionally informed GWAS priors learned from summary statistics."""
__version__ = "0.1.0"

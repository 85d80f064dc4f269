"""deepwas: functionally informed GWAS priors learned from summary statistics."""
from .likelihood import marginal_loglik
from .stats import SummaryStats

__version__ = "0.1.0"

__all__ = ["SummaryStats", "marginal_loglik", "__version__"]

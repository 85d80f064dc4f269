"""Per-window linear algebra for the DeepWAS likelihood (exact Cholesky; iterative CG + SLQ)."""
from .exact import exact_gain
from .config import IterativeConfig
from .iterative import choose_linalg, iterative_gain, slq_logdet

__all__ = ["exact_gain", "IterativeConfig", "iterative_gain", "slq_logdet", "choose_linalg"]

"""Per-window linear algebra for the DeepWAS likelihood (exact Cholesky; iterative CG + SLQ)."""
from .exact import exact_gain

__all__ = ["exact_gain"]

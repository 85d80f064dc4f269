"""Per-window linear algebra for the DeepWAS likelihood (exact Cholesky; iterative CG + SLQ;
sparse LDL^T for LD given as a sparse precision matrix)."""
from .exact import exact_gain
from .config import IterativeConfig
from .iterative import choose_linalg, iterative_gain, slq_logdet
from .sparse import sparse_gain, sparse_posterior_mean
from .sparse_ldlt import SparseLDLT

__all__ = ["exact_gain", "IterativeConfig", "iterative_gain", "slq_logdet", "choose_linalg",
           "sparse_gain", "sparse_posterior_mean", "SparseLDLT"]

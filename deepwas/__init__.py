"""deepwas: functionally informed GWAS priors learned from summary statistics."""
from .likelihood import marginal_loglik
from .stats import SummaryStats
from .estimators import (ConstantPrior, FunctionalPrior, GLMPrior, TransformerPrior,
                         likelihood_increase_percent)
from .estimators import load_model, save_model
from . import cv, datasets, simulate, utils
from .config import config_context, get_config, set_config
from ._version import __version__

__all__ = ["SummaryStats", "marginal_loglik", "__version__", "FunctionalPrior", "ConstantPrior",
           "GLMPrior", "TransformerPrior", "likelihood_increase_percent", "save_model",
           "load_model", "simulate", "datasets", "utils", "cv", "set_config", "get_config",
           "config_context"]

"""scikit-learn estimators that compose priors, the likelihood and skorch training.

* :class:`FunctionalPrior` -- ``fit(stats)``, ``score(stats)`` (held-out nats per person),
  ``predict_f(stats | table | features)``;
* presets :class:`ConstantPrior`, :class:`GLMPrior`, :class:`TransformerPrior`;
* :func:`likelihood_increase_percent` -- ``100 * expm1(score)``.
"""
from ._base import DEFAULT_LR, FunctionalPrior, likelihood_increase_percent
from .presets import ConstantPrior, GLMPrior, TransformerPrior

__all__ = ["FunctionalPrior", "ConstantPrior", "GLMPrior", "TransformerPrior",
           "likelihood_increase_percent", "DEFAULT_LR"]

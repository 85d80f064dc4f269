"""scikit-learn estimators that compose priors, the likelihood and skorch training.

* :class:`FunctionalPrior` -- ``fit(stats)``, ``score(stats)`` (held-out nats per person),
  ``predict_f(stats | table | features)``;
* presets :class:`ConstantPrior`, :class:`GLMPrior`, :class:`TransformerPrior`;
* :func:`save_model` / :func:`load_model` -- a fitted prior as ``model.pt`` + ``model.json``;
* :func:`likelihood_increase_percent` -- ``100 * expm1(score)``.
"""
from ._base import FunctionalPrior, likelihood_increase_percent
from ._fitting import DEFAULT_LR
from ._persistence import MODEL_FORMAT, load_model, save_model
from .presets import ConstantPrior, GLMPrior, TransformerPrior

__all__ = ["FunctionalPrior", "ConstantPrior", "GLMPrior", "TransformerPrior",
           "likelihood_increase_percent", "DEFAULT_LR", "save_model", "load_model",
           "MODEL_FORMAT"]

"""scikit-learn estimators that compose priors, the likelihood and skorch training.

* :class:`FunctionalPrior` -- ``fit(stats)``, ``score(stats)`` (held-out nats per person),
  ``predict_f(stats | table | features)``;
* presets :class:`ConstantPrior`, :class:`GLMPrior`, :class:`TransformerPrior`;
* :func:`save_model` / :func:`load_model` -- a fitted prior as ``model.pt`` + ``model.json``;
* :func:`likelihood_increase_percent` -- ``100 * expm1(score)``.

Map of the modules (who owns what)::

    the estimator
      _base             FunctionalPrior: parameters, fit / predict_f / score (the public face)
      presets           ConstantPrior, GLMPrior, TransformerPrior: other default ``model``
      _params           the parameter table, checked in fit (sklearn _parameter_constraints)
      _genetics         gain, h2, partitioned_h2, score_test, posterior_mean (a mixin of
                        FunctionalPrior)
      _score_test       what the score test needs from a fit: the nuisance directions of
                        the prior's own parameters (the test itself: deepwas.score_test)
      _persistence      save_model / load_model: model.pt (weights only) + model.json
    one fit, step by step
      _fitting          fit_prior: split, standardise, sigma2, initialise, train, return
      _design           feature standardisation, and which features are dropped (constant,
                        collinear)
      _initialisation   the starting h2 and the maximum-likelihood sigma2 (constant prior)
      _fit_checks       warnings after a fit (log f at a bound, h2 on a handful of variants)
      _panel_correction panel_correction: refits on pseudo-panels and the SIMEX
                        extrapolation of the parameters; the fits behind a corrected prior
                        (panel_components, for its jackknife and score test)
    AdamW training (skorch)
      _training         WindowNet: one training step (train_step_single: one window's
                        gradient; train_step: accumulate, warm-up lr, all-reduce, AdamW
                        step), callbacks, seeding
      _window_module    the skorch module: window index -> log f on its extended set
      _window_sampling  which windows train and in what order; validation split; prefetch
      _stopping         the epochs planned and the training-loss plateau
      _resume           checkpoint and resume (checkpoint_dir, checkpoint_every)

Below this package, shared with the results code (:mod:`deepwas.fitting`): the window loss
(``_objective``), LD score regression blocks (``_ldsr``), features as tensors
(``_features``), full-batch L-BFGS (``_full_batch``), variant chunking (``_chunking``) and
sharding over processes (``_sharding``). The likelihood itself is
:mod:`deepwas.likelihood`; the prior networks are :mod:`deepwas.priors`.
"""
from ._base import FunctionalPrior, likelihood_increase_percent
from ._fitting import DEFAULT_LR, TRANSFORMER_LR
from ._persistence import MODEL_FORMAT, load_model, save_model
from .presets import ConstantPrior, GLMPrior, TransformerPrior

__all__ = ["FunctionalPrior", "ConstantPrior", "GLMPrior", "TransformerPrior",
           "likelihood_increase_percent", "DEFAULT_LR", "TRANSFORMER_LR", "save_model",
           "load_model", "MODEL_FORMAT"]

"""scikit-learn estimators that compose priors, the likelihood and skorch training."""

"""Per-variant features for the priors: bigWig tracks, coding scores, annotations, liftover."""
from .base import ArrayFeatures, FeatureProvider, Features, FeatureSet

__all__ = ["ArrayFeatures", "FeatureProvider", "Features", "FeatureSet"]

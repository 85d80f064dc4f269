"""Per-variant features for the priors: bigWig tracks, coding scores, annotations, liftover."""
from .annot import AnnotFeatures, BedAnnotations, annotation_features, read_bed
from .base import ArrayFeatures, FeatureProvider, Features, FeatureSet
from .bigwig import BigWigTracks
from .coding import BasicPredictors, CodingScores
from .liftover import HG19_TO_HG38_CHAIN, HG38_TO_HG19_CHAIN, apply_liftover_policy, liftover, \
    liftover_summary

__all__ = ["ArrayFeatures", "FeatureProvider", "Features", "FeatureSet",
           "BigWigTracks", "CodingScores", "BasicPredictors", "AnnotFeatures", "BedAnnotations",
           "annotation_features", "read_bed",
           "liftover", "apply_liftover_policy", "liftover_summary", "HG19_TO_HG38_CHAIN",
           "HG38_TO_HG19_CHAIN"]

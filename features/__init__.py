"""Pages to feature columns: HTML extraction and vectorised polars features."""

from features.compute import compute_features
from features.schema import FEATURE_NAMES, FEATURE_SCHEMA_VERSION, FEATURES, Feature

__all__ = ["FEATURES", "FEATURE_NAMES", "FEATURE_SCHEMA_VERSION", "Feature", "compute_features"]

"""Pages to feature columns: HTML extraction and vectorised polars features."""

from typing import Any

from features.schema import FEATURE_NAMES, FEATURE_SCHEMA_VERSION, FEATURES, Feature

__all__ = ["FEATURES", "FEATURE_NAMES", "FEATURE_SCHEMA_VERSION", "Feature", "compute_features"]


def __getattr__(name: str) -> Any:
    # compute_features is imported on first use: importing it loads numba and the kernels
    # (about 1.2 CPU s), which the nightly driver, importing features.phrases or .schema for
    # its run key, never needs.
    if name == "compute_features":
        from features.compute import compute_features

        return compute_features
    raise AttributeError(f"module 'features' has no attribute {name!r}")

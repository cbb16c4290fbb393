"""Score a batch of feature rows with a loaded model: score, decision, reasons."""

from __future__ import annotations

import numpy as np
import polars as pl

from features.schema import FEATURE_NAMES
from models.explain import evidence_lines, explain
from models.registry import LoadedModel


def score_features(loaded: LoadedModel, feats: pl.DataFrame, lines: pl.DataFrame) -> pl.DataFrame:
    """Columns ``score``, ``decision``, ``reasons``, ``model_version`` for each feature row."""
    X = feats.select(FEATURE_NAMES).to_numpy().astype(np.float64)
    if X.shape[0] == 0:
        return pl.DataFrame(schema={"score": pl.Float64, "decision": pl.String,
                                    "reasons": pl.List(pl.String), "model_version": pl.String})
    model = loaded.model
    scores = model.predict_proba(X)
    decisions = model.decide(scores)
    contrib = model.contributions(X)
    evidence = evidence_lines(lines, X.shape[0])
    reasons = explain(X, contrib, evidence)
    return pl.DataFrame({
        "score": scores,
        "decision": decisions.astype(str),
        "reasons": reasons,
        "model_version": [loaded.version] * X.shape[0],
    })

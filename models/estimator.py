"""The model object that is saved: a base classifier, a Platt calibration and thresholds.

Contributions are per-feature additive terms of the base model's log-odds (exact TreeSHAP for
LightGBM, coefficient x standardised value for the linear model); the calibration is monotonic,
so the order of reasons is the order of their effect on the calibrated score. LightGBM's
TreeSHAP is read off per-tree tables built on first use (``models.tree_contributions``: the same
values as ``pred_contrib``, 10 ms instead of 0.41 s per 10,000 pages single-threaded for the
shipped model, plus about 70 ms once per process to build them); the tables are never part of
the pickled model, so model files and their registry hashes do not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from features.schema import FEATURE_SCHEMA_VERSION, FEATURES

DECISIONS = ("publish", "review", "reject")


@dataclass
class Thresholds:
    publish: float  # score >= publish -> "publish"
    reject: float  # score < reject -> "reject"; between -> "review"

    def decide(self, scores: np.ndarray) -> np.ndarray:
        out = np.full(scores.shape, "review", dtype=object)
        out[scores >= self.publish] = "publish"
        out[scores < self.reject] = "reject"
        return out


class CalibratedScorer:
    """Score and decision from a raw margin (``raw_margin``, defined by the subclass), its
    Platt calibration ``calib_a``/``calib_b`` and ``thresholds``: shared by the saved model and
    its compiled form (``models.compiled``), so both give the same scores."""

    calib_a: float
    calib_b: float
    thresholds: Thresholds

    def raw_margin(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probability that each page is publishable."""
        z = self.calib_a * self.raw_margin(X) + self.calib_b
        return 1.0 / (1.0 + np.exp(-z))

    def decide(self, scores: np.ndarray) -> np.ndarray:
        return self.thresholds.decide(scores)


@dataclass
class PagescoreModel(CalibratedScorer):
    kind: str  # "lightgbm" | "logistic"
    params: dict[str, Any]
    base: Any  # fitted LGBMClassifier or sklearn Pipeline(StandardScaler, LogisticRegression)
    calib_a: float
    calib_b: float
    thresholds: Thresholds
    feature_names: tuple[str, ...]
    feature_schema_version: str = FEATURE_SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def raw_margin(self, X: np.ndarray) -> np.ndarray:
        if self.kind == "lightgbm":
            return np.asarray(self.base.predict(X, raw_score=True), dtype=np.float64)
        return np.asarray(self.base.decision_function(X), dtype=np.float64)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(n_pages, n_features) additive log-odds contributions of the base model."""
        if self.kind == "lightgbm":
            # Imported here: drivers that only verify models need not load numba.
            from models.tree_contributions import contribution_tables

            tables = contribution_tables(self.base.booster_)
            if tables is not None and tables.accepts(X):
                return tables.contributions(X)
            contrib = self.base.predict(X, pred_contrib=True)
            return np.asarray(contrib, dtype=np.float64)[:, : X.shape[1]]
        scaler, clf = self.base.named_steps["scale"], self.base.named_steps["clf"]
        return scaler.transform(X) * clf.coef_[0]


def monotone_constraints(feature_names: tuple[str, ...]) -> list[int]:
    """+1/-1/0 per feature from its declared direction (score may only fall as defects grow)."""
    by_name = {f.name: f for f in FEATURES}
    sign = {"bad_high": -1, "bad_low": 1, "none": 0}
    return [sign[by_name[n].direction] for n in feature_names]

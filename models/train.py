"""Train, evaluate and register a model from labelled pages (the `pagescore retrain` logic)."""

from __future__ import annotations

import datetime as dt
import hashlib
import platform
from dataclasses import dataclass
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION, compute_features
from features.phrases import phrase_lists_digest
from models.candidates import DEFAULT_PARAMS, make_estimator
from models.estimator import PagescoreModel
from models.evaluate import (
    choose_thresholds,
    evaluate,
    evaluate_rules,
    grouped_folds,
    out_of_fold,
)
from models.registry import REGISTRY_DIR, ModelError, read_index, register

TRAINING_TABLE = Path(__file__).resolve().parent.parent / "data" / "training" / "labelled_pages.parquet"
PRIMARY_METRIC = "pr_auc"


@dataclass
class RetrainResult:
    version: str
    promoted: bool
    card: dict[str, Any]
    champion_before: str | None
    champion_metric: float | None
    message: str


def table_digest(table: pl.DataFrame) -> str:
    h = hashlib.sha256()
    for col in ("page_id", "label", "text"):
        h.update(table.get_column(col).cast(pl.String).str.join("\x1e").item().encode())
    return h.hexdigest()


def features_for(table: pl.DataFrame) -> pl.DataFrame:
    return compute_features(table)


def retrain(table: pl.DataFrame, *, target_precision: float = 0.95, force: bool = False,
            registry: Path = REGISTRY_DIR, kinds: tuple[str, ...] = ("logistic", "lightgbm"),
            progress: Any = None) -> RetrainResult:
    """Compare candidates on grouped folds, fit the best on all rows, register, maybe promote."""
    def step(msg: str) -> None:
        if progress:
            progress(msg)

    step(f"computing features for {table.height} labelled pages")
    feats = features_for(table)
    X = feats.to_numpy().astype(np.float64)
    y = table["label"].to_numpy().astype(int)
    groups = table["group"].to_numpy()
    defects = table["defects"].fill_null("").to_list()
    folds = grouped_folds(y, groups)

    with threadpool_limits(1):
        results = {}
        for kind in kinds:
            step(f"cross-validating {kind} on {len(folds)} folds grouped by source")
            oof = out_of_fold(kind, DEFAULT_PARAMS[kind], X, y, folds, FEATURE_NAMES)
            th = choose_thresholds(oof.proba, y, target_precision)
            results[kind] = (oof, th, evaluate(oof, y, defects, th))
        best = max(results, key=lambda k: results[k][2][PRIMARY_METRIC])
        oof, thresholds, metrics = results[best]

        champion, champion_metric = _champion_on_same_folds(registry, X, y, folds, results)
        step(f"fitting {best} on all {len(y)} pages")
        base = make_estimator(best, DEFAULT_PARAMS[best], FEATURE_NAMES).fit(X, y)

    model = PagescoreModel(best, DEFAULT_PARAMS[best], base, oof.calib_a, oof.calib_b,
                           thresholds, FEATURE_NAMES)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    card = {
        "created": now.isoformat(),
        "estimator": {"kind": best, "params": DEFAULT_PARAMS[best]},
        "candidates": {k: {m: v for m, v in r[2].items() if m != "defect_recall"}
                       for k, r in results.items()},
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
        "features": list(FEATURE_NAMES),
        "phrase_lists_digest": phrase_lists_digest(),
        "training_data": {
            "rows": int(len(y)), "positives": int(y.sum()), "sha256": table_digest(table),
            "groups": int(len(np.unique(groups))),
        },
        "evaluation": f"{len(folds)}-fold StratifiedGroupKFold grouped by source "
                      f"(no source on both sides); out-of-fold Platt calibration",
        "thresholds": {"publish": thresholds.publish, "reject": thresholds.reject,
                       "target_precision": target_precision},
        "metrics": {"model": metrics, "rules_baseline": evaluate_rules(feats, y, defects)},
        "libraries": {p: pkg_version(p) for p in ("scikit-learn", "lightgbm", "polars", "numpy")}
        | {"python": platform.python_version()},
    }
    new_metric = metrics[PRIMARY_METRIC]
    promote = force or champion_metric is None or new_metric >= champion_metric
    card["promotion"] = {
        "metric": PRIMARY_METRIC, "new": new_metric, "champion": champion,
        "champion_metric_same_folds": champion_metric, "forced": force, "promoted": promote,
    }
    version = register(model, card, promote=promote, registry=registry)
    if promote:
        msg = f"promoted {version} ({PRIMARY_METRIC} {new_metric:.4f}"
        msg += f" vs champion {champion} {champion_metric:.4f})" if champion_metric else ")"
    else:
        msg = (f"registered {version} but kept champion {champion}: {PRIMARY_METRIC} "
               f"{new_metric:.4f} < {champion_metric:.4f} on the same folds (use --force)")
    return RetrainResult(version, promote, card, champion, champion_metric, msg)


def _champion_on_same_folds(registry: Path, X: np.ndarray, y: np.ndarray,
                            folds: list, results: dict) -> tuple[str | None, float | None]:
    """Cross-validate the champion's recipe on today's data and folds (a fair comparison:
    scoring the champion on pages it was trained on would flatter it)."""
    try:
        index = read_index(registry)
    except ModelError:
        return None, None
    champion = index.get("champion")
    if not champion:
        return None, None
    import json

    card_path = registry / champion / "card.json"
    if not card_path.exists():
        return champion, None
    card = json.loads(card_path.read_text())
    if card.get("feature_schema_version") != FEATURE_SCHEMA_VERSION:
        return champion, None  # not comparable: another feature schema
    kind, params = card["estimator"]["kind"], card["estimator"]["params"]
    if kind in results and results[kind][0].params == params:
        return champion, results[kind][2][PRIMARY_METRIC]
    oof = out_of_fold(kind, params, X, y, folds, FEATURE_NAMES)
    th = choose_thresholds(oof.proba, y, float(card["thresholds"]["target_precision"]))
    return champion, evaluate(oof, y, [""] * len(y), th)[PRIMARY_METRIC]


def load_training_table(path: Path = TRAINING_TABLE, extra: list[pl.DataFrame] | None = None
                        ) -> pl.DataFrame:
    table = pl.read_parquet(path)
    for more in extra or []:
        table = pl.concat([table, more.select(table.columns)], how="vertical_relaxed")
    return table

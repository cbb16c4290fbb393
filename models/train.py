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
from models.augment import augment
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
            augment_defects: bool = True, progress: Any = None) -> RetrainResult:
    """Compare candidates on grouped folds, fit the best on all rows, register, maybe promote."""
    def step(msg: str) -> None:
        if progress:
            progress(msg)

    real = table.with_columns(pl.lit(False).alias("is_synthetic"))
    synthetic = augment(real) if augment_defects else real.clear()
    full = pl.concat([real, synthetic])
    step(f"computing features for {real.height} labelled pages + {synthetic.height} with "
         f"injected defects")
    feats_all = features_for(full)
    X_all = feats_all.to_numpy().astype(np.float64)
    y_all = full["label"].to_numpy().astype(int)
    is_real = ~full["is_synthetic"].to_numpy()
    groups = full["group"].to_numpy()
    y = y_all[is_real]
    feats = feats_all.filter(pl.Series(is_real))
    defects = real["defects"].fill_null("").to_list()
    folds_all = grouped_folds(y_all, groups)

    with threadpool_limits(1):
        results = {}
        for kind in kinds:
            step(f"cross-validating {kind} on {len(folds_all)} folds grouped by source")
            oof = out_of_fold(kind, DEFAULT_PARAMS[kind], X_all, y_all, folds_all,
                              FEATURE_NAMES, evaluate_mask=is_real)
            th = choose_thresholds(oof.proba, y, target_precision)
            results[kind] = (oof, th, evaluate(oof, y, defects, th))
        best = max(results, key=lambda k: results[k][2][PRIMARY_METRIC])
        oof, thresholds, metrics = results[best]

        champion, champion_metric = _champion_on_same_folds(
            registry, X_all, y_all, folds_all, results, is_real)
        step(f"fitting {best} on all {len(y_all)} rows")
        base = make_estimator(best, DEFAULT_PARAMS[best], FEATURE_NAMES).fit(X_all, y_all)

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
            "synthetic_rows_for_training_only": int(synthetic.height),
        },
        "evaluation": f"{len(folds_all)}-fold StratifiedGroupKFold grouped by source (no "
                      f"source on both sides); metrics, thresholds and Platt calibration on the "
                      f"out-of-fold scores of the {len(y)} real pages only",
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


def _champion_on_same_folds(registry: Path, X: np.ndarray, y: np.ndarray, folds: list,
                            results: dict, is_real: np.ndarray
                            ) -> tuple[str | None, float | None]:
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
    oof = out_of_fold(kind, params, X, y, folds, FEATURE_NAMES, evaluate_mask=is_real)
    y_real = y[is_real]
    th = choose_thresholds(oof.proba, y_real, float(card["thresholds"]["target_precision"]))
    return champion, evaluate(oof, y_real, [""] * len(y_real), th)[PRIMARY_METRIC]


def load_training_table(path: Path = TRAINING_TABLE, extra: list[pl.DataFrame] | None = None
                        ) -> pl.DataFrame:
    table = pl.read_parquet(path)
    for more in extra or []:
        table = pl.concat([table, more.select(table.columns)], how="vertical_relaxed")
    return table

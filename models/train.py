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

from features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from features.parallel import compute_features_parallel
from features.phrases import phrase_lists_digest
from models.augment import augment
from models.candidates import DEFAULT_PARAMS, make_estimator
from models.estimator import PagescoreModel
from models.evaluate import (
    N_REPEATS,
    choose_thresholds,
    evaluate,
    evaluate_rules,
    grouped_folds,
    merge_groups_sharing_text,
    min_pages,
    out_of_fold,
    repeated_out_of_fold,
)
from models.registry import ModelError, read_index, register, registry_dir

TRAINING_TABLE = Path(__file__).resolve().parent.parent / "data" / "training" / "labelled_pages.parquet"
PRIMARY_METRIC = "pr_auc"
# How far a retrain may fall below the out-of-fold metric the champion was promoted with. The
# same-folds comparison alone cannot catch bad data: when the recipe is unchanged it compares
# the new model with itself, so a retrain on corrupted labels would always pass. Measured
# 2026-11-23: dropping 60 random pages of the shipped 2466 moved out-of-fold PR AUC from 0.882 to
# 0.868-0.874 (new folds); shuffling the labels of a 600-page sample dropped it from 0.87 to 0.47.
RECORDED_METRIC_TOLERANCE = 0.03


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
    """The nightly feature code, on all cores for large tables (same rows, same order)."""
    return compute_features_parallel(table)


def retrain(table: pl.DataFrame, *, target_precision: float = 0.95, force: bool = False,
            registry: Path | None = None, kinds: tuple[str, ...] = ("logistic", "lightgbm"),
            augment_defects: bool = True, progress: Any = None) -> RetrainResult:
    """Compare candidates on grouped folds, fit the best on all rows, register, maybe promote.

    ``registry`` defaults to ``models.registry.registry_dir()`` ($PAGESCORE_REGISTRY or the
    shipped registry). The new version is promoted when ``force`` is set, when there is no
    comparable champion, or when its primary metric is at least the champion recipe's on
    today's folds and no more than ``RECORDED_METRIC_TOLERANCE`` below the champion's own
    recorded out-of-fold metric."""
    registry = registry or registry_dir()

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
    groups = merge_groups_sharing_text(full["group"].to_numpy(),
                                       full["text"].to_list())
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
            # Candidates are compared on the seed-0 folds (PR AUC needs no threshold).
            th = choose_thresholds(oof.proba, y, target_precision)
            results[kind] = (oof, th, evaluate(oof, y, defects, th))
        best = max(results, key=lambda k: results[k][2][PRIMARY_METRIC])
        oof = results[best][0]
        # The winner's thresholds from scores averaged over N_REPEATS different fold
        # assignments (one split's few top pages must not decide them); metrics and
        # calibration stay those of the seed-0 folds.
        step(f"thresholds of {best} over {N_REPEATS} fold assignments")
        thresholds = choose_thresholds(
            repeated_out_of_fold(best, DEFAULT_PARAMS[best], X_all, y_all, groups,
                                 FEATURE_NAMES, evaluate_mask=is_real, first=oof),
            y, target_precision)
        metrics = evaluate(oof, y, defects, thresholds)
        results[best] = (oof, thresholds, metrics)

        champion, champion_metric, champion_recorded = _champion_on_same_folds(
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
            "sources": int(real["group"].n_unique()),
            "groups": int(len(np.unique(groups))),  # sources sharing a page merged
            "synthetic_rows_for_training_only": int(synthetic.height),
        },
        "evaluation": f"{len(folds_all)}-fold StratifiedGroupKFold grouped by source (no "
                      f"source on both sides); metrics, thresholds and Platt calibration on the "
                      f"out-of-fold scores of the {len(y)} real pages only; thresholds on "
                      f"out-of-fold scores averaged over {N_REPEATS} fold assignments, each "
                      f"precision judged on at least {min_pages(target_precision)} pages",
        "calibration": _calibration_report(oof.proba, y, oof.calib_a, oof.calib_b),
        "thresholds": {"publish": thresholds.publish, "reject": thresholds.reject,
                       "target_precision": target_precision},
        "metrics": {"model": metrics, "rules_baseline": evaluate_rules(feats, y, defects)},
        "libraries": {p: pkg_version(p) for p in ("scikit-learn", "lightgbm", "polars", "numpy")}
        | {"python": platform.python_version()},
    }
    new_metric = metrics[PRIMARY_METRIC]
    worse_same_folds = champion_metric is not None and new_metric < champion_metric
    floor = (champion_recorded - RECORDED_METRIC_TOLERANCE
             if champion_recorded is not None else None)
    below_recorded = floor is not None and new_metric < floor
    promote = force or not (worse_same_folds or below_recorded)
    card["promotion"] = {
        "metric": PRIMARY_METRIC, "new": new_metric, "champion": champion,
        "champion_metric_same_folds": champion_metric,
        "champion_metric_recorded": champion_recorded,
        "recorded_tolerance": RECORDED_METRIC_TOLERANCE, "forced": force, "promoted": promote,
    }
    version = register(model, card, promote=promote, registry=registry)
    if promote:
        msg = f"promoted {version} ({PRIMARY_METRIC} {new_metric:.4f}"
        msg += (f" vs champion {champion} {champion_metric:.4f})"
                if champion_metric is not None else ")")
        if force and (worse_same_folds or below_recorded):
            msg += " by --force"
    elif worse_same_folds:
        msg = (f"registered {version} but kept champion {champion}: {PRIMARY_METRIC} "
               f"{new_metric:.4f} < {champion_metric:.4f} on the same folds (use --force)")
    else:
        msg = (f"registered {version} but kept champion {champion}: {PRIMARY_METRIC} "
               f"{new_metric:.4f} is more than {RECORDED_METRIC_TOLERANCE} below the "
               f"{champion_recorded:.4f} the champion was promoted with; check the new labels "
               f"(use --force to promote anyway)")
    return RetrainResult(version, promote, card, champion, champion_metric, msg)


def _calibration_report(proba: np.ndarray, y: np.ndarray, a: float, b: float,
                        bins: int = 10) -> dict[str, Any]:
    """How well the Platt-calibrated out-of-fold probabilities match observed rates."""
    edges = np.quantile(proba, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, proba, side="right") - 1, 0, bins - 1)
    # Expected calibration error over equal-count bins: equal-width bins would leave the
    # middle bins nearly empty for a confident model.
    ece = sum(abs(proba[which == i].mean() - y[which == i].mean()) * (which == i).mean()
              for i in range(bins) if (which == i).any())
    return {
        "method": "Platt scaling of out-of-fold margins (real pages only)",
        "a": a, "b": b,
        "mean_probability": float(proba.mean()), "positive_rate": float(y.mean()),
        "brier": float(np.mean((proba - y) ** 2)), "ece": float(ece),
    }


def _champion_on_same_folds(registry: Path, X: np.ndarray, y: np.ndarray, folds: list,
                            results: dict, is_real: np.ndarray
                            ) -> tuple[str | None, float | None, float | None]:
    """The champion's name, its recipe cross-validated on today's data and folds, and the
    out-of-fold metric recorded in its card.

    The same-folds figure is the fair comparison of recipes (scoring the champion on pages it
    was trained on would flatter it); the recorded one is what the champion demonstrated on its
    own labels, the only reference left when today's labels are themselves bad. Both are None
    when the champion is not comparable (no card, another feature schema: such a champion
    cannot even be loaded by this code, so it must not block its replacement)."""
    try:
        index = read_index(registry)
    except ModelError:
        return None, None, None
    champion = index.get("champion")
    if not champion:
        return None, None, None
    import json

    card_path = registry / champion / "card.json"
    if not card_path.exists():
        return champion, None, None
    card = json.loads(card_path.read_text())
    if card.get("feature_schema_version") != FEATURE_SCHEMA_VERSION:
        return champion, None, None  # not comparable: another feature schema
    recorded = card.get("metrics", {}).get("model", {}).get(PRIMARY_METRIC)
    recorded = float(recorded) if recorded is not None else None
    kind, params = card["estimator"]["kind"], card["estimator"]["params"]
    if kind in results and results[kind][0].params == params:
        return champion, results[kind][2][PRIMARY_METRIC], recorded
    oof = out_of_fold(kind, params, X, y, folds, FEATURE_NAMES, evaluate_mask=is_real)
    y_real = y[is_real]
    th = choose_thresholds(oof.proba, y_real, float(card["thresholds"]["target_precision"]))
    return champion, evaluate(oof, y_real, [""] * len(y_real), th)[PRIMARY_METRIC], recorded


def load_training_table(path: Path = TRAINING_TABLE, extra: list[pl.DataFrame] | None = None
                        ) -> pl.DataFrame:
    table = pl.read_parquet(path)
    for more in extra or []:
        table = pl.concat([table, more.select(table.columns)], how="vertical_relaxed")
    return table

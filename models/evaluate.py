"""Grouped cross-validation, metrics, threshold choice and the rules baseline on the same folds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from models.candidates import make_estimator, margin
from models.estimator import Thresholds
from models.rules import rules_pass

N_SPLITS = 5
# Thresholds are chosen on out-of-fold scores averaged over this many source-grouped fold
# assignments (seeds 0..N_REPEATS-1, see grouped_folds). One assignment is an arbitrary draw:
# the few top-scoring pages of one split decide where precision first reaches 0.95.
N_REPEATS = 5
# One-sided 95% normal quantile, for the minimum number of pages a precision is judged on.
Z_ONE_SIDED_95 = 1.645


def merge_groups_sharing_text(groups: np.ndarray, texts: list[str | None]) -> np.ndarray:
    """Groups joined (union-find) wherever one text occurs in two of them, so that a page
    copied into two sources (a fixture and the crawl it came from) never sits on both sides
    of a fold. Returns, per row, the name of the smallest group of its merged component."""
    parent: dict[str, str] = {g: g for g in map(str, groups)}

    def root(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    first_group: dict[str, str] = {}
    for g, text in zip(map(str, groups), texts, strict=True):
        if not text:
            continue
        other = first_group.setdefault(text, g)
        a, b = root(g), root(other)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.array([root(g) for g in map(str, groups)], dtype=object)


def grouped_folds(y: np.ndarray, groups: np.ndarray, n_splits: int = N_SPLITS,
                  seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Folds in which no group (site/source) sits on both sides.

    Seed 0 is StratifiedGroupKFold (label shares balanced across folds). Its ``random_state``
    only breaks ties between groups of equal label spread, so other seeds gave the same folds
    on the shipped table; seeds >= 1 therefore draw a shuffled GroupKFold assignment."""
    n_groups = len(np.unique(groups))
    k = min(n_splits, n_groups)
    if seed == 0:
        cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=0)
    else:
        cv = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(y)), y, groups))


@dataclass
class OutOfFold:
    kind: str
    params: dict[str, Any]
    margin: np.ndarray  # out-of-fold raw log-odds
    proba: np.ndarray  # out-of-fold calibrated probability
    calib_a: float
    calib_b: float


def fit_platt(m: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(m.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def out_of_fold(kind: str, params: dict[str, Any], X: np.ndarray, y: np.ndarray,
                folds: list[tuple[np.ndarray, np.ndarray]], feature_names: tuple[str, ...],
                evaluate_mask: np.ndarray | None = None) -> OutOfFold:
    """Out-of-fold margins and calibrated probabilities for the rows in ``evaluate_mask``
    (default all): training folds may hold synthetic rows, reported rows are real only."""
    m = np.zeros(len(y))
    for train, test in folds:
        est = make_estimator(kind, params, feature_names).fit(X[train], y[train])
        m[test] = margin(est, kind, X[test])
    if evaluate_mask is not None:
        m, y = m[evaluate_mask], y[evaluate_mask]
    # Calibrate on held-out margins only: each page's margin came from a model that never saw it.
    a, b = fit_platt(m, y)
    proba = 1.0 / (1.0 + np.exp(-(a * m + b)))
    return OutOfFold(kind, params, m, proba, a, b)


def repeated_out_of_fold(kind: str, params: dict[str, Any], X: np.ndarray, y: np.ndarray,
                         groups: np.ndarray, feature_names: tuple[str, ...],
                         evaluate_mask: np.ndarray | None = None, repeats: int = N_REPEATS,
                         first: OutOfFold | None = None) -> np.ndarray:
    """Calibrated out-of-fold probabilities averaged over ``repeats`` grouped fold assignments
    (seeds 0..repeats-1; ``first`` may pass the seed-0 result already computed). Every average
    is still out of fold: each term comes from a model that never saw the page's source."""
    total = np.zeros(int(evaluate_mask.sum()) if evaluate_mask is not None else len(y))
    for seed in range(repeats):
        oof = first if seed == 0 and first is not None else out_of_fold(
            kind, params, X, y, grouped_folds(y, groups, seed=seed), feature_names,
            evaluate_mask=evaluate_mask)
        total += oof.proba
    return total / repeats


def min_pages(target_precision: float, z: float = Z_ONE_SIDED_95) -> int:
    """Fewest pages a precision may be judged on: enough that the one-sided 95% sampling
    margin of a precision at the target equals the target's own error budget (1 - target),
    i.e. n >= z^2 p (1-p) / (1-p)^2. For 0.95: 52 pages (a target of 0.95 is then told apart
    from twice its error rate); never fewer than 10. Depends on the target only."""
    p = min(max(target_precision, 0.0), 0.999)
    return max(10, int(np.ceil(z * z * p / (1.0 - p))))


def choose_thresholds(proba: np.ndarray, y: np.ndarray, target_precision: float,
                      min_support: int | None = None) -> Thresholds:
    """Lowest publish threshold whose precision reaches the target over at least
    ``min_support`` published pages (default ``min_pages(target)``), and the highest reject
    threshold whose 'not publishable' precision reaches it over as many rejected pages
    (review in between). Pass scores averaged over fold assignments
    (``repeated_out_of_fold``) so that no single arbitrary split decides the threshold."""
    n_min = min_pages(target_precision) if min_support is None else min_support
    order = np.sort(np.unique(proba))
    publish = 1.0
    for t in order:  # ascending: the first t meeting the target keeps the most recall
        sel = proba >= t
        if sel.sum() >= n_min and y[sel].mean() >= target_precision:
            publish = float(t)
            break
    reject = 0.0
    for t in order[::-1]:
        sel = proba < t
        if sel.sum() >= n_min and (1 - y[sel]).mean() >= target_precision:
            reject = float(t)
            break
    return Thresholds(publish=publish, reject=min(reject, publish))


def binary_metrics(y: np.ndarray, publish: np.ndarray) -> dict[str, float]:
    tp = float(np.sum(publish & (y == 1)))
    return {
        "precision_publish": tp / max(1.0, float(publish.sum())),
        "recall_publish": tp / max(1.0, float((y == 1).sum())),
        "publish_share": float(publish.mean()),
    }


def defect_recall(y: np.ndarray, defects: list[str], not_published: np.ndarray) -> dict[str, Any]:
    """For each defect tag: share of not-publishable pages with that tag kept out of 'publish'."""
    out: dict[str, Any] = {}
    tags = sorted({t for d in defects for t in (d or "").split("|") if t})
    for tag in tags:
        idx = np.array([(tag in (d or "").split("|")) and yy == 0
                        for d, yy in zip(defects, y, strict=True)])
        if idx.sum():
            out[tag] = {"n": int(idx.sum()), "recall": float(not_published[idx].mean())}
    return out


def evaluate(oof: OutOfFold, y: np.ndarray, defects: list[str],
             thresholds: Thresholds) -> dict[str, Any]:
    decisions = thresholds.decide(oof.proba)
    publish = decisions == "publish"
    return {
        "roc_auc": float(roc_auc_score(y, oof.proba)),
        "pr_auc": float(average_precision_score(y, oof.proba)),
        **binary_metrics(y, publish),
        "review_share": float((decisions == "review").mean()),
        "reject_share": float((decisions == "reject").mean()),
        "defect_recall": defect_recall(y, defects, ~publish),
        "recall_at_precision": recall_at_precision(oof.proba, y),
    }


def recall_at_precision(proba: np.ndarray, y: np.ndarray,
                        targets: tuple[float, ...] = (0.80, 0.85, 0.90, 0.95)) -> dict[str, float]:
    """Best publish recall whose precision reaches each target: the trade-off a user picks
    from with `retrain --target-precision`."""
    order = np.argsort(-proba)
    tp = np.cumsum(y[order])
    precision = tp / np.arange(1, len(y) + 1)
    recall = tp / max(1, int(y.sum()))
    return {f"{t:.2f}": float(recall[precision >= t].max()) if (precision >= t).any() else 0.0
            for t in targets}


def evaluate_rules(feats: pl.DataFrame, y: np.ndarray, defects: list[str]) -> dict[str, Any]:
    passed = rules_pass(feats).to_numpy()
    return {
        "roc_auc": float(roc_auc_score(y, passed.astype(float))),
        "pr_auc": float(average_precision_score(y, passed.astype(float))),
        **binary_metrics(y, passed),
        "defect_recall": defect_recall(y, defects, ~passed),
    }

"""The contribution tables give LightGBM's pred_contrib (to 1e-9) on real pages and at every
split threshold, take LightGBM's decisions (compared leaf by leaf with pred_leaf), fall back to
pred_contrib for trees too big for them, and stay out of the pickled model."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from lightgbm import LGBMClassifier

from features.compute import compute_features
from features.schema import FEATURE_NAMES
from models import tree_contributions as tc
from models.candidates import DEFAULT_PARAMS, make_estimator
from models.estimator import PagescoreModel, Thresholds
from models.registry import load_model

TRAINING_TABLE = Path(__file__).resolve().parent.parent / "data" / "training" / "labelled_pages.parquet"
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def pages() -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of the shipped labelled pages."""
    table = pl.read_parquet(TRAINING_TABLE)
    X = compute_features(table).select(FEATURE_NAMES).to_numpy().astype(np.float64)
    return X, table["label"].to_numpy().astype(int)


def _wrap(est: Any) -> PagescoreModel:
    return PagescoreModel("lightgbm", {}, est, 1.0, 0.0, Thresholds(0.5, 0.5), FEATURE_NAMES)


def _fit(X: np.ndarray, y: np.ndarray, **params: Any) -> LGBMClassifier:
    params = {"n_estimators": 40, "random_state": 0, "n_jobs": 1, "verbose": -1} | params
    return LGBMClassifier(**params).fit(X, y)


def _nodes(booster: Any) -> list[dict[str, Any]]:
    out = []

    def walk(n: dict[str, Any]) -> None:
        if "split_index" in n:
            out.append(n)
            walk(n["left_child"])
            walk(n["right_child"])

    for info in booster.dump_model()["tree_info"]:
        walk(info["tree_structure"])
    return out


def _probe_rows(booster: Any, X: np.ndarray, seed: int = 1) -> np.ndarray:
    """Real rows with one feature set exactly at, just below and just above each split
    threshold, rows with every split feature at such values at once, and the values LightGBM
    reads specially (0, +-kZeroThreshold, tiny non-zeros it drops, NaN, inf)."""
    rng = np.random.default_rng(seed)
    rows, per_feature = [], {}
    for i, n in enumerate(_nodes(booster)):
        f, t = n["split_feature"], float(n["threshold"])
        values = [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)]
        per_feature.setdefault(f, []).extend(values)
        for v in values:
            row = X[(7 * i) % len(X)].copy()
            row[f] = v
            rows.append(row)
    special = [0.0, -0.0, tc.K_ZERO, -tc.K_ZERO, 1e-300, -1e-300, np.nan, np.inf, -np.inf]
    mixed = X[rng.integers(0, len(X), 400)].copy()
    for f, values in per_feature.items():
        mixed[:, f] = rng.choice(np.array(values + special), size=len(mixed))
    return np.vstack([np.array(rows), mixed])


def _leaves_from_patterns(booster: Any, patterns: np.ndarray) -> np.ndarray:
    """LightGBM leaf index of each (row, tree) from the tables' decision patterns."""
    out = np.zeros_like(patterns)
    for t, info in enumerate(booster.dump_model()["tree_info"]):
        # Preorder numbering of splits, as in tree_contributions._flatten.
        order: dict[int, int] = {}

        def number(n: dict[str, Any], order: dict[int, int] = order) -> None:
            if "split_index" in n:
                order[id(n)] = len(order)
                number(n["left_child"])
                number(n["right_child"])

        number(info["tree_structure"])
        for r, p in enumerate(patterns[:, t].tolist()):
            n = info["tree_structure"]
            while "split_index" in n:
                n = n["right_child"] if (p >> order[id(n)]) & 1 else n["left_child"]
            out[r, t] = n.get("leaf_index", 0)
    return out


def _check(est: Any, X: np.ndarray) -> float:
    """Asserts the tables are used and agree with pred_contrib and pred_leaf; max abs diff."""
    booster = est.booster_
    tables = tc.contribution_tables(booster)
    assert tables is not None, "the model should be covered by the tables"
    ours = _wrap(est).contributions(X)
    theirs = est.predict(X, pred_contrib=True)
    assert ours.shape == (X.shape[0], X.shape[1])
    diff = float(np.max(np.abs(ours - theirs[:, : X.shape[1]])))
    assert diff <= TOLERANCE
    leaves = _leaves_from_patterns(booster, tables.patterns(X))
    np.testing.assert_array_equal(leaves, est.predict(X, pred_leaf=True).reshape(leaves.shape))
    return diff


def test_shipped_champion_on_training_pages_and_thresholds(pages) -> None:
    X, _ = pages
    est = load_model(None).model.base
    assert tc.contribution_tables(est.booster_) is not None
    _check(est, X)
    _check(est, _probe_rows(est.booster_, X))


SHAPES = {
    "4 leaves (production recipe)": {},
    "7 leaves": {"num_leaves": 7, "min_child_samples": 15},
    "depth 2": {"num_leaves": 4, "max_depth": 2},
    "8 leaves, 3 features (splits repeated on a path)": {"num_leaves": 8, "min_child_samples": 5},
    "zero as missing": {"num_leaves": 4, "zero_as_missing": True},
}


@pytest.mark.parametrize("shape", SHAPES)
def test_trained_shapes_match_pred_contrib(pages, shape: str) -> None:
    X, y = pages
    params = SHAPES[shape]
    if "3 features" in shape:
        Xs = np.zeros_like(X)
        Xs[:, [0, 13, 33]] = X[:, [0, 13, 33]]
        est = _fit(Xs, y, **params)
        # The point of this model: some path splits twice on one feature.
        assert any(_has_repeat(info["tree_structure"], ())
                   for info in est.booster_.dump_model()["tree_info"])
    elif shape.startswith("4 leaves"):
        est = make_estimator("lightgbm", DEFAULT_PARAMS["lightgbm"] | {"n_estimators": 60},
                             FEATURE_NAMES).fit(X, y)
    else:
        est = _fit(X, y, **params)
    if "zero" in shape:
        assert any(n["missing_type"] == "Zero" for n in _nodes(est.booster_))
    _check(est, X)
    _check(est, _probe_rows(est.booster_, X))


def _has_repeat(n: dict[str, Any], seen: tuple[int, ...]) -> bool:
    if "split_index" not in n:
        return False
    if n["split_feature"] in seen:
        return True
    seen = (*seen, n["split_feature"])
    return _has_repeat(n["left_child"], seen) or _has_repeat(n["right_child"], seen)


def test_negative_values_nan_missing_and_kzero_thresholds(pages) -> None:
    """Thresholds at -kZeroThreshold (LightGBM reads -kZeroThreshold as 0.0, right of them)
    and NaN as a missing value with its own default direction."""
    X, y = pages
    Xn = X.copy()
    Xn[:, ::2] *= -1
    Xn[np.random.default_rng(0).random(Xn.shape) < 0.05] = np.nan
    est = _fit(Xn, y, num_leaves=6, min_child_samples=10)
    nodes = _nodes(est.booster_)
    assert any(n["missing_type"] == "NaN" for n in nodes)
    assert any(float(n["threshold"]) == -tc.K_ZERO for n in nodes)
    _check(est, Xn)
    _check(est, _probe_rows(est.booster_, np.nan_to_num(Xn)))


def test_single_leaf_trees(pages) -> None:
    X, y = pages
    est = _fit(X, y, n_estimators=3, min_child_samples=len(X))  # no split is allowed
    assert all(info["num_leaves"] == 1 for info in est.booster_.dump_model()["tree_info"])
    _check(est, X[:50])
    assert not _wrap(est).contributions(X[:50]).any()


def test_probe_rows_tell_lte_from_lt(pages) -> None:
    """The threshold rows catch a rule that is off by one ulp (so _check can fail)."""
    X, _ = pages
    est = load_model(None).model.base
    tables = tc.contribution_tables(est.booster_)
    probe = _probe_rows(est.booster_, X)
    shifted = dataclasses.replace(
        tables, node_threshold=np.nextafter(tables.node_threshold, -np.inf))
    leaves = est.predict(probe, pred_leaf=True)
    assert (_leaves_from_patterns(est.booster_, shifted.patterns(probe)) != leaves).any()
    assert np.abs(shifted.contributions(probe) - tables.contributions(probe)).max() > 1e-3


def test_big_trees_fall_back_to_pred_contrib(pages) -> None:
    X, y = pages
    est = _fit(X, y, n_estimators=10, num_leaves=31, min_child_samples=5)
    assert max(info["num_leaves"] for info in est.booster_.dump_model()["tree_info"]) > 9
    assert tc.contribution_tables(est.booster_) is None
    np.testing.assert_array_equal(_wrap(est).contributions(X),
                                  est.predict(X, pred_contrib=True)[:, : X.shape[1]])


def test_failed_self_check_falls_back(pages, monkeypatch) -> None:
    X, y = pages
    est = _fit(X, y, n_estimators=5, num_leaves=4)
    real = tc._shapley_table
    monkeypatch.setattr(tc, "_shapley_table", lambda *a: real(*a) * 1.001)
    with pytest.warns(RuntimeWarning, match="differ from LightGBM"):
        assert tc.contribution_tables(est.booster_) is None
    np.testing.assert_array_equal(_wrap(est).contributions(X),
                                  est.predict(X, pred_contrib=True)[:, : X.shape[1]])


def test_tables_stay_out_of_the_pickle(pages) -> None:
    X, _ = pages
    model = load_model(None).model
    before = pickle.dumps(model)
    model.contributions(X[:10])
    assert tc.contribution_tables(model.base.booster_) is not None
    assert pickle.dumps(model) == before
    # A fresh unpickled copy has its own booster and builds its own tables.
    copy = pickle.loads(before)
    np.testing.assert_array_equal(copy.contributions(X[:10]), model.contributions(X[:10]))


_WORKER: dict[str, Any] = {}


def _init_worker() -> None:
    _WORKER["model"] = load_model(None).model


def _worker_batch(X: np.ndarray) -> tuple[int, np.ndarray]:
    return tc.builds, _WORKER["model"].contributions(X)


def test_each_worker_process_builds_once(pages) -> None:
    X, _ = pages
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker) as pool:
        results = list(pool.map(_worker_batch, [X[:100], X[100:200], X[200:300]]))
    expected = load_model(None).model.contributions(X[:300])
    # The first batch builds, the later batches of the same worker reuse.
    assert [r[0] for r in results] == [0, 1, 1]
    np.testing.assert_array_equal(np.vstack([r[1] for r in results]), expected)

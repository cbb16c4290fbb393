"""LightGBM's per-feature contributions (``pred_contrib``) from per-tree lookup tables.

What is computed: for every page x and feature i, the sum over the model's trees of the
path-dependent TreeSHAP value of i, i.e. the Shapley value of i in the game

    f_x(S) = sum over leaves l of value(l) * prod over the internal nodes n on the path to l of
             [x's decision at n leads towards l]           if feature(n) is in S,
             count(child of n towards l) / count(n)        otherwise,

with the training-data counts of the nodes (``internal_count`` / ``leaf_count``). This is the
quantity LightGBM's ``Tree::TreeSHAP`` computes (its recursion is an O(depth^2) evaluation of
the same Shapley sum, including for a feature split on twice along a path), minus the
expected-value column, which callers drop.

Why a table is exact: x enters f_x only through its decisions (left/right) at the tree's k
internal nodes, so a tree's contribution vector is a function of the k-bit decision pattern.
For the shipped model's trees (4 leaves, k = 3) there are at most 8 patterns, so at build
time each tree gets, per pattern, the Shapley values over its d <= k distinct split features,
computed straight from the definition above (all 2^d coalitions; features a tree does not split
on are null players with value 0). Scoring then only evaluates the node conditions of each
row with LightGBM's decision rule and adds the selected table row: a few additions per tree
instead of the TreeSHAP recursion. The results agree with LightGBM to rounding (sums taken in
another order), far inside the 1e-9 the callers require.

Models the tables do not cover (categorical or linear trees, more than ``MAX_SPLITS`` splits
in a tree, several trees per iteration, averaged output) get ``None`` from
``contribution_tables`` and the caller keeps using LightGBM's ``pred_contrib``. As a guard
against a LightGBM whose decision rule or TreeSHAP differs from the one modelled here, each
new table set is checked against ``pred_contrib`` on rows placed at and next to every split
threshold before it is used; a mismatch also means ``None``.

Tables are cached per Booster object in this process (weakly, so they go with the model) and
are never part of the pickled model: a model file's bytes, and so its registry sha256, do not
change, and each worker process builds its own tables once, on its first batch.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from dataclasses import dataclass, fields
from math import factorial
from typing import Any

import numpy as np
from numba import njit

# 8 splits -> 256 decision patterns x 256 coalitions per tree at build time: a few ms per tree.
# Beyond that the tables (2^k rows) and their build grow too fast to beat the recursion.
MAX_SPLITS = 8
# LightGBM's kZeroThreshold is the float literal 1e-35f widened to double.
K_ZERO = float(np.float32(1e-35))
# Agreement with pred_contrib required of the self-check before tables are used.
CHECK_TOLERANCE = 1e-9
_MISSING_TYPES = {"None": 0, "Zero": 1, "NaN": 2}
_LINEAR_LEAF_KEYS = ("leaf_coeff", "leaf_const", "leaf_features")


class UnsupportedModel(ValueError):
    """A model whose trees the tables cannot represent (callers fall back to LightGBM)."""


@dataclass(frozen=True)
class ContributionTables:
    """Flattened per-tree node conditions and pattern -> contribution tables of one model."""

    n_features: int
    node_start: np.ndarray  # (n_trees + 1,) int64: tree t's nodes are node_start[t]:node_start[t+1]
    node_feature: np.ndarray  # int64 feature column of each node
    node_threshold: np.ndarray  # float64, as dumped (17 significant digits: round-trips)
    node_default_right: np.ndarray  # int64: 1 when missing values go right
    node_missing: np.ndarray  # int8: 0 None, 1 Zero, 2 NaN
    feat_start: np.ndarray  # (n_trees + 1,) int64: tree t's distinct features
    feat_index: np.ndarray  # int64 feature columns
    table_start: np.ndarray  # (n_trees,) int64 offset of tree t's table in ``values``
    values: np.ndarray  # float64: tree t, pattern p, feature u at table_start[t] + p * d_t + u
    # float64: the value of the leaf pattern p reaches in tree t, at (sum over the trees before
    # t of 2^splits) + p
    leaf_values: np.ndarray

    def accepts(self, X: np.ndarray) -> bool:
        return X.ndim == 2 and X.shape[1] == self.n_features

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every field as a plain array (``np.savez`` without pickles); ``from_arrays`` inverts."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: Any) -> ContributionTables:
        return cls(**{f.name: (int(arrays[f.name]) if f.name == "n_features"
                               else np.asarray(arrays[f.name])) for f in fields(cls)})

    def raw_margin(self, X: np.ndarray) -> np.ndarray:
        """LightGBM's ``predict(raw_score=True)``: the leaf values of each row summed from 0.0
        in tree order, as LightGBM adds them, so the result is the same to the last bit."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        out = np.zeros(X.shape[0], dtype=np.float64)
        _margin(X, self.node_start, self.node_feature, self.node_threshold,
                self.node_default_right, self.node_missing, self.leaf_values, out)
        return out

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """(n_rows, n_features) contributions, without LightGBM's expected-value column."""
        X = np.asfortranarray(X, dtype=np.float64)
        out = np.zeros((X.shape[0], self.n_features), dtype=np.float64, order="F")
        _accumulate(X, self.node_start, self.node_feature, self.node_threshold,
                    self.node_default_right, self.node_missing, self.feat_start,
                    self.feat_index, self.table_start, self.values, out)
        return np.ascontiguousarray(out)  # callers get the layout pred_contrib gave them

    def patterns(self, X: np.ndarray) -> np.ndarray:
        """(n_rows, n_trees) decision pattern of each row in each tree (bit j: goes right at
        the tree's j-th split in preorder); tests compare it with LightGBM's leaves."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        out = np.zeros((X.shape[0], len(self.node_start) - 1), dtype=np.int64)
        _patterns(X, self.node_start, self.node_feature, self.node_threshold,
                  self.node_default_right, self.node_missing, out)
        return out


def warm_up() -> None:
    """Compile (or load from numba's cache) the scoring kernels for the argument types scoring
    passes, on a one-tree model: run in the nightly fork server, so every worker forked from
    it starts with them (0.1-0.2 CPU s each otherwise)."""
    # Two features: a one-column X would be both C- and F-ordered, another numba type.
    tables = ContributionTables(
        n_features=2, node_start=np.array([0, 1]), node_feature=np.array([1]),
        node_threshold=np.array([0.5]), node_default_right=np.array([0]),
        node_missing=np.array([0], dtype=np.int8), feat_start=np.array([0, 1]),
        feat_index=np.array([1]), table_start=np.array([0]), values=np.array([-0.5, 0.5]),
        leaf_values=np.array([-1.0, 1.0]))
    X = np.array([[0.0, 0.0], [0.0, 1.0]])
    if not (tables.raw_margin(X).tolist() == [-1.0, 1.0]
            and tables.contributions(X).tolist() == [[0.0, -0.5], [0.0, 0.5]]):
        raise AssertionError("tree kernels gave wrong results on the warm-up model")


_CACHE: weakref.WeakKeyDictionary[Any, ContributionTables | None] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
builds = 0  # tables built in this process (tests check workers build once)


def contribution_tables(booster: Any) -> ContributionTables | None:
    """The tables of ``booster`` (a ``lightgbm.Booster``), built on first use; ``None`` when
    the model is not covered and LightGBM's ``pred_contrib`` must be used."""
    global builds
    with _LOCK:
        if booster in _CACHE:
            return _CACHE[booster]
        try:
            tables = build_tables(booster)
            _self_check(booster, tables)
        except UnsupportedModel:
            tables = None
        builds += 1
        _CACHE[booster] = tables
        return tables


def build_tables(booster: Any) -> ContributionTables:
    """Tables for every tree ``predict`` uses (``dump_model`` picks the same iterations).

    Raises ``UnsupportedModel`` for models outside the method (see the module docstring)."""
    dump = booster.dump_model()
    if dump.get("num_tree_per_iteration", 1) != 1:
        raise UnsupportedModel("several trees per iteration (multiclass)")
    if dump.get("average_output"):
        raise UnsupportedModel("averaged output (random forest mode)")
    n_features = int(dump["max_feature_idx"]) + 1
    node_start, feat_start, table_start = [0], [0], []
    node_feature: list[int] = []
    node_threshold: list[float] = []
    node_default_right: list[int] = []
    node_missing: list[int] = []
    feat_index: list[int] = []
    values: list[np.ndarray] = []
    leaf_values: list[np.ndarray] = []
    offset = 0
    for info in dump["tree_info"]:
        if info.get("num_cat", 0):
            raise UnsupportedModel("categorical splits")
        nodes, leaves = _flatten(info["tree_structure"])
        if len(nodes) > MAX_SPLITS:
            raise UnsupportedModel(f"a tree with {len(nodes)} splits (> {MAX_SPLITS})")
        feats = sorted({n["split_feature"] for n in nodes})
        table = _shapley_table(nodes, leaves, feats)
        for n in nodes:
            node_feature.append(int(n["split_feature"]))
            node_threshold.append(float(n["threshold"]))
            node_default_right.append(0 if n["default_left"] else 1)
            node_missing.append(_MISSING_TYPES[n["missing_type"]])
        feat_index.extend(feats)
        node_start.append(len(node_feature))
        feat_start.append(len(feat_index))
        table_start.append(offset)
        values.append(table.ravel())
        leaf_values.append(_leaf_table(len(nodes), leaves))
        offset += table.size
    return ContributionTables(
        n_features=n_features,
        node_start=np.array(node_start, dtype=np.int64),
        node_feature=np.array(node_feature, dtype=np.int64),
        node_threshold=np.array(node_threshold, dtype=np.float64),
        node_default_right=np.array(node_default_right, dtype=np.int64),
        node_missing=np.array(node_missing, dtype=np.int8),
        feat_start=np.array(feat_start, dtype=np.int64),
        feat_index=np.array(feat_index, dtype=np.int64),
        table_start=np.array(table_start, dtype=np.int64),
        values=np.concatenate(values) if values else np.zeros(0),
        leaf_values=np.concatenate(leaf_values) if leaf_values else np.zeros(0),
    )


def _leaf_table(k: int, leaves: list[tuple[float, list]]) -> np.ndarray:
    """(2^k,) the value of the leaf each decision pattern reaches (bits of nodes off its path
    do not matter)."""
    table = np.full(1 << k, np.nan)
    patterns = np.arange(1 << k)
    for leaf_value, path in leaves:
        reaches = np.ones(1 << k, dtype=bool)
        for j, right, _ in path:
            reaches &= ((patterns >> j) & 1) == right
        table[reaches] = leaf_value
    if np.isnan(table).any():
        raise UnsupportedModel("a decision pattern reaches no leaf")
    return table


def _flatten(root: dict[str, Any]) -> tuple[list[dict[str, Any]], list[tuple[float, list]]]:
    """Internal nodes in preorder, and per leaf (value, [(node, goes_right, count_fraction)])."""
    nodes: list[dict[str, Any]] = []
    leaves: list[tuple[float, list]] = []

    def count(n: dict[str, Any]) -> int:
        return n["internal_count"] if "split_index" in n else n["leaf_count"]

    def walk(n: dict[str, Any], path: list) -> None:
        if "split_index" not in n:
            if any(k in n for k in _LINEAR_LEAF_KEYS):
                raise UnsupportedModel("linear trees")
            leaves.append((float(n["leaf_value"]), path))
            return
        if n["decision_type"] != "<=":
            raise UnsupportedModel(f"decision type {n['decision_type']!r}")
        if n["missing_type"] not in _MISSING_TYPES:
            raise UnsupportedModel(f"missing type {n['missing_type']!r}")
        # The dump clips infinite thresholds to +-1e300: such a split is not read back exactly.
        if not abs(float(n["threshold"])) < 1e300:
            raise UnsupportedModel("infinite threshold")
        j = len(nodes)
        nodes.append(n)
        total = count(n)
        for right, child in ((0, n["left_child"]), (1, n["right_child"])):
            # LightGBM divides the child's data count by the node's in double precision.
            walk(child, [*path, (j, right, count(child) / total)])

    walk(root, [])
    return nodes, leaves


def _shapley_table(nodes: list[dict[str, Any]], leaves: list[tuple[float, list]],
                   feats: list[int]) -> np.ndarray:
    """(2^k, d) Shapley values over the tree's d distinct features for each decision pattern
    (bit j set = x goes right at node j), from the definition: all 2^d coalitions."""
    k, d = len(nodes), len(feats)
    if k == 0:
        return np.zeros((1, 0))
    pos = {f: u for u, f in enumerate(feats)}
    patterns = np.arange(1 << k)[:, None]
    coalitions = np.arange(1 << d)[None, :]
    # f[p, S] = expected leaf value given the decisions of x at the nodes whose feature is in S.
    value = np.zeros((1 << k, 1 << d))
    for leaf_value, path in leaves:
        weight = np.ones_like(value)
        for j, right, fraction in path:
            follows = ((patterns >> j) & 1) == right
            in_s = ((coalitions >> pos[nodes[j]["split_feature"]]) & 1) == 1
            weight = weight * np.where(in_s, follows.astype(np.float64), fraction)
        value += leaf_value * weight
    sizes = np.array([bin(q).count("1") for q in range(1 << d)])
    coef = np.array([factorial(s) * factorial(d - s - 1) / factorial(d) if s < d else 0.0
                     for s in range(d + 1)])
    table = np.zeros((1 << k, d))
    for u in range(d):
        without = np.array([q for q in range(1 << d) if not (q >> u) & 1])
        table[:, u] = ((value[:, without | (1 << u)] - value[:, without])
                       * coef[sizes[without]]).sum(axis=1)
    return table


def _self_check(booster: Any, tables: ContributionTables) -> None:
    """Compare with ``pred_contrib`` (to ``CHECK_TOLERANCE``) and raw scores (exactly) on rows
    at, just below and just above every threshold."""
    rng = np.random.default_rng(0)
    candidates: dict[int, list[float]] = {}
    for f, t in zip(tables.node_feature.tolist(), tables.node_threshold.tolist(), strict=True):
        candidates.setdefault(f, [0.0, K_ZERO, -K_ZERO]).extend(
            [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)])
    probe = np.zeros((64, tables.n_features))
    for f, vals in candidates.items():
        probe[:, f] = rng.choice(np.array(vals), size=probe.shape[0])
    ours = tables.contributions(probe)
    theirs = np.asarray(booster.predict(probe, pred_contrib=True, num_threads=1),
                        dtype=np.float64)
    if theirs.shape != (probe.shape[0], tables.n_features + 1):
        raise UnsupportedModel(f"pred_contrib has shape {theirs.shape}")
    diff = float(np.max(np.abs(ours - theirs[:, : tables.n_features]), initial=0.0))
    if not diff <= CHECK_TOLERANCE:
        warnings.warn(f"contribution tables differ from LightGBM's pred_contrib by {diff:g} "
                      "on threshold probes; using pred_contrib", RuntimeWarning, stacklevel=3)
        raise UnsupportedModel("self-check failed")
    margin = np.asarray(booster.predict(probe, raw_score=True, num_threads=1), dtype=np.float64)
    if not np.array_equal(tables.raw_margin(probe), margin):
        warnings.warn("leaf tables differ from LightGBM's raw scores on threshold probes; "
                      "using LightGBM", RuntimeWarning, stacklevel=3)
        raise UnsupportedModel("self-check of raw scores failed")


@njit(cache=True, inline="always")
def _goes_right(v: float, threshold: float, default_right: int, missing: int) -> int:
    # LightGBM's dense-row reader drops |v| <= kZeroThreshold, so such values arrive as 0.0;
    # NaN is read as 0.0 too unless NaN is the split's missing value (Tree::NumericalDecision).
    # Written as selects, not branches: the decisions are data-dependent and unpredictable.
    nan = v != v
    v = 0.0 if (nan or abs(v) <= K_ZERO) else v
    missing_here = ((missing == 1) & (v == 0.0)) | ((missing == 2) & nan)
    return default_right if missing_here else np.int64(v > threshold)


# Rows are taken in blocks, each block tree by tree: a tree's few node parameters stay in
# registers, the block's columns (X and out are column-major) stay in L1, and the row loops
# have no data-dependent branches. Per output cell the trees are still added in model order.
_BLOCK = 512


@njit(cache=True, nogil=True)
def _accumulate(X, node_start, node_feature, node_threshold, node_default_right, node_missing,
                feat_start, feat_index, table_start, values, out):  # pragma: no cover - numba
    n = X.shape[0]
    pattern = np.zeros(_BLOCK, dtype=np.int64)
    for lo in range(0, n, _BLOCK):
        hi = min(lo + _BLOCK, n)
        for t in range(node_start.shape[0] - 1):
            first = node_start[t]
            pattern[:] = 0
            for j in range(first, node_start[t + 1]):
                f = node_feature[j]
                threshold = node_threshold[j]
                default_right = node_default_right[j]
                missing = node_missing[j]
                bit = j - first
                for r in range(lo, hi):
                    pattern[r - lo] |= _goes_right(X[r, f], threshold, default_right,
                                                   missing) << bit
            f0 = feat_start[t]
            d = feat_start[t + 1] - f0
            base = table_start[t]
            for u in range(d):
                f = feat_index[f0 + u]
                for r in range(lo, hi):
                    out[r, f] += values[base + pattern[r - lo] * d + u]


@njit(cache=True, inline="always")
def _row_pattern(X, r, first, end, node_feature, node_threshold, node_default_right,
                 node_missing):
    """Decision pattern of row ``r`` in the tree whose nodes are ``first:end``."""
    pattern = 0
    for j in range(first, end):
        pattern |= _goes_right(X[r, node_feature[j]], node_threshold[j],
                               node_default_right[j], node_missing[j]) << (j - first)
    return pattern


@njit(cache=True, nogil=True)
def _patterns(X, node_start, node_feature, node_threshold, node_default_right, node_missing,
              out):  # pragma: no cover - numba
    for r in range(X.shape[0]):
        for t in range(node_start.shape[0] - 1):
            out[r, t] = _row_pattern(X, r, node_start[t], node_start[t + 1], node_feature,
                                     node_threshold, node_default_right, node_missing)


@njit(cache=True, nogil=True)
def _margin(X, node_start, node_feature, node_threshold, node_default_right, node_missing,
            leaf_values, out):  # pragma: no cover - numba
    for r in range(X.shape[0]):
        total = 0.0
        leaf_start = 0
        for t in range(node_start.shape[0] - 1):
            first, end = node_start[t], node_start[t + 1]
            total += leaf_values[leaf_start + _row_pattern(
                X, r, first, end, node_feature, node_threshold, node_default_right,
                node_missing)]
            leaf_start += 1 << (end - first)
        out[r] = total

"""Feature drift between two runs: the population stability index (PSI) per declared feature.

Definition (per feature ``f``, previous run = expected, this run = actual):

1. Bin edges are the previous run's deciles of ``f``: the quantiles at 0.1, 0.2, ..., 0.9
   (``nearest`` interpolation), de-duplicated. Bins are right-closed and open-ended:
   ``(-inf, e1], (e1, e2], ..., (ek, +inf)``, so a feature with a point mass (say 80% zeros)
   simply gets fewer, wider bins instead of empty ones.
2. ``p_i`` / ``q_i`` are the shares of the previous / this run's non-null values in bin ``i``,
   each floored at ``EPSILON`` (1e-4) so an empty bin does not make the logarithm infinite.
3. ``PSI = sum_i (q_i - p_i) * ln(q_i / p_i)``.

PSI is 0 for identical distributions; the usual reading is < 0.1 stable, 0.1-0.2 a moderate
shift, > 0.2 (``PSI_THRESHOLD``) drifted. A feature gets ``None`` when either run has no values
for it (no previous run, an empty run, or a column missing from an older partition).

Everything is computed with lazy polars scans that select only feature columns and reduce
them to a handful of numbers per feature, so a run of a million pages stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from features.schema import FEATURES

PSI_THRESHOLD = 0.2
PSI_BINS = 10
EPSILON = 1e-4
HIST_BINS = 20


def available_features(scores: Path) -> list[str]:
    """Declared features that are columns of ``scores`` (older partitions may lack some)."""
    columns = set(pl.scan_parquet(scores).collect_schema().names())
    return [f.name for f in FEATURES if f.name in columns]


def _values(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64).fill_nan(None)


def feature_quantiles(scores: Path, names: Sequence[str], qs: Sequence[float]
                      ) -> dict[str, list[float | None]]:
    """Quantiles ``qs`` of each feature in one lazy pass."""
    if not names:
        return {}
    exprs = [_values(n).quantile(q, interpolation="nearest").alias(f"{n}::{i}")
             for n in names for i, q in enumerate(qs)]
    row = pl.scan_parquet(scores).select(exprs).collect().row(0)
    it = iter(row)
    return {n: [next(it) for _ in qs] for n in names}


def bin_counts(scores: Path, edges: dict[str, list[float]]) -> dict[str, dict[str, Any]]:
    """Counts of each feature's values in the right-closed, open-ended bins cut at ``edges``,
    plus the count of non-null values and their mean, in one lazy pass."""
    if not edges:
        return {}
    exprs: list[pl.Expr] = []
    for n, cuts in edges.items():
        exprs.append(_values(n).count().alias(f"{n}::n"))
        exprs.append(_values(n).mean().alias(f"{n}::mean"))
        exprs.extend((_values(n) <= e).sum().alias(f"{n}::{i}") for i, e in enumerate(cuts))
    row = pl.scan_parquet(scores).select(exprs).collect(engine="streaming").row(0, named=True)
    out: dict[str, dict[str, Any]] = {}
    for n, cuts in edges.items():
        total = int(row[f"{n}::n"])
        cumulative = [int(row[f"{n}::{i}"]) for i in range(len(cuts))] + [total]
        counts = [c - p for c, p in zip(cumulative, [0, *cumulative[:-1]], strict=True)]
        mean = row[f"{n}::mean"]
        out[n] = {"n": total, "counts": counts, "mean": None if mean is None else float(mean)}
    return out


def psi(expected: Sequence[int], actual: Sequence[int], eps: float = EPSILON) -> float | None:
    """PSI of two count vectors over the same bins (see the module docstring)."""
    n_e, n_a = sum(expected), sum(actual)
    if n_e == 0 or n_a == 0:
        return None
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        p, q = max(e / n_e, eps), max(a / n_a, eps)
        total += (q - p) * math.log(q / p)
    return total


def decile_edges(previous: Path, names: Sequence[str]) -> dict[str, list[float]]:
    """The previous run's de-duplicated deciles per feature (features without values omitted)."""
    qs = [i / PSI_BINS for i in range(1, PSI_BINS)]
    quantiles = feature_quantiles(previous, names, qs)
    return {n: sorted({float(v) for v in vals if v is not None})
            for n, vals in quantiles.items() if any(v is not None for v in vals)}


def compute_drift(current: Path, previous: Path | None) -> dict[str, Any]:
    """``{"previous", "psi": {feature: PSI or None}, "threshold", "drifted"}`` for every declared
    feature, comparing partition ``current`` with partition ``previous``."""
    psi_values: dict[str, float | None] = {f.name: None for f in FEATURES}
    if previous is not None:
        cur_scores, prev_scores = current / "scores.parquet", previous / "scores.parquet"
        names = [n for n in available_features(prev_scores)
                 if n in set(available_features(cur_scores))]
        edges = decile_edges(prev_scores, names)
        expected, actual = bin_counts(prev_scores, edges), bin_counts(cur_scores, edges)
        for n in edges:
            value = psi(expected[n]["counts"], actual[n]["counts"])
            psi_values[n] = None if value is None else round(value, 6)
    drifted = [n for n, v in psi_values.items() if v is not None and v > PSI_THRESHOLD]
    return {"previous": None if previous is None else str(previous), "psi": psi_values,
            "threshold": PSI_THRESHOLD, "drifted": drifted}


def feature_distributions(current: Path, previous: Path | None,
                          bins: int = HIST_BINS) -> list[dict[str, Any]]:
    """Per declared feature, shares of this and the previous run's values over ``bins``
    equal-width bins spanning both runs' 1st to 99th percentile (outliers fall into the end
    bins; min to max when those percentiles coincide), for the HTML report's feature charts."""
    parts = {"current": current / "scores.parquet"}
    if previous is not None:
        parts["previous"] = previous / "scores.parquet"
    present = {k: set(available_features(p)) for k, p in parts.items()}
    names = [f.name for f in FEATURES if f.name in present["current"]]
    ranges: dict[str, list[float]] = {n: [] for n in names}
    extremes: dict[str, list[float]] = {n: [] for n in names}
    for key, path in parts.items():
        qs = feature_quantiles(path, [n for n in names if n in present[key]],
                               [0.0, 0.01, 0.99, 1.0])
        for n, (q0, q01, q99, q1) in qs.items():
            ranges[n].extend(float(v) for v in (q01, q99) if v is not None)
            extremes[n].extend(float(v) for v in (q0, q1) if v is not None)
    edges: dict[str, list[float]] = {}
    spans: dict[str, tuple[float, float]] = {}
    for n, vals in ranges.items():
        if not vals:
            continue
        lo, hi = min(vals), max(vals)
        if hi <= lo:  # a point mass at the 1st-99th percentiles (binary features): min..max
            lo, hi = min(extremes[n]), max(extremes[n])
        spans[n] = (lo, hi)
        edges[n] = [lo + (hi - lo) * i / bins for i in range(1, bins)] if hi > lo else []
    counted = {k: bin_counts(p, {n: e for n, e in edges.items() if n in present[k]})
               for k, p in parts.items()}
    out = []
    for f in FEATURES:
        if f.name not in edges:
            continue
        row: dict[str, Any] = {"name": f.name, "group": f.group, "meaning": f.meaning,
                               "lo": spans[f.name][0], "hi": spans[f.name][1]}
        for key in ("current", "previous"):
            c = counted.get(key, {}).get(f.name)
            row[key] = None if c is None or not c["n"] else {
                "shares": [x / c["n"] for x in c["counts"]], "mean": c["mean"], "n": c["n"]}
        out.append(row)
    return out

"""`build_summary`: one JSON-able dict describing a run partition, computed with lazy polars
scans (only the needed columns are read, everything is reduced in polars)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl

from jobs.report.drift import compute_drift
from jobs.report.partitions import (
    latest_partition,
    partition_date,
    previous_partition,
    read_run,
)
from jobs.report.terminal import print_summary

__all__ = ["DECISIONS", "build_summary", "decision_counts", "latest_partition",
           "normalised_reason", "print_summary"]

DECISIONS = ("publish", "review", "reject")
SCORE_BINS = 20
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
TOP_REASONS = 15
MAX_SOURCES = 50
LOWEST = 10


def normalised_reason(expr: pl.Expr) -> pl.Expr:
    """A reason's text before its first ':' (drops the value and evidence snippets)."""
    return expr.str.extract(r"^([^:]*)", 1).str.strip_chars()


def top_reasons_query(scores: Path, n: int) -> pl.LazyFrame:
    """Pages per normalised reason, most frequent first (``reason``, ``len``)."""
    # Normalise and de-duplicate inside each page's list before exploding: counts pages per
    # reason and never materialises the long evidence snippets of a big run.
    return (_scan(scores, ["reasons"])
            .select(pl.col("reasons").list.eval(normalised_reason(pl.element()))
                    .list.unique().alias("reason"))
            .explode("reason").drop_nulls("reason")
            .group_by("reason").len()
            .sort(["len", "reason"], descending=[True, False]).head(n))


def _scan(path: Path, columns: list[str]) -> pl.LazyFrame:
    return pl.scan_parquet(path).select(columns)


def _share(n: int, total: int) -> float:
    return n / total if total else 0.0


def _decisions_block(counts: dict[str, int]) -> dict[str, dict[str, float | int]]:
    total = sum(counts.values())
    names = [*DECISIONS, *sorted(set(counts) - set(DECISIONS))]
    return {d: {"count": counts.get(d, 0), "share": _share(counts.get(d, 0), total)}
            for d in names}


def decision_counts(partition: Path) -> dict[str, int]:
    """Pages per decision in a partition's scores.parquet (one lazy group-by)."""
    df = _scan(partition / "scores.parquet", ["decision"]).group_by("decision").len().collect()
    return {str(d): int(n) for d, n in df.iter_rows() if d is not None}


def _queries(scores: Path) -> dict[str, pl.LazyFrame]:
    score = pl.col("score")
    stats = _scan(scores, ["score"]).select(
        pl.len().alias("n"), score.mean().alias("mean"), score.min().alias("min"),
        score.max().alias("max"),
        *(score.quantile(q, interpolation="linear").alias(f"p{round(q * 100):02d}")
          for q in QUANTILES),
    )
    hist = (_scan(scores, ["score", "decision"]).drop_nulls("score")
            .select((score * SCORE_BINS).floor().clip(0, SCORE_BINS - 1).cast(pl.Int32)
                    .alias("bin"), "decision")
            .group_by("bin", "decision").len())
    decisions = _scan(scores, ["decision"]).group_by("decision").len()
    reasons = top_reasons_query(scores, TOP_REASONS)
    sources = (_scan(scores, ["source", "score", "decision"]).group_by("source").agg(
        pl.len().alias("pages"), score.mean().alias("mean_score"),
        *((pl.col("decision") == d).sum().alias(d) for d in DECISIONS),
    ).sort(["pages", "source"], descending=[True, False]))
    lowest = (_scan(scores, ["page_id", "url", "source", "score", "decision", "reasons"])
              .bottom_k(LOWEST, by=["score", "page_id"]))
    return {"stats": stats, "hist": hist, "decisions": decisions, "reasons": reasons,
            "sources": sources, "lowest": lowest}


def _count_rows(path: Path) -> int:
    if not path.exists():
        return 0
    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def _quarantine_by_source(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    df = pl.scan_parquet(path).select("source").group_by("source").len().collect()
    return {str(s): int(n) for s, n in df.iter_rows()}


def _sources_block(df: pl.DataFrame, quarantine: dict[str, int]) -> list[dict[str, Any]]:
    rows = []
    for r in df.iter_rows(named=True):
        pages = int(r["pages"])
        rows.append({"source": r["source"], "pages": pages,
                     "quarantined": quarantine.get(r["source"], 0),
                     "mean_score": r["mean_score"],
                     "decisions": {d: _share(int(r[d]), pages) for d in DECISIONS}})
    seen = {r["source"] for r in rows}
    rows.extend({"source": s, "pages": 0, "quarantined": n, "mean_score": None,
                 "decisions": dict.fromkeys(DECISIONS, 0.0)}
                for s, n in sorted(quarantine.items()) if s not in seen)
    return rows


def _previous_block(prev: Path) -> dict[str, Any]:
    counts = decision_counts(prev)
    mean = (_scan(prev / "scores.parquet", ["score"]).select(pl.col("score").mean())
            .collect().item())
    return {"partition": str(prev), "date": partition_date(prev), "scored": sum(counts.values()),
            "mean_score": mean, "decisions": _decisions_block(counts)}


def _change_block(summary: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    names = list(dict.fromkeys([*summary["decisions"], *previous["decisions"]]))
    shares = {}
    for d in names:
        now = summary["decisions"].get(d, {}).get("share", 0.0)
        before = previous["decisions"].get(d, {}).get("share", 0.0)
        shares[d] = {"share": now, "previous_share": before, "delta": now - before}
    mean_now, mean_before = summary["score"]["mean"], previous["mean_score"]
    return {
        "scored": summary["scored"] - previous["scored"],
        "mean_score": None if mean_now is None or mean_before is None else mean_now - mean_before,
        "decision_shares": shares,
    }


def build_summary(partition: Path) -> dict[str, Any]:
    """Summarise one partition ``OUT/date=YYYY-MM-DD`` as a JSON-serialisable dict.

    Keys: ``run_date``, ``partition``, ``model``, ``pages`` (scored + quarantined), ``scored``,
    ``quarantined``, ``decisions`` ({decision: {count, share}}), ``score`` (mean/min/max,
    ``quantiles`` and a ``histogram`` of 20 bins over [0, 1] with pages per decision in each), ``top_reasons`` (pages per
    reason, the reason cut before its first ':'), ``sources`` (per input source: pages,
    quarantined, decision shares, mean score; at most 50, ``sources_total`` counts all),
    ``lowest`` (the 10 lowest-scoring pages with their reasons), ``previous`` (the newest
    older partition in the same OUT dir, or None), ``change`` (deltas against it, or None) and
    ``drift`` (PSI per declared feature; see ``jobs.report.drift``).
    """
    partition = Path(os.path.abspath(partition))  # "." inside a partition still has a date
    scores = partition / "scores.parquet"
    run = read_run(partition)
    q = _queries(scores)
    stats, hist, decisions, reasons, sources, lowest = pl.collect_all(list(q.values()),
                                                                      engine="streaming")
    st = stats.row(0, named=True)
    scored = int(st["n"])
    quarantine = _quarantine_by_source(partition / "quarantine.parquet")
    quarantined = sum(quarantine.values())
    hist_counts: dict[int, dict[str, int]] = {}
    for b, d, n in hist.iter_rows():
        hist_counts.setdefault(int(b), {})[str(d)] = int(n)
    model = run.get("model") or {}
    summary: dict[str, Any] = {
        "run_date": run.get("date") or partition_date(partition),
        "partition": str(partition),
        "model": {"version": model.get("version"), "thresholds": model.get("thresholds")},
        "pages": scored + quarantined,
        "scored": scored,
        "quarantined": quarantined,
        "decisions": _decisions_block({str(d): int(n) for d, n in decisions.iter_rows()
                                       if d is not None}),
        "score": {
            "mean": st["mean"], "min": st["min"], "max": st["max"],
            "quantiles": {f"p{round(x * 100):02d}": st[f"p{round(x * 100):02d}"]
                          for x in QUANTILES},
            "histogram": [{"lo": i / SCORE_BINS, "hi": (i + 1) / SCORE_BINS,
                           "count": sum(hist_counts.get(i, {}).values()),
                           "decisions": hist_counts.get(i, {})} for i in range(SCORE_BINS)],
        },
        "top_reasons": [{"reason": r, "pages": int(n), "share": _share(int(n), scored)}
                        for r, n in reasons.iter_rows()],
        "sources": _sources_block(sources, quarantine)[:MAX_SOURCES],
        "sources_total": len(set(sources.get_column("source").to_list()) | set(quarantine)),
        "lowest": [{**r, "reasons": list(r["reasons"] or [])}
                   for r in lowest.sort(["score", "page_id"]).iter_rows(named=True)],
    }
    prev = previous_partition(partition)
    summary["previous"] = None if prev is None else _previous_block(prev)
    summary["change"] = (None if summary["previous"] is None
                         else _change_block(summary, summary["previous"]))
    summary["drift"] = compute_drift(partition, prev)
    return summary

"""Per-page reasons from the model's own per-feature contributions, with evidence lines."""

from __future__ import annotations

import numpy as np
import polars as pl

from features.schema import BY_NAME, FEATURE_NAMES, Feature

MAX_REASONS = 5
MIN_EFFECT = 0.10  # log-odds; smaller pulls are noise, not a reason
SNIPPET_CHARS = 70

# Which marked-line flag shows the evidence for a feature group.
EVIDENCE_FLAG = {"error": "is_error", "wall": "is_wall", "spam_links": "is_promo",
                 "duplication": "is_dup", "boilerplate": "is_boiler"}


def reason_key(feature: Feature) -> str:
    """Features that tell one story share a key, so a page gets one reason per defect."""
    if feature.group == "error_text":
        return feature.name.split("_")[0]  # "error" or "wall"
    if feature.group in ("duplication", "boilerplate", "spam_links"):
        return feature.group
    return feature.name


def evidence_lines(lines: pl.DataFrame, n_pages: int) -> dict[str, list[tuple[str | None, int]]]:
    """Per evidence kind: (first flagged line, number of flagged lines) for every page."""
    out: dict[str, list[tuple[str | None, int]]] = {}
    rows = pl.DataFrame({"_row": pl.arange(0, n_pages, dtype=pl.UInt32, eager=True)})
    agg = lines.group_by("_row").agg(
        *(pl.col("line").filter(pl.col(flag)).first().alias(f"{key}_line")
          for key, flag in EVIDENCE_FLAG.items()),
        *(pl.col(flag).sum().alias(f"{key}_n") for key, flag in EVIDENCE_FLAG.items()),
    )
    agg = rows.join(agg, on="_row", how="left", maintain_order="left")
    for key in EVIDENCE_FLAG:
        out[key] = list(zip(agg[f"{key}_line"].to_list(),
                            agg[f"{key}_n"].fill_null(0).to_list(), strict=True))
    return out


def _snippet(line: str) -> str:
    line = " ".join(line.split())
    return line if len(line) <= SNIPPET_CHARS else line[: SNIPPET_CHARS - 1] + "…"


def explain(values: np.ndarray, contrib: np.ndarray,
            evidence: dict[str, list[tuple[str | None, int]]],
            rows: np.ndarray | None = None) -> list[list[str]]:
    """Ranked reasons (most harmful first) for each page in ``rows`` (default all).

    A reason is a key (``reason_key``) whose features' contributions sum to at most
    -MIN_EFFECT; it is worded by the key's most harmful feature."""
    rows = np.arange(values.shape[0]) if rows is None else np.asarray(rows)
    feats = [BY_NAME[n] for n in FEATURE_NAMES]
    # Only features declared as defects can be reasons; others ('none') shift the score but
    # say nothing a reader can act on.
    members: dict[str, list[int]] = {}
    for j, f in enumerate(feats):
        if f.direction != "none":
            members.setdefault(reason_key(f), []).append(j)
    keys = list(members)
    part = contrib[rows]
    totals = np.column_stack([part[:, cols].sum(axis=1) for cols in members.values()])
    worst = np.column_stack([np.asarray(cols)[np.argmin(part[:, cols], axis=1)]
                             for cols in members.values()])
    ranked = np.argsort(np.where(totals <= -MIN_EFFECT, totals, np.inf), axis=1,
                        kind="stable")[:, :MAX_REASONS]
    n_reasons = np.minimum((totals <= -MIN_EFFECT).sum(axis=1), MAX_REASONS)
    out: list[list[str]] = []
    for r, i in enumerate(rows.tolist()):
        reasons = []
        for k in ranked[r, : n_reasons[r]].tolist():
            j = int(worst[r, k])
            reasons.append(_reason_text(feats[j], values[i, j], keys[k], evidence, i))
        out.append(reasons)
    return out


def _reason_text(feature: Feature, value: float, key: str,
                 evidence: dict[str, list[tuple[str | None, int]]], i: int) -> str:
    text = feature.reason.format(value=feature.describe_value(value))
    ev_key = "error" if key == "error" else "wall" if key == "wall" else feature.group
    if ev_key in evidence:
        line, n = evidence[ev_key][i]
        if line:
            more = f" (+{n - 1} more)" if n > 1 else ""
            text += f": '{_snippet(line)}'{more}"
    return text

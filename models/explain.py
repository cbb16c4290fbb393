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
    row = lines.get_column("_row").to_numpy()
    out: dict[str, list[tuple[str | None, int]]] = {}
    for key, flag in EVIDENCE_FLAG.items():
        flagged = np.flatnonzero(lines.get_column(flag).to_numpy())
        counts = np.bincount(row[flagged], minlength=n_pages)[:n_pages]
        # np.unique's first index of each page is its first flagged line in frame order.
        pages, first = np.unique(row[flagged], return_index=True)
        first_line: list[str | None] = [None] * n_pages
        for page, text in zip(pages.tolist(),
                              lines.get_column("line").gather(flagged[first]).to_list(),
                              strict=True):
            first_line[page] = text
        out[key] = list(zip(first_line, counts.tolist(), strict=True))
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
    # The texts are built from flat Python lists (numpy scalars index and format several times
    # slower): every (page, reason) pair in order, its feature and that feature's value.
    at = np.arange(ranked.shape[1])[None, :] < n_reasons[:, None]
    pair_row = np.broadcast_to(np.arange(len(rows))[:, None], at.shape)[at]
    pair_key = ranked[at]
    pair_feat = worst[pair_row, pair_key]
    pair_value = values[rows[pair_row], pair_feat].tolist()
    page = rows.tolist()
    out: list[list[str]] = [[] for _ in range(len(rows))]
    for r, k, j, value in zip(pair_row.tolist(), pair_key.tolist(), pair_feat.tolist(),
                              pair_value, strict=True):
        out[r].append(_reason_text(feats[j], value, keys[k], evidence, page[r]))
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

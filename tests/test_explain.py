"""Reasons and their evidence lines, against plain restatements of their definitions."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from features.compute import marked_features
from features.schema import BY_NAME, FEATURE_NAMES
from models.explain import (
    EVIDENCE_FLAG,
    MAX_REASONS,
    MIN_EFFECT,
    _reason_text,
    evidence_lines,
    explain,
    reason_key,
)
from models.registry import load_scorer


@pytest.fixture(scope="module")
def scored(sample_texts: list[str]) -> tuple[np.ndarray, np.ndarray, pl.DataFrame]:
    """Feature rows, contributions and marked lines of the sample pages plus edge cases."""
    texts = [*sample_texts, "", "   \n\n ",
             "Sorry, page not found\n404 error\nSorry, page not found",
             "Accept cookies to continue.\n" * 3]
    feats, lines = marked_features(pl.DataFrame({"text": texts}))
    X = feats.select(FEATURE_NAMES).to_numpy().astype(np.float64)
    return X, load_scorer().model.contributions(X), lines


def reference_evidence(lines: pl.DataFrame, n_pages: int) -> dict[str, list]:
    agg = pl.DataFrame({"_row": pl.arange(0, n_pages, dtype=pl.UInt32, eager=True)}).join(
        lines.group_by("_row").agg(
            *(pl.col("line").filter(pl.col(flag)).first().alias(f"{key}_line")
              for key, flag in EVIDENCE_FLAG.items()),
            *(pl.col(flag).sum().alias(f"{key}_n") for key, flag in EVIDENCE_FLAG.items())),
        on="_row", how="left", maintain_order="left")
    return {key: list(zip(agg[f"{key}_line"].to_list(), agg[f"{key}_n"].fill_null(0).to_list(),
                          strict=True)) for key in EVIDENCE_FLAG}


def reference_explain(X: np.ndarray, contrib: np.ndarray, evidence: dict) -> list[list[str]]:
    """Per page: keys whose defect features sum to <= -MIN_EFFECT, most harmful first (ties in
    key order), at most MAX_REASONS, each worded by its most harmful feature."""
    feats = [BY_NAME[n] for n in FEATURE_NAMES]
    members: dict[str, list[int]] = {}
    for j, f in enumerate(feats):
        if f.direction != "none":
            members.setdefault(reason_key(f), []).append(j)
    out = []
    for i in range(X.shape[0]):
        found = []
        for order, (key, cols) in enumerate(members.items()):
            total = sum(contrib[i, j] for j in cols)
            if total <= -MIN_EFFECT:
                worst = min(cols, key=lambda j: (contrib[i, j], cols.index(j)))
                found.append((total, order, key, worst))
        found.sort(key=lambda t: (t[0], t[1]))
        out.append([_reason_text(feats[j], float(X[i, j]), key, evidence, i)
                    for _, _, key, j in found[:MAX_REASONS]])
    return out


def test_evidence_lines_match_their_definition(scored) -> None:
    X, _, lines = scored
    got = evidence_lines(lines, X.shape[0])
    assert got == reference_evidence(lines, X.shape[0])
    assert got["error"][-2][0] == "Sorry, page not found" and got["error"][-2][1] >= 2


def test_reasons_match_their_definition(scored) -> None:
    X, contrib, lines = scored
    evidence = evidence_lines(lines, X.shape[0])
    got = explain(X, contrib, evidence)
    assert got == reference_explain(X, contrib, evidence)
    assert sum(map(len, got)) > X.shape[0]  # most pages have reasons; some several
    rows = np.array([3, 1, 1, X.shape[0] - 2])
    assert explain(X, contrib, evidence, rows) == [got[r] for r in rows]
    assert explain(X[:0], contrib[:0], evidence) == []

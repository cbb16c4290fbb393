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
    PYTHON_SPACES,
    SNIPPET_CHARS,
    _lists,
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


def reference_reason(feature, value: float, key: str, evidence: dict, i: int) -> str:
    """One reason as its definition words it, one page at a time."""
    text = feature.reason.format(value=feature.describe_value(value))
    ev_key = key if key in ("error", "wall") else feature.group
    if ev_key in evidence:
        line, n = evidence[ev_key][i]
        if line:
            line = " ".join(line.split())
            if len(line) > SNIPPET_CHARS:
                line = line[:SNIPPET_CHARS - 1] + "\u2026"
            text += f": '{line}'" + (f" (+{n - 1} more)" if n > 1 else "")
    return text


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
        out.append([reference_reason(feats[j], float(X[i, j]), key, evidence, i)
                    for _, _, key, j in found[:MAX_REASONS]])
    return out


def _as_lists(evidence: dict) -> dict[str, list]:
    return {key: list(zip(line.to_list(), counts.tolist(), strict=True))
            for key, (line, counts) in evidence.items()}


def test_evidence_lines_match_their_definition(scored) -> None:
    X, _, lines = scored
    got = _as_lists(evidence_lines(lines, X.shape[0]))
    assert got == reference_evidence(lines, X.shape[0])
    assert got["error"][-2][0] == "Sorry, page not found" and got["error"][-2][1] >= 2


def test_reasons_match_their_definition(scored) -> None:
    X, contrib, lines = scored
    evidence = evidence_lines(lines, X.shape[0])
    got = explain(X, contrib, evidence).to_list()
    assert got == reference_explain(X, contrib, _as_lists(evidence))
    assert sum(map(len, got)) > X.shape[0]  # most pages have reasons; some several
    rows = np.array([3, 1, 1, X.shape[0] - 2])
    assert explain(X, contrib, evidence, rows).to_list() == [got[r] for r in rows]
    assert explain(X[:0], contrib[:0], evidence).to_list() == []


def test_reasons_word_edge_values_and_lines_as_their_definition(scored) -> None:
    """Values where rounding and signs are delicate, and evidence lines with every kind of
    white space Python splits on, long ones cut: worded as the definition words them."""
    X, contrib, lines = scored
    rng = np.random.default_rng(3)
    X = X.copy()
    n = X.shape[0]
    edge = np.array([0.0, -0.0, 0.005, 0.015, 0.125, 0.625, 0.995, 1.0, -0.004, 0.3049999,
                     1e-300, 5e-3 + 1e-17, 2.5, 123.456, np.nan, np.inf])
    X[:, :] = np.where(rng.random(X.shape) < 0.5, rng.choice(edge, X.shape), X)
    spaces = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
    texts = lines["line"].to_list()
    texts = [(spaces[k % len(spaces)] * 2).join(t.split(" ")) + (" x" * 40 if k % 3 else "")
             for k, t in enumerate(texts)]
    lines = lines.with_columns(pl.Series("line", texts))
    evidence = evidence_lines(lines, n)
    got = explain(X, contrib, evidence).to_list()
    assert got == reference_explain(X, contrib, _as_lists(evidence))
    worded = [r for page in got for r in page]
    assert any("-0%" in r for r in worded) and any("\u2026'" in r for r in worded)


@pytest.mark.parametrize("rows", [
    [["error text '403'", "duplicated lines: 59%"], [], ["\u00e9 \u2713 \u4e2d\u6587"], [], []],
    [[], [], []],
    [],
    [["one"]],
])
def test_reason_lists_equal_polars_own_conversion(rows: list[list[str]]) -> None:
    expected = pl.Series(rows, dtype=pl.List(pl.String))
    got = _lists(pl.Series([s for row in rows for s in row], dtype=pl.String),
                 np.array([len(row) for row in rows], dtype=np.int64))
    assert got.dtype == pl.List(pl.String) and got.len() == len(rows)
    assert got.to_list() == expected.to_list()


def test_the_snippet_white_space_is_what_python_splits_on() -> None:
    assert "".join(c for c in map(chr, range(0x110000)) if c.isspace()) == PYTHON_SPACES

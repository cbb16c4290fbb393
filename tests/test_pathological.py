"""Pathological pages are scored in bounded time (a bound, not a speed claim)."""

from __future__ import annotations

import time

import polars as pl
import pytest

from features.compute import marked_features
from models.registry import load_model
from models.scorer import score_features


@pytest.mark.parametrize("name,text", [
    ("10 MB on one line", "word " * 2_000_000),
    ("1,000,000 short lines", "ab\n" * 1_000_000),
    ("one repeated character", "x" * 10_000_000),
])
def test_scored_in_under_two_seconds(name: str, text: str) -> None:
    loaded = load_model()
    frame = pl.DataFrame({"text": [text]})
    elapsed = float("inf")
    for _ in range(2):  # best of two: the machine is shared; the bound is on the work itself
        start = time.perf_counter()
        feats, lines = marked_features(frame)
        out = score_features(loaded, feats, lines)
        elapsed = min(elapsed, time.perf_counter() - start)
    assert out.height == 1 and 0 <= out["score"][0] <= 1
    assert elapsed < 2.0, f"{name}: {elapsed:.2f}s"

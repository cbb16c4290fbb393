"""Property-based tests: no text or bytes crashes a reader or a feature; ranges hold."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features import FEATURES, compute_features
from jobs.readers import detect_input, read_input

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
lines = st.lists(st.sampled_from(["", "403", "Page not found", "a b c d e", "- Big News Story "
                                  "Here Today", "All rights reserved", "页面不存在", "…", "{"]),
                 max_size=30).map("\n".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(texts, lines), min_size=1, max_size=8))
def test_features_total_and_in_range(batch: list[str]) -> None:
    out = compute_features(pl.DataFrame({"text": batch}))
    assert out.height == len(batch)
    for f in FEATURES:
        col = out[f.name]
        assert col.null_count() == 0
        assert col.min() >= f.lo - 1e-9 and col.max() <= f.hi + 1e-9, (f.name, col.to_list())


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=200), max_size=10))
def test_jsonl_reader_never_raises_and_accounts_for_every_line(tmp_path: Path,
                                                              chunks: list[bytes]) -> None:
    path = tmp_path / "fuzz.jsonl"
    good = json.dumps({"id": "ok", "text": "fine"}).encode()
    body = [c.replace(b"\n", b" ") for c in chunks] + [good]
    path.write_bytes(b"\n".join(body) + b"\n")
    records = list(read_input(detect_input(path)))
    non_blank = sum(1 for c in body if c.strip())
    assert len(records) == non_blank
    assert ("page", {"page_id": "ok", "url": None, "source": str(path), "text": "fine",
                     "html": None}) in records

"""The run report (jobs.report): summary numbers against the parquet files of two small real
runs, drift against the previous run, JSON-ability, terminal tables and a self-contained HTML
file with page texts flagged by the project's own line marking."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from rich.console import Console

from features.schema import FEATURE_NAMES
from jobs.nightly import NightlyConfig, run_nightly
from jobs.report.drift import EPSILON, compute_drift, psi
from jobs.report.html import write_html_report
from jobs.report.pages import FLAGS
from jobs.report.summary import build_summary, latest_partition, print_summary

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("PAGESCORE_SHARED", REPO.parent / "shared")) / "corpus"
CRAWL = CORPUS / "crawl"
DAY1, DAY2 = "2026-01-01", "2026-01-02"

pytestmark = pytest.mark.skipif(not (CORPUS / "seed_page.txt").is_file(),
                                reason=f"the shared corpus is not at {CORPUS}")


def make_runs(root: Path) -> tuple[Path, Path]:
    """Two real nightly runs in ``root/runs``: English web pages on DAY1, Chinese pages plus a
    corrupt record on DAY2 (so there is drift and a quarantined record); the seed page both
    days."""
    inputs = root / "inputs"
    inputs.mkdir()
    seed = inputs / "seed_page.txt"
    seed.write_bytes((CORPUS / "seed_page.txt").read_bytes())

    def head(name: str, n: int = 30) -> list[str]:
        with (CRAWL / name).open(encoding="utf-8") as fh:
            return [next(fh) for _ in range(n)]

    day1 = inputs / "day1.jsonl"
    day1.write_text("".join(head("dolma_ccmain2019_sample.jsonl")), encoding="utf-8")
    day2 = inputs / "day2.jsonl"
    day2.write_text("".join(head("hplt_zh_wide15_sample.jsonl")) + "{not json\n",
                    encoding="utf-8")
    out = root / "runs"
    first = run_nightly(NightlyConfig([seed, day1], out=out, date=DAY1, workers=1)).partition
    second = run_nightly(NightlyConfig([seed, day2], out=out, date=DAY2, workers=1)).partition
    # Noise latest_partition must ignore: no run.json, not a date, staging areas.
    (out / "date=2099-01-01").mkdir()
    (out / "date=not-a-date").mkdir()
    (out / "date=not-a-date" / "run.json").write_text("{}")
    return first, second


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_runs(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def summaries(runs: tuple[Path, Path]) -> tuple[dict[str, Any], dict[str, Any]]:
    return build_summary(runs[0]), build_summary(runs[1])


def _norm(reason: str) -> str:
    return reason.split(":", 1)[0].strip()


def test_latest_partition_is_newest_finished_run(runs: tuple[Path, Path], tmp_path: Path) -> None:
    assert latest_partition(runs[1].parent) == runs[1]
    assert latest_partition(tmp_path) is None
    assert latest_partition(tmp_path / "missing") is None


@pytest.mark.parametrize("day", [0, 1])
def test_summary_counts_match_parquet(runs: tuple[Path, Path],
                                      summaries: tuple[dict[str, Any], ...], day: int) -> None:
    part, s = runs[day], summaries[day]
    scores = pl.read_parquet(part / "scores.parquet")
    quarantine = pl.read_parquet(part / "quarantine.parquet")
    assert s["partition"] == str(part)
    assert s["run_date"] == (DAY1, DAY2)[day]
    assert s["scored"] == scores.height > 0
    assert s["quarantined"] == quarantine.height
    assert s["pages"] == scores.height + quarantine.height
    run = json.loads((part / "run.json").read_text())
    assert s["pages"] == run["counts"]["pages_in"]

    counts = dict(scores.get_column("decision").value_counts().iter_rows())
    assert {d: v["count"] for d, v in s["decisions"].items() if v["count"]} == counts
    assert sum(v["count"] for v in s["decisions"].values()) == s["scored"]
    assert math.isclose(sum(v["share"] for v in s["decisions"].values()), 1.0)

    hist = s["score"]["histogram"]
    assert len(hist) == 20 and sum(b["count"] for b in hist) == s["scored"]
    assert all(sum(b["decisions"].values()) == b["count"] for b in hist)
    q = s["score"]["quantiles"]
    assert s["score"]["min"] <= q["p10"] <= q["p50"] <= q["p90"] <= s["score"]["max"]
    assert math.isclose(s["score"]["mean"], scores.get_column("score").mean())

    assert sum(r["pages"] for r in s["sources"]) == s["scored"]
    assert sum(r["quarantined"] for r in s["sources"]) == s["quarantined"]
    for r in s["sources"]:
        sub = scores.filter(pl.col("source") == r["source"])
        assert r["pages"] == sub.height
        if sub.height:
            assert math.isclose(r["mean_score"], sub.get_column("score").mean())
            assert math.isclose(sum(r["decisions"].values()), 1.0)

    expected: dict[str, int] = {}
    for reasons in scores.get_column("reasons").to_list():
        for reason in {_norm(x) for x in reasons or []}:
            expected[reason] = expected.get(reason, 0) + 1
    assert s["top_reasons"], "the seed page alone has reasons"
    for r in s["top_reasons"]:
        assert ":" not in r["reason"]
        assert r["pages"] == expected[r["reason"]]
    assert [r["pages"] for r in s["top_reasons"]] == sorted(expected.values(),
                                                            reverse=True)[:len(s["top_reasons"])]

    lowest = scores.sort(["score", "page_id"]).head(10)
    assert [p["page_id"] for p in s["lowest"]] == lowest.get_column("page_id").to_list()
    assert [p["reasons"] for p in s["lowest"]] == lowest.get_column("reasons").to_list()


def test_seed_page_is_among_the_lowest(summaries: tuple[dict[str, Any], ...]) -> None:
    for s in summaries:
        seed = [p for p in s["lowest"] if p["page_id"] == "seed_page.txt"]
        assert seed and seed[0]["decision"] == "reject"
        assert any(_norm(r) == "error text" for r in seed[0]["reasons"])


def test_previous_run_and_change(runs: tuple[Path, Path],
                                 summaries: tuple[dict[str, Any], ...]) -> None:
    first, second = summaries
    assert first["previous"] is None and first["change"] is None
    prev = second["previous"]
    assert prev["partition"] == str(runs[0]) and prev["date"] == DAY1
    assert prev["scored"] == first["scored"]
    change = second["change"]
    assert change["scored"] == second["scored"] - first["scored"]
    for d, v in change["decision_shares"].items():
        now = second["decisions"].get(d, {}).get("share", 0.0)
        before = first["decisions"].get(d, {}).get("share", 0.0)
        assert math.isclose(v["delta"], now - before)


def test_drift_covers_every_declared_feature(runs: tuple[Path, Path],
                                             summaries: tuple[dict[str, Any], ...]) -> None:
    first, second = summaries
    for s in summaries:
        assert list(s["drift"]["psi"]) == list(FEATURE_NAMES)
        assert s["drift"]["threshold"] == 0.2
    assert first["drift"]["previous"] is None
    assert all(v is None for v in first["drift"]["psi"].values())
    assert first["drift"]["drifted"] == []

    drift = second["drift"]
    assert drift["previous"] == str(runs[0])
    values = drift["psi"]
    assert all(v is not None and v >= 0 and math.isfinite(v) for v in values.values())
    assert drift["drifted"] == [k for k, v in values.items() if v > 0.2]
    assert drift["drifted"], "English pages one day, Chinese pages the next must drift"

    same = compute_drift(runs[0], runs[0])
    assert all(v == 0 for v in same["psi"].values()) and same["drifted"] == []


def test_psi_definition() -> None:
    assert psi([10, 10, 10], [10, 10, 10]) == 0
    assert psi([10, 10], [0, 0]) is None
    p, q = [0.5, 0.5], [0.8, 0.2]
    expected = sum((b - a) * math.log(b / a) for a, b in zip(p, q, strict=True))
    assert math.isclose(psi([50, 50], [80, 20]), expected)
    # an empty bin is floored at EPSILON instead of making the log infinite
    floored = (1 - 0.5) * math.log(1 / 0.5) + (EPSILON - 0.5) * math.log(EPSILON / 0.5)
    assert math.isclose(psi([5, 5], [10, 0]), floored)


def test_summary_is_json(summaries: tuple[dict[str, Any], ...]) -> None:
    for s in summaries:
        text = json.dumps(s, allow_nan=False)
        assert json.loads(text) == s


def test_print_summary_shows_every_part(summaries: tuple[dict[str, Any], ...]) -> None:
    console = Console(record=True, width=140, color_system=None)
    print_summary(summaries[1], console=console)
    out = console.export_text()
    for text in ("pagescore report " + DAY2, "decisions", "score distribution", "top reasons",
                 "per source", "lowest-scoring pages", "seed_page.txt",
                 "change vs previous run " + DAY1, "drifted features", "quarantined"):
        assert text in out, text
    console = Console(record=True, width=80, color_system=None)
    print_summary(summaries[0], console=console)
    assert "no previous run" in console.export_text()


REMOTE = re.compile(r"<(?:script|link|img|iframe|source|audio|video|embed|object|use)\b[^>]*"
                    r"\b(?:src|href|data|srcset)\s*=\s*[\"']?\s*(?:https?:)?//", re.I)


def report_data(html: str) -> dict[str, Any]:
    m = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html,
                  re.S)
    assert m, "the report embeds its data"
    return json.loads(m.group(1))


def test_html_report_is_self_contained(runs: tuple[Path, Path],
                                       summaries: tuple[dict[str, Any], ...],
                                       tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.html"
    write_html_report(runs[1], summaries[1], path)
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert not REMOTE.search(html), REMOTE.search(html)
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.I)
    assert not re.search(r"<link\b(?![^>]*href=\"data:)", html, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", html, re.I)
    assert html.count("<svg") >= 3 + len(FEATURE_NAMES)  # 3 charts + a card per feature
    for section in ("overview", "decisions", "history", "reasons", "drift", "sources",
                    "pages-section"):
        assert f'<section id="{section}">' in html
    for name in summaries[1]["drift"]["drifted"]:
        assert f'<div class="feat drifted" data-feature="{name}">' in html

    data = report_data(html)
    assert len(data["rows"]) == summaries[1]["scored"]
    assert [r[3] for r in data["rows"]] == sorted(r[3] for r in data["rows"])
    assert len(data["texts"]) == len(data["rows"])  # under 200 pages: every text embedded


def test_html_page_view_flags_come_from_mark_lines(runs: tuple[Path, Path],
                                                  summaries: tuple[dict[str, Any], ...],
                                                  tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html_report(runs[0], summaries[0], path)
    data = report_data(path.read_text(encoding="utf-8"))
    bit = {key: 1 << i for i, (_, key, _) in enumerate(FLAGS)}
    row = next(r for r in data["rows"] if r[0] == "seed_page.txt")
    page = data["texts"][row[6]]
    seed = (CORPUS / "seed_page.txt").read_text(encoding="utf-8").replace("\r", "")
    assert [text for text, _ in page["lines"]] == [x.rstrip() for x in seed.split("\n")]

    seen: set[str] = set()
    for text, flags in page["lines"]:
        line = text.strip()
        repeat = bool(line) and line in seen
        seen.add(line)
        assert bool(flags & bit["dup"]) == repeat, text
        if not line:
            assert flags == 0
    flagged = {key: [t for t, f in page["lines"] if f & b] for key, b in bit.items()}
    assert "403" in flagged["error"]
    assert any(t.startswith("Legal Disclaimer") for t in flagged["boiler"])
    assert len(flagged["promo"]) >= 3
    assert data["reasonFlags"]["error text"] == ["error", "wall"]


def test_empty_run_still_reports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n[1, 2]\n", encoding="utf-8")
    part = run_nightly(NightlyConfig([bad], out=tmp_path / "runs", date=DAY1,
                                     workers=1)).partition
    s = build_summary(part)
    assert s["scored"] == 0 and s["quarantined"] == s["pages"] == 2
    assert s["lowest"] == [] and s["top_reasons"] == []
    json.dumps(s, allow_nan=False)
    print_summary(s, console=Console(record=True, width=100))
    write_html_report(part, s, tmp_path / "empty.html")
    assert report_data((tmp_path / "empty.html").read_text(encoding="utf-8"))["rows"] == []


def test_partition_discovery(tmp_path: Path) -> None:
    from jobs.report.partitions import previous_partition, recent_partitions

    dates = [f"2026-02-{d:02d}" for d in range(1, 29)] + [f"2026-03-{d:02d}" for d in range(1, 8)]
    for d in dates:
        (tmp_path / f"date={d}").mkdir()
        (tmp_path / f"date={d}" / "run.json").write_text("{}")
    (tmp_path / "date=2026-03-08").mkdir()  # unfinished: no run.json
    (tmp_path / ".staging" / "date=2026-03-09").mkdir(parents=True)
    assert latest_partition(tmp_path) == tmp_path / "date=2026-03-07"
    middle = tmp_path / "date=2026-02-10"
    assert previous_partition(middle) == tmp_path / "date=2026-02-09"
    assert previous_partition(tmp_path / "date=2026-02-01") is None
    recent = recent_partitions(tmp_path / "date=2026-03-07")
    assert len(recent) == 30 and recent[-1].name == "date=2026-03-07"
    assert [p.name for p in recent] == sorted(p.name for p in recent)
    assert recent_partitions(middle)[-1] == middle and len(recent_partitions(middle)) == 10

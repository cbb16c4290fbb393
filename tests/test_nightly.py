"""The nightly job end to end, through the real CLI where it matters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLE, SEED, SHARED, needs_shared

from jobs.nightly import NightlyConfig, run_nightly
from jobs.partition import PartitionBusy, partition_lock

PAGESCORE = [sys.executable, "-m", "jobs"]


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*PAGESCORE, *args], capture_output=True, text=True, timeout=600, **kw)


def test_seed_page_is_rejected_with_its_three_defects(tmp_path: Path) -> None:
    res = cli("nightly", str(SEED), "--out", str(tmp_path), "--date", "2026-01-01", "-q")
    assert res.returncode == 0, res.stderr
    df = pl.read_parquet(tmp_path / "date=2026-01-01" / "scores.parquet")
    row = df.row(0, named=True)
    assert row["decision"] == "reject"
    reasons = " | ".join(row["reasons"])
    assert "error text" in reasons and "403" in reasons
    assert "duplicated" in reasons
    assert "promotional link titles" in reasons


def test_sample_run_accounts_for_every_record(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    # The last line escapes half a surrogate pair: valid JSON, but no text polars can hold
    # (it used to fail the whole run).
    bad.write_bytes(b'{"id": "x"}\nnot json\n{"id": "y", "text": "fine text"}\n'
                    b'{"id": "z", "text": "half a pair \\ud800"}\n')
    res = cli("nightly", str(SAMPLE / "crawl_sample.jsonl"), str(SAMPLE / "pages"), str(bad),
              "--out", str(tmp_path / "runs"), "--date", "2026-01-02")
    assert res.returncode == 0, res.stderr
    part = tmp_path / "runs" / "date=2026-01-02"
    run = json.loads((part / "run.json").read_text())
    n_jsonl = sum(1 for line in (SAMPLE / "crawl_sample.jsonl").open() if line.strip())
    n_files = sum(1 for p in (SAMPLE / "pages").iterdir() if p.suffix in (".html", ".txt"))
    scores = pl.read_parquet(part / "scores.parquet")
    quarantine = pl.read_parquet(part / "quarantine.parquet")
    assert run["counts"]["pages_in"] == n_jsonl + n_files + 4
    assert run["counts"]["scored"] == scores.height == n_jsonl + n_files + 1
    assert run["counts"]["quarantined"] == quarantine.height == 3
    assert quarantine.filter(pl.col("reason").str.contains("lone surrogate"))["record"].to_list() \
        == ['{"id": "z", "text": "half a pair \\ud800"}\n']
    assert set(scores["decision"].unique()) <= {"publish", "review", "reject"}
    assert scores["score"].is_between(0, 1).all()
    assert scores.schema["reasons"] == pl.List(pl.String)
    assert "pages in" in res.stdout and str(part) in res.stdout
    assert not (tmp_path / "runs" / ".staging" / "date=2026-01-02").exists()


@needs_shared
def test_whole_crawl_and_seed_add_up(tmp_path: Path) -> None:
    crawl = sorted((SHARED / "corpus" / "crawl").glob("*.jsonl"))
    result = run_nightly(NightlyConfig([SEED, *crawl], out=tmp_path, date="2026-01-03",
                                       workers=2))
    c = result.run["counts"]
    expected = sum(1 for f in crawl for line in f.open() if line.strip()) + 1
    assert c["pages_in"] == c["scored"] + c["quarantined"] == expected


def test_rerun_gives_identical_scores(tmp_path: Path) -> None:
    cfg = NightlyConfig([SAMPLE / "crawl_sample.jsonl"], out=tmp_path, date="2026-01-04",
                        workers=1, batch_size=20)
    first = pl.read_parquet(run_nightly(cfg).partition / "scores.parquet")
    second = pl.read_parquet(run_nightly(cfg).partition / "scores.parquet")
    assert first.equals(second)


def test_resume_after_kill_matches_clean_run(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    args = [str(SAMPLE / "crawl_sample.jsonl"), str(SAMPLE / "pages"), "--date", "2026-01-05",
            "--batch-size", "10", "--workers", "1", "-q"]
    assert cli("nightly", *args, "--out", str(clean)).returncode == 0
    want = pl.read_parquet(clean / "date=2026-01-05" / "scores.parquet")
    killed = tmp_path / "killed"
    for delay in (1.5, 3.0, 4.5):
        proc = subprocess.Popen([*PAGESCORE, "nightly", *args, "--out", str(killed)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.kill()
        proc.wait()
        assert not any((killed / "date=2026-01-05").glob("*.tmp"))
    assert cli("nightly", *args, "--out", str(killed)).returncode == 0
    got = pl.read_parquet(killed / "date=2026-01-05" / "scores.parquet")
    assert got.equals(want)
    assert sorted(p.name for p in (killed / "date=2026-01-05").iterdir()) == [
        "quarantine.parquet", "run.json", "scores.parquet", "texts.parquet"]


def test_second_run_on_same_partition_fails_clearly(tmp_path: Path) -> None:
    with partition_lock(tmp_path, "2026-01-06"):
        with pytest.raises(PartitionBusy), partition_lock(tmp_path, "2026-01-06"):
            pass
        res = cli("nightly", str(SEED), "--out", str(tmp_path), "--date", "2026-01-06", "-q")
        assert res.returncode == 4
        assert "another pagescore run" in res.stderr
    assert not (tmp_path / "date=2026-01-06").exists()


def test_usage_errors_exit_2_before_work(tmp_path: Path) -> None:
    res = cli("nightly", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "does not exist" in res.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").glob("date=*"))
    assert cli("nightly", str(SEED), "--date", "yesterday").returncode == 2
    assert cli("frobnicate").returncode == 2


def test_unwritable_output_fails_early(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/pagescore-out")  # not writable even for root
    else:
        target = tmp_path / "ro"
        target.mkdir(mode=0o500)
    res = cli("nightly", str(SEED), "--out", str(target), "-q")
    assert res.returncode == 1 and "cannot write" in res.stderr


def test_help_explains() -> None:
    res = cli("--help")
    assert res.returncode == 0
    for word in ("nightly", "retrain", "report", "label", "Exit codes"):
        assert word in res.stdout


def test_fail_on_drift_exits_3_when_features_move(tmp_path: Path) -> None:
    english = tmp_path / "en.jsonl"
    chinese = tmp_path / "zh.jsonl"
    rows = [json.loads(line) for line in (SAMPLE / "crawl_sample.jsonl").open()]
    english.write_text("\n".join(json.dumps(r) for r in rows if "dolma" in r["id"]) + "\n")
    chinese.write_text("\n".join(json.dumps(r) for r in rows if "hplt_zh" in r["id"]) + "\n")
    base = ["--out", str(tmp_path / "runs"), "-q", "--fail-on-drift"]
    first = cli("nightly", str(english), "--date", "2026-02-01", *base, "--drift-min-pages", "1")
    assert first.returncode == 0, first.stderr  # nothing to compare with yet
    same = cli("nightly", str(english), "--date", "2026-02-02", *base, "--drift-min-pages", "1")
    assert same.returncode == 0, same.stderr  # identical pages: PSI 0
    moved = cli("nightly", str(chinese), "--date", "2026-02-03", *base, "--drift-min-pages", "1")
    assert moved.returncode == 3 and "PSI > 0.2" in moved.stderr
    small = cli("nightly", str(chinese), "--date", "2026-02-04", *base)
    assert small.returncode == 0 and "not judged" in small.stderr


def test_the_driver_of_a_run_without_quarantined_records_never_imports_pandas(
        tmp_path: Path) -> None:
    """Nothing the driver runs needs pandas, which costs about 0.2 CPU s to import (pyarrow's
    ``Schema.empty_table`` imported it for the empty quarantine file, in every clean run). The
    empty quarantine file is still written, with its schema."""
    code = f"""
import sys
from jobs.cli import main
sys.argv = ["pagescore", "nightly", {str(SEED)!r}, "--out", {str(tmp_path)!r},
            "--date", "2026-01-03", "-q"]
try:
    main()
except SystemExit as exc:
    assert exc.code == 0, exc.code
print("pandas" in sys.modules)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False"]
    quarantine = pl.read_parquet(tmp_path / "date=2026-01-03" / "quarantine.parquet")
    assert quarantine.height == 0 and quarantine.columns == ["source", "page_id", "record",
                                                             "reason"]

"""The Ray engine gives the local engine's partition, also when it resumes the local engine's
parts. Each of the two runs starts (and stops) a private local Ray: 20-40 s each on 2 busy
cores, almost all of it Ray's start-up."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLE

from jobs.nightly import DEFAULT_BATCH_BYTES, NightlyConfig, run_nightly
from jobs.partition import Staging

# exc_type=ImportError: a ray that is installed but fails to import skips too (with -ra the
# reason is printed), instead of failing the collection of the whole suite.
ray = pytest.importorskip(
    "ray", reason="ray is not importable: pip install -e '.[ray]' to test --engine ray",
    exc_type=ImportError)

pytestmark = pytest.mark.ray

INPUTS = [SAMPLE / "crawl_sample.jsonl", SAMPLE / "pages"]
TABLES = ("scores", "quarantine", "texts")
DATE = "2026-02-01"


def _cfg(out: Path, engine: str, workers: int) -> NightlyConfig:
    # batch_size 20: the sample's 134 records make 7 batches, so 2 actors share the work.
    return NightlyConfig(list(INPUTS), out=out, date=DATE, engine=engine, workers=workers,
                         batch_size=20)


def _assert_same_partition(local: Path, other: Path) -> None:
    for name in TABLES:
        a = pl.read_parquet(local / f"{name}.parquet")
        b = pl.read_parquet(other / f"{name}.parquet")
        assert a.equals(b), f"{name}.parquet differs between the engines"
    run_a = json.loads((local / "run.json").read_text())
    run_b = json.loads((other / "run.json").read_text())
    assert run_a["counts"] == run_b["counts"]
    assert run_a["run_key"] == run_b["run_key"]  # the same inputs, model and batching


@pytest.fixture(scope="module")
def local_partition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One worker: in-process, no pool to spawn; the reference only has to be right.
    return run_nightly(_cfg(tmp_path_factory.mktemp("local"), "local", 1)).partition


def test_ray_engine_writes_the_local_engines_tables(tmp_path: Path,
                                                     local_partition: Path) -> None:
    auth_before = os.environ.get("RAY_AUTH_MODE")
    result = run_nightly(_cfg(tmp_path, "ray", 2))
    assert result.run["engine"] == "ray"
    assert result.run["batches"] == {"total": 7, "resumed": 0, "size": 20,
                                     "bytes": DEFAULT_BATCH_BYTES}
    _assert_same_partition(local_partition, result.partition)
    assert not ray.is_initialized(), "the Ray we started must be shut down"
    assert os.environ.get("RAY_AUTH_MODE") == auth_before
    assert not (tmp_path / ".staging" / f"date={DATE}").exists()


def test_ray_engine_resumes_parts_left_by_an_interrupted_run(
        tmp_path: Path, local_partition: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(self: Staging, run_json: dict) -> Path:
        raise RuntimeError("killed before commit")

    with monkeypatch.context() as m:  # an interrupted local run: every part, no commit
        m.setattr(Staging, "commit", crash)
        with pytest.raises(RuntimeError, match="killed before commit"):
            run_nightly(_cfg(tmp_path, "local", 1))
    parts = sorted((tmp_path / ".staging" / f"date={DATE}" / "parts").glob("batch-*"))
    assert len(parts) == 7
    for p in parts[1::2]:  # lose batches 1, 3, 5: the Ray run must redo exactly those
        shutil.rmtree(p)

    # One actor: this test is about which batches run, and a second actor start costs seconds.
    result = run_nightly(_cfg(tmp_path, "ray", 1))
    assert result.run["batches"]["resumed"] == 4
    _assert_same_partition(local_partition, result.partition)


def test_ray_client_address_is_refused_before_any_work(tmp_path: Path) -> None:
    from jobs.engine_ray import RayEngineError

    cfg = _cfg(tmp_path, "ray", 2)
    cfg.ray_address = "ray://head.example:10001"
    with pytest.raises(RayEngineError, match="does not run over Ray Client"):
        run_nightly(cfg)
    assert not ray.is_initialized()
    assert not list((tmp_path / ".staging" / f"date={DATE}" / "parts").glob("batch-*"))

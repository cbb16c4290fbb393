"""Output partitions written atomically, resumable batch parts, and one run per partition.

Layout under ``OUT``::

    OUT/date=YYYY-MM-DD/            the committed partition (appears whole, by a rename)
    OUT/.staging/date=YYYY-MM-DD/   work in progress: parts/batch-NNNNNN/ and final/
    OUT/.locks/date=YYYY-MM-DD.lock held (flock) by the run writing that partition
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl


class PartitionBusy(RuntimeError):
    """Another run is writing the same partition."""


class OutputError(RuntimeError):
    """The output location cannot be written."""


def partition_name(date: str) -> str:
    return f"date={date}"


def check_writable(out: Path, need_bytes: int = 0) -> None:
    """Fail before any work when OUT cannot take the run's output."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write to output directory {out}: {exc.strerror or exc}") from exc
    free = shutil.disk_usage(out).free
    if need_bytes and free < need_bytes:
        raise OutputError(f"not enough free space in {out}: {free / 2**20:.0f} MiB free, this "
                          f"run needs about {need_bytes / 2**20:.0f} MiB")


@contextmanager
def partition_lock(out: Path, date: str, wait: bool = False) -> Iterator[None]:
    lock_dir = out / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{partition_name(date)}.lock"
    fh = path.open("a+")
    try:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(fh.fileno(), flags)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise PartitionBusy(
                f"another pagescore run is writing {out / partition_name(date)} ({holder}); "
                "wait for it, or pass --wait to queue behind it"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}")
        fh.flush()
        yield
    finally:
        fh.close()  # closing releases the flock, also when the process is killed


class Staging:
    """Work area of one partition's run; parts survive a crash so a rerun resumes."""

    def __init__(self, out: Path, date: str, run_key: str):
        self.out = out
        self.date = date
        self.run_key = run_key
        self.root = out / ".staging" / partition_name(date)
        self.parts = self.root / "parts"
        self.final = self.root / "final"

    def prepare(self) -> int:
        """Keep parts of an interrupted run with the same key, else start clean.
        Returns the number of completed batches found."""
        key_file = self.root / "run_key"
        if self.root.exists() and (not key_file.exists() or key_file.read_text() != self.run_key):
            shutil.rmtree(self.root)
        self.parts.mkdir(parents=True, exist_ok=True)
        if not key_file.exists():
            _write_atomic(key_file, self.run_key.encode())
        for leftover in self.parts.glob("*.tmp"):
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.rmtree(self.final, ignore_errors=True)
        return sum(1 for _ in self.parts.glob("batch-*"))

    def batch_dir(self, index: int) -> Path:
        return self.parts / f"batch-{index:06d}"

    def is_done(self, index: int) -> bool:
        return self.batch_dir(index).is_dir()

    def write_batch(self, index: int, tables: dict[str, pl.DataFrame],
                    meta: dict[str, Any]) -> None:
        """All files of a batch appear together: written in a temp dir, then one rename."""
        tmp = self.parts / f"batch-{index:06d}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for name, df in tables.items():
            df.write_parquet(tmp / f"{name}.parquet", compression="zstd")
        (tmp / "meta.json").write_text(json.dumps(meta))
        _fsync_dir_files(tmp)
        os.replace(tmp, self.batch_dir(index))

    def batch_dirs(self) -> list[Path]:
        return sorted(self.parts.glob("batch-[0-9][0-9][0-9][0-9][0-9][0-9]"))

    def commit(self, run_json: dict[str, Any]) -> Path:
        """Concatenate parts into final/, then swap final/ in as OUT/date=D."""
        self.final.mkdir(parents=True, exist_ok=True)
        dirs = self.batch_dirs()
        for name in ("scores", "texts", "quarantine"):
            files = [str(d / f"{name}.parquet") for d in dirs]
            target = self.final / f"{name}.parquet"
            if files:
                concat_parquet(files, target)
            else:
                pl.DataFrame().write_parquet(target)
        _write_atomic(self.final / "run.json",
                      json.dumps(run_json, indent=2, sort_keys=True).encode())
        _fsync_dir_files(self.final)
        dest = self.out / partition_name(self.date)
        old = self.root / "previous"
        if dest.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dest, old)
        os.replace(self.final, dest)
        shutil.rmtree(self.root, ignore_errors=True)
        return dest


def concat_parquet(files: list[str], target: Path) -> None:
    """Append the parts' row groups one at a time: memory stays at one batch whatever the
    run's size (a polars scan+sink held several hundred MB more at 100k pages)."""
    import pyarrow.parquet as pq

    writer: pq.ParquetWriter | None = None
    try:
        for f in files:
            part = pq.ParquetFile(f)
            if writer is None:
                writer = pq.ParquetWriter(target, part.schema_arrow, compression="zstd")
            for i in range(part.num_row_groups):
                writer.write_table(part.read_row_group(i))
    finally:
        if writer is not None:
            writer.close()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_dir_files(directory: Path) -> None:
    for f in directory.iterdir():
        if f.is_file():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

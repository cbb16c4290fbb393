"""The nightly run: read inputs -> batches -> (extract, features, score) -> parts -> partition."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path
from typing import Any

from features.phrases import phrase_lists_digest
from features.schema import FEATURE_SCHEMA_VERSION
from jobs import __version__
from jobs.partition import (
    ResourceError,
    Staging,
    check_memory,
    check_writable,
    partition_lock,
    write_atomic,
)
from jobs.readers import (
    Input,
    Record,
    detect_input,
    held_open,
    is_plain_jsonl,
    jsonl_line_ranges,
    read_input,
    record_bytes,
)
from jobs.worker import WORKER_ENV, WORKER_PRELOAD, Batch, init_worker, run_batch, skipped_meta
from models.registry import ModelRef, verify_model

DEFAULT_BATCH_SIZE = 4000
# A batch also ends with the record (or JSONL line) that brings it to this many bytes: 4,000
# crawl texts are about 20 MB, 4,000 raw HTML pages 600 MB, which a worker must not hold.
DEFAULT_BATCH_BYTES = 20 << 20


@dataclass
class NightlyConfig:
    inputs: list[Path]
    out: Path = Path("runs")
    date: str = field(default_factory=lambda: dt.date.today().isoformat())
    model_version: str | None = None
    workers: int = 0  # 0: one per CPU core
    batch_size: int = DEFAULT_BATCH_SIZE
    wait_for_lock: bool = False
    engine: str = "local"
    ray_address: str | None = None
    batch_bytes: int = DEFAULT_BATCH_BYTES


@dataclass
class BatchLog:
    """What the engines report as batches finish: metas, records done, time spent reading.
    ``after_batch`` runs after each one (the staging's ``append_finished``, timed in
    ``append_s``)."""

    on_progress: Callable[[int, int], None] | None = None
    after_batch: Callable[[], None] | None = None
    metas: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    read_s: float = 0.0
    append_s: float = 0.0

    def add(self, meta: dict[str, Any]) -> None:
        self.metas.append(meta)
        self.records += meta["pages"] + meta["quarantined"]
        if self.after_batch:
            t = time.perf_counter()
            self.after_batch()
            self.append_s += time.perf_counter() - t
        if self.on_progress:
            self.on_progress(self.records, meta["index"])

    def timed(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        """The batches, with the time spent producing them (reading) added to ``read_s``."""
        while True:
            t = time.perf_counter()
            batch = next(batches, None)
            self.read_s += time.perf_counter() - t
            if batch is None:
                return
            yield batch


@dataclass
class NightlyResult:
    partition: Path
    run: dict[str, Any]


def resolve_inputs(paths: list[Path]) -> list[Input]:
    """Detect every input's format up front: a bad path is a usage error before any work."""
    return [detect_input(p) for p in paths]


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        try:
            with f.open("rb") as fh:
                for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(chunk)
        except OSError as exc:
            # An unreadable file is quarantined by the reader, not a crash of the run; its
            # error still goes into the run key so a repaired file is not "already done".
            h.update(f"unreadable: {exc.strerror or exc}".encode())
    return h.hexdigest()


def input_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def iter_batches(inputs: list[Input], batch_size: int,
                 read_paths: dict[Path, str] | None = None,
                 batch_bytes: int | None = None) -> Iterator[Batch]:
    """Deterministic batches of ``batch_size`` units in input order, or fewer: a batch also
    ends with the unit that brings it to ``batch_bytes`` (``jobs.readers.record_bytes``: raw
    HTML pages are large). A unit is a record (it becomes one page or one quarantined record)
    or, in a plain JSONL file, a line: such a file is cut into ``LineRange``s the workers read
    and parse themselves, so a batch of it holds ``batch_size`` lines, blank ones included, or
    fewer that reach ``batch_bytes`` (``jobs.readers.jsonl_line_ranges``, which reads such a
    file at its ``read_paths`` entry if it has one: ``jobs.readers.held_open``)."""
    if batch_size < 1 or (batch_bytes is not None and batch_bytes < 1):
        raise ValueError(f"batch_size and batch_bytes must be at least 1, got {batch_size} "
                         f"and {batch_bytes}")
    max_bytes = batch_bytes or 1 << 62
    records: list[Record] = []
    filled = filled_bytes = 0  # units and bytes (``record_bytes``) in ``records``
    index = 0
    for inp in inputs:
        if is_plain_jsonl(inp):
            units = jsonl_line_ranges(
                inp, chain([(batch_size - filled, max_bytes - filled_bytes)],
                           repeat((batch_size, max_bytes))),
                (read_paths or {}).get(inp.path))
        else:
            units = read_input(inp, defer_json=True)
        for record in units:
            records.append(record)
            filled += record[1].n_lines if record[0] == "lines" else 1
            filled_bytes += record_bytes(record)
            if filled >= batch_size or filled_bytes >= max_bytes:
                yield Batch(index, records)
                index += 1
                records, filled, filled_bytes = [], 0, 0
    if records:
        yield Batch(index, records)


# --- driver side ----------------------------------------------------------------------------

def run_nightly(cfg: NightlyConfig, on_progress: Callable[[int, int], None] | None = None,
                registry: Path | None = None) -> NightlyResult:
    """Run (or resume) one partition. Raises InputError/OutputError/PartitionBusy/ModelError."""
    started = time.time()
    inputs = resolve_inputs(cfg.inputs)
    sizes = [input_size(i.path) for i in inputs]  # a folder's size walks it: once per run
    check_writable(cfg.out, need_bytes=sum(sizes))
    check_memory(cfg.batch_bytes)
    kwargs = {"registry": registry} if registry else {}
    model = verify_model(cfg.model_version, **kwargs)  # before any work; workers unpickle it
    with partition_lock(cfg.out, cfg.date, wait=cfg.wait_for_lock):
        t_hash = time.perf_counter()
        input_meta = [{"path": str(i.path), "format": i.kind, "bytes": size,
                       "sha256": file_digest(i.path)} for i, size in zip(inputs, sizes, strict=True)]
        hash_s = time.perf_counter() - t_hash
        run_key = hashlib.sha256(json.dumps({
            "inputs": input_meta, "model": model.sha256, "schema": FEATURE_SCHEMA_VERSION,
            "phrases": phrase_lists_digest(), "batch_size": cfg.batch_size,
            "batch_bytes": cfg.batch_bytes,
            # What a batch holds: a stage of an earlier version that cut batches otherwise
            # (records, not lines, of a JSONL file) must not be resumed.
            "batch_units": "jsonl-lines",
            "version": __version__,
        }, sort_keys=True).encode()).hexdigest()[:20]
        staging = Staging(cfg.out, cfg.date, run_key)
        resumed = staging.prepare()
        try:
            with held_open(inputs) as read_paths:
                log = _drive(cfg, inputs, staging, model, registry, on_progress, read_paths)
            run = _run_json(cfg, input_meta, model, staging, log, resumed, run_key, started,
                            hash_s)
            t_commit = time.perf_counter()
            dest = staging.commit(run)
        except BaseException:
            staging.drop_final()  # its open files must not be flushed at exit (a full disk)
            raise
        run["timings"]["commit"] = round(time.perf_counter() - t_commit, 3)
        # Atomic: the partition is already visible, a kill here must not leave half a file.
        write_atomic(dest / "run.json", json.dumps(run, indent=2, sort_keys=True).encode())
    return NightlyResult(dest, run)


def _drive(cfg: NightlyConfig, inputs: list[Input], staging: Staging, model: ModelRef,
           registry: Path | None, on_progress: Callable[[int, int], None] | None,
           read_paths: dict[Path, str]) -> BatchLog:
    if cfg.engine == "ray":
        from jobs.engine_ray import run_batches_on_ray

        return run_batches_on_ray(cfg, inputs, staging, registry, on_progress, model=model,
                                  read_paths=read_paths)
    workers = cfg.workers or os.cpu_count() or 1
    staging_args = (staging.out, staging.date, staging.run_key)
    log = BatchLog(on_progress, staging.append_finished)
    batches = log.timed(iter_batches(inputs, cfg.batch_size, read_paths, cfg.batch_bytes))
    if workers == 1:
        init_worker(model.version, str(registry) if registry else None)
        for batch in batches:
            log.add(skipped_meta(staging, batch.index) if staging.is_done(batch.index)
                    else run_batch(staging_args, batch))
        return log

    # The fork server, and so every worker, starts with WORKER_ENV (restored afterwards).
    env_before = {k: os.environ.get(k) for k in WORKER_ENV}
    os.environ.update(WORKER_ENV)
    try:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=_worker_context(),
            initializer=init_worker,
            initargs=(model.version, str(registry) if registry else None, os.getpid()),
        ) as pool:
            pending: set[Future] = set()
            for batch in batches:
                if staging.is_done(batch.index):
                    log.add(skipped_meta(staging, batch.index))
                    continue
                pending.add(pool.submit(run_batch, staging_args, batch))
                if len(pending) >= 2 * workers:  # bounded memory: at most 2 batches per worker
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        log.add(f.result())
            for f in pending:
                log.add(f.result())
    except BrokenProcessPool as exc:
        # A worker was killed (out of memory under a limit, the OOM killer, a crash in native
        # code): report it as a failed run with a message; finished batches stay for a rerun.
        raise ResourceError(f"a worker process died abruptly ({exc}); out of memory? "
                            "finished batches are kept: rerun to resume") from exc
    finally:
        _stop_fork_server()
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return log


def _worker_context() -> Any:
    """Workers forked from a fork server that has imported ``jobs.worker.WORKER_PRELOAD``.

    Not plain fork: the driver may hold polars/OpenMP threads, which a fork does not copy. The
    server is started (once per driver process) with the environment set above, one polars
    thread and one OpenMP thread, and runs nothing but imports, so forking it is safe."""
    import multiprocessing as mp

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(WORKER_PRELOAD)
    return ctx


def _stop_fork_server() -> None:
    """Stop the fork server and wait for it, as the run ends.

    It reaps the workers it forked, so waiting for it brings their CPU time into this
    process's children's (what /usr/bin/time, cgroups-less schedulers and the benchmark
    measure); and no server outlives the run. CPython has no public call for this: without its
    (test-only) ``_stop`` the server ends when this process does, only less tidily."""
    from multiprocessing import forkserver

    stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)
    if stop is not None:
        stop()


def _thresholds_used(model: ModelRef, metas: list[dict[str, Any]]) -> dict[str, Any]:
    """The thresholds the workers decided with (the driver never unpickles the model); the
    card's only when no batch reported them (a run of zero batches)."""
    for meta in metas:
        if meta.get("thresholds"):
            return meta["thresholds"]
    return {k: model.card.get("thresholds", {}).get(k) for k in ("publish", "reject")}


def _run_json(cfg: NightlyConfig, input_meta: list[dict[str, Any]], model: ModelRef,
              staging: Staging, log: BatchLog, resumed: int, run_key: str,
              started: float, hash_s: float) -> dict[str, Any]:
    """run.json; ``timings``: the driver's ``read`` (hashing the inputs included) and
    ``append`` (to the final files during the run), then the workers' stages summed."""
    import polars as pl

    n = len(staging.batch_dirs())
    scores = pl.scan_ipc([staging.part_file(i, "scores") for i in range(n)]) if n else None
    quarantine = (pl.scan_ipc([staging.part_file(i, "quarantine") for i in range(n)])
                  if n else None)
    scored = scores.select(pl.len()).collect().item() if scores is not None else 0
    quarantined = quarantine.select(pl.len()).collect().item() if quarantine is not None else 0
    decisions = (
        dict(scores.group_by("decision").len().collect().iter_rows()) if scored else {}
    )
    metas = log.metas
    stage = {"read": log.read_s + hash_s, "append": log.append_s}
    for m in metas:
        for k, v in m["timings"].items():
            stage[k] = stage.get(k, 0.0) + v
    return {
        "pagescore_version": __version__,
        "date": cfg.date,
        "run_key": run_key,
        "engine": cfg.engine,
        "inputs": input_meta,
        "counts": {"pages_in": scored + quarantined, "scored": scored,
                   "quarantined": quarantined, "decisions": decisions},
        "model": {"version": model.version, "sha256": model.sha256,
                  "thresholds": _thresholds_used(model, metas)},
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
        "phrase_lists_digest": phrase_lists_digest(),
        "batches": {"total": n, "resumed": resumed, "size": cfg.batch_size,
                    "bytes": cfg.batch_bytes},
        "timings": {k: round(v, 3) for k, v in stage.items()}
        | {"wall": round(time.time() - started, 3)},
        "finished": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
    }

"""The unit of work both engines run in their worker processes: one batch of records in, one
finished part out (``Staging.write_batch``) and its meta back to the driver.

The driver only reads records (JSONL lines stay unparsed, ``jobs.readers.resolve_record``) and
cuts them into batches; everything per page happens here, in parallel.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobs.partition import Staging, bind_to_parent, check_memory
from jobs.readers import Record, expand_records, line_range_bytes, resolve_record
from models.registry import REGISTRY_DIR, LoadedModel, load_scorer

# The environment worker processes start with (both engines). One polars and one OpenMP thread:
# the processes already use the cores. Allocators that keep freed memory for the next batch
# instead of handing it back to the kernel and faulting it in again: a worker allocates about
# the same buffers for every batch, and on 100,000 pages this halved the system CPU time
# (page faults 1.3 million -> 0.3 million) for 30 MB more peak memory. glibc's malloc (numpy,
# numba) and polars' jemalloc (prefix _RJEM_) read these when the process starts.
WORKER_ENV = {
    "POLARS_MAX_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MALLOC_MMAP_THRESHOLD_": str(256 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
    "_RJEM_MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1",
}
# What the local engine's fork server imports before it forks the workers (``jobs.nightly``):
# the modules every worker runs and numba's set-up, paid once per run instead of per worker.
# Not LightGBM (with scikit-learn, SciPy and pandas, about 1.7 CPU s): workers score with the
# compiled model (``models.compiled``); only a model without one makes them import it.
WORKER_PRELOAD = ["jobs.worker_preload"]


@dataclass
class Batch:
    """``records`` in input order, as ``jobs.nightly.iter_batches`` cuts them: lines of a
    plain JSONL file as ``"lines"`` records, not read yet."""

    index: int
    records: list[Record]

    def read(self) -> Batch:
        """This batch with its ``"lines"`` records read: for an engine whose workers may not
        see the driver's files (Ray on a cluster)."""
        return Batch(self.index, list(expand_records(self.records)))

    def range_data(self) -> list[bytes | Record | None]:
        """Per record, the bytes of its lines if it is a run of JSONL lines short enough to
        read whole (or the quarantined record of lines that cannot be read); else None. Read
        once, for ``text_columns`` and, if that declines, ``resolved``."""
        return [line_range_bytes(rng) if kind == "lines" else None
                for kind, rng in self.records]

    def text_columns(self, range_data: list[bytes | Record | None] | None = None
                     ) -> dict[str, Any] | None:
        """The batch's pages as columns (``jobs.pipeline.text_pages_frame``'s arguments)
        when it is all lines of JSONL files and every one of them is a plain text record
        (``jobs.jsonl_scan``); else None, and ``resolved`` reads it. ``range_data``: this
        batch's ``range_data()``, if read already."""
        from jobs import readers
        from jobs.jsonl_scan import scan_text_records

        parts = []
        for (kind, rng), data in zip(self.records, range_data or self.range_data(),
                                     strict=True):
            if kind != "lines" or not isinstance(data, bytes):
                return None
            scanned = scan_text_records(data, rng.n_lines, rng.source, rng.first_lineno,
                                        readers.MAX_PAGE_BYTES)
            if scanned is None:
                return None
            parts.append((rng.source, scanned))
        if not parts:
            return None
        if len(parts) == 1:
            source, only = parts[0]
            return {"page_id": only.page_id, "url": only.url,
                    "source": [source] * len(only.page_id), "text": only.text}
        import pyarrow as pa

        return {"page_id": [p for _, s in parts for p in s.page_id],
                "url": pa.concat_arrays([s.url for _, s in parts]),
                "source": [src for src, s in parts for _ in s.page_id],
                "text": pa.concat_arrays([s.text for _, s in parts])}

    def resolved(self, range_data: list[bytes | Record | None] | None = None
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(pages, quarantined records), each in input order. ``range_data``: this batch's
        ``range_data()``, if read already."""
        pages: list[dict[str, Any]] = []
        quarantined: list[dict[str, Any]] = []
        for record in expand_records(self.records, range_data):
            kind, payload = resolve_record(record)
            (pages if kind == "page" else quarantined).append(payload)
        return pages, quarantined


_MODEL: dict[str, LoadedModel] = {}


def init_worker(model_version: str | None, registry: str | None,
                parent_pid: int | None = None) -> LoadedModel:
    """Load (and verify) the model once per worker process; return it. Its compiled form
    where the registry has one (``models.compiled``): no LightGBM import, no unpickling."""
    if parent_pid is not None:  # local pool: never outlive (and write after) a killed run
        bind_to_parent(parent_pid)
    check_memory()  # caps malloc arenas under `ulimit -v` in this process too
    _MODEL["model"] = load_scorer(model_version, Path(registry) if registry else REGISTRY_DIR)
    return _MODEL["model"]


def run_batch(staging_args: tuple[Path, str, str], batch: Batch) -> dict[str, Any]:
    """Score one batch with the worker's model and write its part; return the batch meta."""
    from jobs.pipeline import process_batch, score_extracted, text_pages_frame

    staging = Staging(*staging_args)
    loaded = _MODEL["model"]
    t = time.perf_counter()
    range_data = batch.range_data()
    columns = batch.text_columns(range_data)
    if columns is None:
        pages, quarantined = batch.resolved(range_data)
    del range_data  # parsed: the lines' bytes need not stay through the scoring
    parse_s = time.perf_counter() - t
    if columns is not None:
        t = time.perf_counter()
        extracted = text_pages_frame(**columns)
        result = score_extracted(extracted, [], loaded, time.perf_counter() - t)
    else:
        result = process_batch(pages, quarantined, loaded)
    thresholds = loaded.model.thresholds
    meta = {"index": batch.index, "pages": result["scores"].height,
            "quarantined": result["quarantine"].height,
            "timings": {"parse": parse_s} | result["timings"],
            "thresholds": {"publish": thresholds.publish, "reject": thresholds.reject}}
    t = time.perf_counter()
    staging.write_batch(batch.index, {k: result[k] for k in ("scores", "texts", "quarantine")},
                        meta)
    meta["timings"]["write"] = time.perf_counter() - t
    return meta


def skipped_meta(staging: Staging, index: int) -> dict[str, Any]:
    """The meta of a batch an earlier attempt of the same run finished (a resumed batch)."""
    meta = json.loads((staging.batch_dir(index) / "meta.json").read_text())
    meta["resumed"] = True
    return meta

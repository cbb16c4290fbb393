"""compute_features over many rows on all cores (retrain on 100k pages; the nightly job has its
own batch pool). Same function, same output, in row order."""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor

import polars as pl

CHUNK_ROWS = 2000


def _chunk_features(frame: pl.DataFrame) -> pl.DataFrame:
    from features.compute import compute_features

    return compute_features(frame)


def compute_features_parallel(pages: pl.DataFrame, workers: int = 0) -> pl.DataFrame:
    """``compute_features`` on chunks in worker processes; one process when that is enough."""
    from features.compute import compute_features

    workers = workers or os.cpu_count() or 1
    if workers == 1 or pages.height <= 2 * CHUNK_ROWS:
        return compute_features(pages)
    chunks = [pages.slice(i, CHUNK_ROWS) for i in range(0, pages.height, CHUNK_ROWS)]
    # Each worker runs polars on one thread: the processes already use the cores.
    saved = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"
    try:
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            parts = list(pool.map(_chunk_features, chunks))
    finally:
        if saved is None:
            os.environ.pop("POLARS_MAX_THREADS", None)
        else:
            os.environ["POLARS_MAX_THREADS"] = saved
    return pl.concat(parts)

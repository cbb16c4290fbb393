"""Time `retrain` on N labelled pages (the shipped labelled table replicated to N rows).

    .venv/bin/python bench/retrain_bench.py --rows 100000

Replicas keep their source group, so grouped cross-validation still holds each source on one
side. Writes to a temporary registry, never to models/registry. Prints seconds for features and
for the whole retrain (features, 5-fold CV of two model families, final fit, registration).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import polars as pl

from models.train import load_training_table, retrain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    table = load_training_table()
    reps = -(-args.rows // table.height)
    big = pl.concat([
        table.with_columns(pl.col("page_id") + f"#{i}") for i in range(reps)
    ]).head(args.rows)
    mb = big["text"].str.len_bytes().sum() / 1e6
    stamps: dict[str, float] = {}
    start = time.perf_counter()

    def progress(msg: str) -> None:
        stamps[msg] = time.perf_counter() - start
        print(f"{stamps[msg]:7.1f} s  {msg}", flush=True)

    with tempfile.TemporaryDirectory() as reg:
        result = retrain(big, registry=Path(reg), progress=progress)
    total = time.perf_counter() - start
    print(f"retrain on {big.height} labelled pages ({mb:.0f} MB of text): {total:.1f} s "
          f"wall; {result.message}")


if __name__ == "__main__":
    main()

"""Imported by the nightly fork server, once per run, before it forks the workers.

What is imported and initialised here is in every forked worker from the start, instead of
being paid for once per worker: the modules a worker runs, the tables every batch reads, and
numba's first compiled function (LLVM's set-up, about 0.45 CPU s, with the scoring kernels).
Nothing here may use polars: its thread pool would not survive the fork
(``jobs.nightly._worker_context``).
"""

from __future__ import annotations

import sys

import pyarrow.compute  # noqa: F401  (polars imports it on a worker's first batch: 0.07 s)

import jobs.pipeline  # noqa: F401
import jobs.worker  # noqa: F401
import models.compiled  # noqa: F401
from features.kernels import packed_classes
from features.lines import line_automaton
from features.unicode_table import load_table
from jobs.jsonl_scan import warm_up as warm_up_jsonl_scan
from models.tree_contributions import warm_up


def _prepare() -> None:
    # Tables every batch reads, built once here (cached in their modules), not once per
    # worker: the phrase automaton alone is about 0.05 CPU s. None of them uses polars.
    load_table()
    packed_classes()
    line_automaton()
    warm_up()
    warm_up_jsonl_scan()


try:
    _prepare()
except Exception as exc:  # the workers then do it on first use and report what fails there
    # (an exception here would kill the fork server with nothing but "aborted" on the run)
    print(f"pagescore: preparing the workers failed ({type(exc).__name__}: {exc}); each "
          "worker prepares on first use", file=sys.stderr)

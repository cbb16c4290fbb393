"""Imported by the nightly fork server, once per run, before it forks the workers.

What is imported and initialised here is in every forked worker from the start, instead of
being paid for once per worker: the modules a worker runs, and numba's first compiled function
(LLVM's set-up, about 0.45 CPU s, with the scoring kernels). Nothing here may use polars: its
thread pool would not survive the fork (``jobs.nightly._worker_context``).
"""

from __future__ import annotations

import sys

import pyarrow  # noqa: F401

import jobs.pipeline  # noqa: F401
import jobs.worker  # noqa: F401
import models.compiled  # noqa: F401
from models.tree_contributions import warm_up

try:
    warm_up()
except Exception as exc:  # the workers then compile on first use: slower, not wrong
    print(f"pagescore: warming the scoring kernels failed ({type(exc).__name__}: {exc}); "
          "workers compile them on first use", file=sys.stderr)

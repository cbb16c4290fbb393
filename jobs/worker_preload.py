"""Imported by the nightly fork server, once per run, before it forks the workers.

What is imported and initialised here is in every forked worker from the start, instead of
being paid for once per worker: the modules a worker runs, the tables every batch reads, and
numba's first compiled function (LLVM's set-up, about 0.45 CPU s, with the scoring kernels).
Nothing here may use polars: its thread pool would not survive the fork
(``jobs.nightly._worker_context``).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def without_scipy_linalg() -> Iterator[None]:
    """numba's first compilation imports ``numba.np.arraymath``, which imports scipy.linalg
    only to learn whether ``np.dot`` of two vectors may call BLAS; with SciPy 1.17 that pulls
    in numpy.f2py and charset_normalizer, about 0.1-0.2 CPU s of a run. No kernel here calls
    ``np.dot``, so while numba loads, scipy.linalg is made to look missing: numba notes "no
    BLAS" (its plain loop would serve ``np.dot``) and scipy.linalg imports as usual afterwards
    (LightGBM and scikit-learn, for a model with no compiled form)."""
    if "scipy.linalg" in sys.modules:  # already loaded: nothing to save
        yield
        return
    sys.modules["scipy.linalg"] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        yield
    finally:
        if sys.modules.get("scipy.linalg", 0) is None:
            del sys.modules["scipy.linalg"]


def _load_and_prepare() -> None:
    # The modules every worker runs, then the tables every batch reads, built once here
    # (cached in their modules), not once per worker: the phrase automaton alone is about
    # 0.05 CPU s. None of them uses polars.
    import pyarrow.compute  # noqa: F401  (polars imports it on a worker's first batch: 0.07 s)

    with without_scipy_linalg():
        import numba.np.arraymath  # noqa: F401

    import jobs.pipeline  # noqa: F401
    import jobs.worker  # noqa: F401
    import models.compiled  # noqa: F401
    from features.kernels import packed_classes
    from features.lines import line_automaton
    from features.unicode_table import load_table
    from jobs.jsonl_scan import warm_up as warm_up_jsonl_scan
    from models.tree_contributions import warm_up

    load_table()
    packed_classes()
    line_automaton()
    warm_up()
    warm_up_jsonl_scan()


# No cyclic garbage collection while numba, polars and the kernels load: their tens of
# thousands of new objects set off collection after collection (about 0.2 CPU s). Then
# everything loaded is frozen, so no collection in a worker walks it again.
gc.disable()
try:
    _load_and_prepare()
except Exception as exc:  # the workers then do it on first use and report what fails there
    # (an exception here would kill the fork server with nothing but "aborted" on the run)
    print(f"pagescore: preparing the workers failed ({type(exc).__name__}: {exc}); each "
          "worker prepares on first use", file=sys.stderr)
finally:
    gc.freeze()
    gc.enable()

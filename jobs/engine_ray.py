"""The Ray engine: the same per-batch unit as the local process pool, run by Ray Data actors.

The driver reads the inputs (``iter_batches``, so batch boundaries and indices are exactly the
local engine's), skips batches a previous attempt already finished, and hands the rest to Ray
in windows of a few batches per worker, so it never holds more than one window of records.
Each window becomes a small ``ray.data`` dataset mapped by an actor pool; every actor loads the
model once and runs ``jobs.nightly._run_batch``, the function the local pool runs, so both
engines write the same parts through ``Staging.write_batch`` and commit the same tables.

Workers write the parts themselves, so ``OUT`` must be a filesystem every Ray node mounts at
the same path (see docs/scale-out.md).
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from jobs.nightly import Batch, NightlyConfig, _init_worker, _run_batch, _skipped, iter_batches
from jobs.partition import Staging
from jobs.readers import Input
from models.registry import REGISTRY_DIR, LoadedModel, ModelError, read_index

# Batches in flight per worker. Each window pays a few hundred ms of dataset and actor
# start-up, so a window must hold several batches per worker; it is also the driver's memory
# bound (one window of records, plus the same bytes once in Ray's object store).
WINDOW_BATCHES_PER_WORKER = 4

# Top-level entries of the source tree that workers need: the three packages, plus the phrase
# lists features/phrases.py reads from data/phrases. Everything else (.venv, .git, bench,
# runs, data/training, ...) stays home: Ray caps a working_dir upload and an unknown big file
# dropped into the checkout must not be shipped to every node each night.
_SHIPPED = {"jobs", "features", "models", "data"}
_SHIPPED_DATA = {"phrases"}

# One CPU per actor; polars and BLAS would otherwise start a thread per core in every actor
# and oversubscribe the node (the local engine sets the same for its worker processes).
_WORKER_ENV = {"POLARS_MAX_THREADS": "1", "OMP_NUM_THREADS": "1"}


class BatchRunner:
    """Ray Data actor: loads and verifies the model once, then runs whole batches."""

    def __init__(self, staging_args: tuple[str, str, str], version: str,
                 expected_sha256: str, registry: str | None) -> None:
        _init_worker(version, registry)  # hash and schema are verified by load_model
        from jobs.nightly import _WORKER

        loaded: LoadedModel = _WORKER["model"]
        if loaded.sha256 != expected_sha256:
            # The run key names one model; a node with another copy of the registry must not
            # mix a second model's scores into the partition.
            raise ModelError(
                f"model {version} on this Ray worker has sha256 {loaded.sha256[:12]}..., the "
                f"driver verified {expected_sha256[:12]}...: ship or install the same registry"
            )
        out, date, run_key = staging_args
        self._staging_args = (Path(out), date, run_key)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        pages, quarantined = pickle.loads(row["payload"])
        meta = _run_batch(self._staging_args, Batch(int(row["index"]), pages, quarantined))
        # JSON, not a nested Arrow struct: the meta goes back to run.json unchanged.
        return {"meta": json.dumps(meta)}


def run_batches_on_ray(cfg: NightlyConfig, inputs: list[Input], staging: Staging,
                       registry: Path | None,
                       on_progress: Callable[[int, int], None] | None,
                       loaded: LoadedModel | None = None) -> tuple[float, list[dict[str, Any]]]:
    """Run every batch not yet in ``staging`` on Ray; return (seconds reading, batch metas).

    ``loaded`` is the model the driver verified; without it the model is resolved again from
    the registry (same version and hash as ``run_nightly`` unless the champion changes between
    the two look-ups, which the workers' hash check would then refuse).
    """
    import ray

    version, sha = _model_identity(cfg, registry, loaded)
    # Absolute paths: worker processes run inside the unpacked working_dir, not our cwd.
    staging_args = (str(staging.out.resolve()), staging.date, staging.run_key)
    registry_arg = str(registry.resolve()) if registry else None

    started_here, auth_env = _connect(cfg)
    try:
        workers = cfg.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        metas: list[dict[str, Any]] = []
        read_s = 0.0
        done_records = 0

        def note(meta: dict[str, Any]) -> None:
            nonlocal done_records
            metas.append(meta)
            done_records += meta["pages"] + meta["quarantined"]
            if on_progress:
                on_progress(done_records, meta["index"])

        batches = iter_batches(inputs, cfg.batch_size)
        window_size = WINDOW_BATCHES_PER_WORKER * workers
        while True:
            t = time.perf_counter()
            window, skipped = _next_window(batches, staging, window_size)
            read_s += time.perf_counter() - t
            for batch in skipped:
                note(_skipped(staging, batch))
            if not window:
                if skipped:
                    continue
                break
            for meta in _run_window(window, workers, staging_args, version, sha,
                                    registry_arg):
                note(meta)
        return read_s, metas
    finally:
        if started_here:
            ray.shutdown()
            # ray.init switches this process to token auth; put it back so a later connect
            # from the same process (tests, notebooks) starts from the user's setting.
            if auth_env is None:
                os.environ.pop("RAY_AUTH_MODE", None)
            else:
                os.environ["RAY_AUTH_MODE"] = auth_env


def _model_identity(cfg: NightlyConfig, registry: Path | None,
                    loaded: LoadedModel | None) -> tuple[str, str]:
    if loaded is not None:
        return loaded.version, loaded.sha256
    index = read_index(registry or REGISTRY_DIR)
    version = cfg.model_version or index.get("champion")
    entry = index.get("versions", {}).get(version or "")
    if not version or entry is None:
        raise ModelError(f"cannot resolve model {cfg.model_version or 'champion'!r}")
    return version, entry["sha256"]


def _next_window(batches: Iterator[Batch], staging: Staging,
                 size: int) -> tuple[list[Batch], list[Batch]]:
    """Up to ``size`` batches to run, plus the finished ones (resume) met on the way."""
    window: list[Batch] = []
    skipped: list[Batch] = []
    for batch in batches:
        if staging.is_done(batch.index):
            skipped.append(batch)
            if len(skipped) >= size:  # a long resumed stretch must not pile up in memory
                break
            continue
        window.append(batch)
        if len(window) >= size:
            break
    return window, skipped


def _run_window(window: list[Batch], workers: int, staging_args: tuple[str, str, str],
                version: str, sha: str, registry: str | None) -> Iterator[dict[str, Any]]:
    import ray.data

    # Pickled payloads keep records exactly as read: Arrow would unify the dicts' schemas
    # (missing keys, mixed types) and the batch must reach process_batch unchanged.
    items = [{"index": b.index, "payload": pickle.dumps((b.pages, b.quarantined),
                                                         protocol=pickle.HIGHEST_PROTOCOL)}
             for b in window]
    ds = ray.data.from_items(items, override_num_blocks=len(items))  # one block per batch
    out = ds.map(
        BatchRunner,
        fn_constructor_args=(staging_args, version, sha, registry),
        compute=ray.data.ActorPoolStrategy(size=min(workers, len(items))),
        num_cpus=1,
    )
    for row in out.iter_rows():
        yield json.loads(row["meta"])


def _connect(cfg: NightlyConfig) -> tuple[bool, str | None]:
    """Join ``cfg.ray_address`` or start a private local Ray. Returns (started here, the
    RAY_AUTH_MODE seen before)."""
    import ray
    import ray.data

    auth_env = os.environ.get("RAY_AUTH_MODE")
    runtime_env = _runtime_env()
    if ray.is_initialized():  # an embedding program already chose the cluster
        return False, auth_env
    if cfg.ray_address:
        ray.init(address=cfg.ray_address, runtime_env=runtime_env, logging_level="warning")
        started = False
    else:
        ray.init(num_cpus=cfg.workers or os.cpu_count() or 1, include_dashboard=False,
                 runtime_env=runtime_env, logging_level="warning")
        started = True
    ctx = ray.data.DataContext.get_current()
    # The CLI draws its own progress bar; Ray Data's bars would interleave with it on stderr.
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    return started, auth_env


def _runtime_env() -> dict[str, Any]:
    """Ship the source tree's code and phrase lists when running from a checkout; on an
    installed pagescore (no pyproject beside the packages) the cluster must have it too."""
    root = Path(__file__).resolve().parent.parent
    env: dict[str, Any] = {"env_vars": dict(_WORKER_ENV)}
    if not (root / "pyproject.toml").is_file():
        return env
    excludes = [f"/{p.name}" for p in root.iterdir() if p.name not in _SHIPPED]
    if (root / "data").is_dir():
        excludes += [f"/data/{p.name}" for p in (root / "data").iterdir()
                     if p.name not in _SHIPPED_DATA]
    env["working_dir"] = str(root)
    env["excludes"] = [*excludes, "__pycache__", "*.pyc"]
    return env

"""The Ray engine: the same per-batch unit as the local process pool, run by Ray Data actors.

The driver reads the inputs with ``iter_batches`` (so batch boundaries and indices are exactly
the local engine's) and skips batches a previous attempt already finished. The rest flow
through one streaming ``ray.data`` pipeline::

    driver thread --(Ray queue, bounded)--> puller task --> actor pool: BatchRunner
                                                            (model loaded once per actor,
                                                             process_batch + write_batch)

Every actor runs ``jobs.worker.run_batch``, the function the local pool runs, so both engines
write the same parts through ``Staging.write_batch`` and commit the same tables.

Why a queue and not one dataset per window of batches: Ray Data starts a new actor pool per
dataset, and an actor start (worker process, imports, model load) costs seconds; one pipeline
for the whole run pays it once. The driver holds at most ``WINDOW_BATCHES_PER_WORKER`` batches
per worker that have been read but not yet written, like the local engine.

Workers write the parts themselves, so ``OUT`` must be a filesystem every Ray node mounts at
the same path (see docs/scale-out.md).
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import pickle
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from jobs.nightly import BatchLog, NightlyConfig, iter_batches
from jobs.partition import Staging
from jobs.readers import Input
from jobs.worker import WORKER_ENV, Batch, init_worker, run_batch, skipped_meta
from models.registry import REGISTRY_DIR, ModelError, ModelRef, read_index

# Read-but-unwritten batches per worker: enough that no actor waits for the next batch while
# the driver reads it, few enough that the driver's memory stays a handful of batches.
WINDOW_BATCHES_PER_WORKER = 2

# Top-level entries of the source tree that workers need: the three packages, plus the phrase
# lists features/phrases.py reads from data/phrases. Everything else (.venv, .git, bench,
# runs, data/training, ...) stays home: Ray caps a working_dir upload, and an unknown big file
# dropped into the checkout must not be shipped to every node each night.
_SHIPPED = {"jobs", "features", "models", "data"}
_SHIPPED_DATA = {"phrases"}

_END = None  # queue sentinel: the driver has read everything


class RayEngineError(RuntimeError):
    """The Ray engine cannot run as configured (a usage problem, reported before any work)."""


class BatchRunner:
    """Ray Data actor: loads and verifies the model once, then runs whole batches."""

    def __init__(self, staging_args: tuple[str, str, str], version: str,
                 expected_sha256: str, registry: str | None) -> None:
        loaded = init_worker(version, registry)  # load_model verifies the hash
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
        index = int(row["index"])
        done = Staging(*self._staging_args).batch_dir(index) / "meta.json"
        if done.is_file():
            # Ray retries a batch whose actor died after writing it (a lost node); the part
            # is complete (write_batch renames it in whole), and a second rename onto it fails.
            return {"meta": done.read_text()}
        meta = run_batch(self._staging_args, Batch(index, pickle.loads(row["payload"])))
        # JSON, not a nested Arrow struct: the meta goes back to run.json unchanged.
        return {"meta": json.dumps(meta)}


def pull_batches(_seed: dict[str, Any], queue: Any) -> Iterator[dict[str, list[Any]]]:
    """Ray Data source: yield the batches the driver puts on ``queue``, one block each."""
    while True:
        item = queue.get()
        if item is _END:
            return
        index, payload = item
        yield {"index": [index], "payload": [payload]}


def run_batches_on_ray(cfg: NightlyConfig, inputs: list[Input], staging: Staging,
                       registry: Path | None,
                       on_progress: Callable[[int, int], None] | None,
                       model: ModelRef | None = None,
                       read_paths: dict[Path, str] | None = None) -> BatchLog:
    """Run every batch not yet in ``staging`` on Ray; return the log of their metas and of
    the driver's reading and appending.

    ``model`` is the model the driver verified; without it the model is resolved again from
    the registry, and the workers refuse any file whose hash differs from that resolution.
    ``read_paths``: as for ``iter_batches``; the driver reads the lines (``Batch.read``).
    """
    if cfg.ray_address and cfg.ray_address.startswith("ray://"):
        # Ray Data's executor needs a driver with its own core worker, which a Ray Client
        # (ray://) session lacks: it fails deep inside iteration (ray-project/ray#48682).
        raise RayEngineError(
            f"--ray-address {cfg.ray_address}: Ray Data does not run over Ray Client (ray://). "
            "Run pagescore on a node of the cluster with --ray-address auto (or HOST:6379), "
            "e.g. through `ray job submit`"
        )
    log = BatchLog(on_progress, staging.append_finished)

    # Skip the finished prefix before starting Ray: resuming a run that only lacked its
    # commit then costs no cluster start (about 4 s and 1.4 GB for a local Ray).
    batches = log.timed(iter_batches(inputs, cfg.batch_size, read_paths, cfg.batch_bytes))
    first = next(batches, None)
    while first is not None and staging.is_done(first.index):
        log.add(skipped_meta(staging, first.index))
        first = next(batches, None)
    if first is None:
        return log

    version, sha = _model_identity(cfg, registry, model)
    # Absolute paths: worker processes run inside the unpacked working_dir, not our cwd.
    staging_args = (str(staging.out.resolve()), staging.date, staging.run_key)
    registry_arg = str(registry.resolve()) if registry else None

    import ray

    owned, auth_env = _connect(cfg)
    try:
        workers = cfg.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        feeder = _Feeder(itertools.chain([first], batches), staging,
                         WINDOW_BATCHES_PER_WORKER * workers)
        feeder.start()
        try:
            for meta in _pipeline(feeder, workers, staging_args, version, sha, registry_arg):
                feeder.done_one()
                for skipped in feeder.take_skipped():
                    log.add(skipped)
                log.add(meta)
        except ray.exceptions.RayError as exc:
            model_error = _model_error_in(exc)
            if model_error is None:
                raise
            raise model_error from exc
        finally:
            feeder.stop()
        for skipped in feeder.take_skipped():
            log.add(skipped)
        if feeder.error is not None:
            raise feeder.error
        return log  # log.timed also timed the feeder thread's reads
    finally:
        if owned:  # a local Ray stops; a cluster we joined only loses this driver
            ray.shutdown()
            # ray.init switched this process to token auth; restore the user's setting so a
            # later ray.init in the same process (tests, notebooks) starts from it.
            if auth_env is None:
                os.environ.pop("RAY_AUTH_MODE", None)
            else:
                os.environ["RAY_AUTH_MODE"] = auth_env


class _Feeder(threading.Thread):
    """Reads batches on the driver and puts them on a Ray queue, at most ``window`` ahead of
    the batches written. A thread, so reading overlaps the workers' scoring."""

    def __init__(self, batches: Iterator[Batch], staging: Staging, window: int) -> None:
        super().__init__(name="pagescore-ray-feeder", daemon=True)
        from ray.util.queue import Queue

        self._batches = batches
        self._staging = staging
        self._slots = threading.Semaphore(window)
        self._halt = threading.Event()
        self._resumed: collections.deque[dict[str, Any]] = collections.deque()
        # num_cpus=0: the queue only moves bytes and must not hold a CPU an actor needs.
        self.queue = Queue(maxsize=window, actor_options={"num_cpus": 0})
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                batch = next(self._batches, None)
                if batch is None:
                    break
                if self._staging.is_done(batch.index):  # resume: finished in an earlier try
                    self._resumed.append(skipped_meta(self._staging, batch.index))
                    continue
                # Pickled, not Arrow rows: Arrow would unify the records' dict schemas
                # (missing keys, mixed types) and process_batch must get them as read.
                item = (batch.index, pickle.dumps(batch.read().records,
                                                  protocol=pickle.HIGHEST_PROTOCOL))
                del batch
                while not self._slots.acquire(timeout=0.5):
                    if self._halt.is_set():
                        return
                self._put(item)
        except BaseException as exc:  # re-raised by the driver once the pipeline has ended
            self.error = exc
        finally:
            self._put(_END)

    def _put(self, item: Any) -> None:
        from ray.util.queue import Full

        while not self._halt.is_set():
            try:
                self.queue.put(item, timeout=0.5)
                return
            except Full:
                continue

    def done_one(self) -> None:
        self._slots.release()

    def take_skipped(self) -> list[dict[str, Any]]:
        out = []
        while self._resumed:
            out.append(self._resumed.popleft())
        return out

    def stop(self) -> None:
        """End the thread, also when the pipeline failed and nobody reads the queue."""
        self._halt.set()
        self.join()


def _pipeline(feeder: _Feeder, workers: int, staging_args: tuple[str, str, str],
              version: str, sha: str, registry: str | None) -> Iterator[dict[str, Any]]:
    import ray.data

    ctx = ray.data.DataContext.get_current()
    saved = (ctx.target_max_block_size, ctx.enable_progress_bars, ctx.print_on_execution_start)
    try:
        # A dataset seals the context when it is created, so these apply to ours only.
        # Tiny target block size: every yielded batch becomes its own block and goes to an
        # actor at once, instead of being buffered into one block with the batches after it.
        ctx.target_max_block_size = 1
        # The CLI draws its own progress bar; Ray Data's would interleave with it on stderr.
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        ds = (
            ray.data.from_items([{"seed": 0}])
            .map_batches(pull_batches, batch_size=1, fn_kwargs={"queue": feeder.queue},
                         num_cpus=0)
            .map(BatchRunner, fn_constructor_args=(staging_args, version, sha, registry),
                 compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1)
        )
    finally:
        ctx.target_max_block_size, ctx.enable_progress_bars, ctx.print_on_execution_start = saved
    for row in ds.iter_rows():
        yield json.loads(row["meta"])


def _model_error_in(exc: BaseException) -> ModelError | None:
    """The ModelError a worker raised, if that is what failed: the CLI reports it as a model
    problem (exit 1, one line) instead of a Ray traceback. Ray wraps an actor's failed
    constructor in ActorDiedError, which keeps only the text of the original error."""
    seen: BaseException | None = exc
    for _ in range(8):  # a short chain; bounded in case a wrapper points back at itself
        if seen is None:
            break
        if isinstance(seen, ModelError):
            return ModelError(str(seen))
        seen = getattr(seen, "cause", None) or seen.__cause__
    marker = f"{ModelError.__module__}.{ModelError.__name__}: "
    text = str(exc)
    if marker in text:
        return ModelError(text.split(marker, 1)[1].splitlines()[0])
    return None


def _model_identity(cfg: NightlyConfig, registry: Path | None,
                    model: ModelRef | None) -> tuple[str, str]:
    if model is not None:
        return model.version, model.sha256
    index = read_index(registry or REGISTRY_DIR)
    version = cfg.model_version or index.get("champion")
    entry = index.get("versions", {}).get(version or "")
    if not version or entry is None:
        raise ModelError(f"cannot resolve model {cfg.model_version or 'champion'!r}")
    return version, entry["sha256"]


def _connect(cfg: NightlyConfig) -> tuple[bool, str | None]:
    """Start a private local Ray, or join ``cfg.ray_address``. Returns (whether this call
    initialised Ray and so must shut it down, the RAY_AUTH_MODE seen before)."""
    import ray

    auth_env = os.environ.get("RAY_AUTH_MODE")
    if ray.is_initialized():  # an embedding program chose the cluster and owns the session
        return False, auth_env
    runtime_env = _runtime_env()
    if cfg.ray_address:
        # ray.shutdown() later only disconnects this driver; the cluster keeps running.
        ray.init(address=cfg.ray_address, runtime_env=runtime_env, logging_level="warning")
    else:
        # address="local": a bare ray.init() would join any cluster `ray start` left on
        # this machine (or RAY_ADDRESS), and --ray-address is how a user asks for that.
        ray.init(address="local", num_cpus=cfg.workers or os.cpu_count() or 1,
                 include_dashboard=False, runtime_env=runtime_env, logging_level="warning")
    return True, auth_env


def _runtime_env() -> dict[str, Any]:
    """Ship the source tree's code and phrase lists when running from a checkout; on an
    installed pagescore (no pyproject beside the packages) the cluster must have it too."""
    root = Path(__file__).resolve().parent.parent
    # One CPU per actor: polars and BLAS would otherwise start a thread per core in every
    # actor and oversubscribe the node; and the local engine's allocator settings.
    env: dict[str, Any] = {"env_vars": dict(WORKER_ENV)}
    if not (root / "pyproject.toml").is_file():
        return env
    excludes = [f"/{p.name}" for p in root.iterdir() if p.name not in _SHIPPED]
    if (root / "data").is_dir():
        excludes += [f"/data/{p.name}" for p in (root / "data").iterdir()
                     if p.name not in _SHIPPED_DATA]
    env["working_dir"] = str(root)
    env["excludes"] = [*excludes, "__pycache__/", "*.pyc"]
    return env

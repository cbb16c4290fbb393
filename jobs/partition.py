"""Output partitions written atomically, resumable batch parts, and one run per partition.

Layout under ``OUT``::

    OUT/date=YYYY-MM-DD/            the committed partition (appears whole, by a rename)
    OUT/.staging/date=YYYY-MM-DD/   work in progress: run_key, parts/batch-NNNNNN/ and final/
                                    (the partition's files, appended to as batches finish)
    OUT/.locks/date=YYYY-MM-DD.lock held (flock) by the run writing that partition

Also the resource checks a run makes before it starts (disk, address space) and the tie that
keeps worker processes from outliving the run that holds the partition lock.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import polars as pl


class PartitionBusy(RuntimeError):
    """Another run is writing the same partition."""


class OutputError(RuntimeError):
    """The output location cannot be written."""


class ResourceError(OutputError):
    """The machine cannot take the run (address-space limit, a worker killed for memory).

    A subclass of OutputError so every caller that reports an unwritable output as a clean
    failure (exit 1 with a message) reports this one the same way.
    """


def partition_name(date: str) -> str:
    return f"date={date}"


def check_writable(out: Path, need_bytes: int = 0) -> None:
    """Fail before any work when OUT cannot take the run's output."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        # An unnamed temporary file (O_TMPFILE on Linux): a run killed right here leaves no
        # probe file behind in OUT.
        with tempfile.TemporaryFile(dir=out) as probe:
            probe.write(b"ok")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise OutputError(f"cannot write to output directory {out}: {exc.strerror or exc}") from exc
    free = shutil.disk_usage(out).free
    if need_bytes and free < need_bytes:
        raise OutputError(f"not enough free space in {out}: {free / 2**20:.0f} MiB free, this "
                          f"run needs about {need_bytes / 2**20:.0f} MiB")


# --- memory ------------------------------------------------------------------------------------

# Address space one pagescore process needs under `ulimit -v` once malloc arenas are capped
# (below). Measured on data/sample, 2 cores, --workers 1 and 2: VmPeak 1.00-1.09 GiB; the run
# fails at `ulimit -v 1000000` (KiB) and completes at 1100000. Without the cap it needed
# ~1.8 GiB. polars and OpenMP start a thread (stack + arena share) per core, hence the slope;
# the margin covers bigger pages, not arbitrary ones. Bigger batches need more: 98,000 crawl
# pages in batches of up to 20 MiB failed at 1.6 GiB and completed at 1.8 GiB (2 workers); in
# batches of 5 MiB they completed at 1.19 GiB, some runs only. Hence the batch term: 40 MiB of
# address space per MiB of batch (per process, as the limit is: each worker works on one
# batch at a time).
MIN_ADDRESS_SPACE = 1152 * 2**20
ADDRESS_SPACE_PER_CORE = 32 * 2**20
ADDRESS_SPACE_PER_BATCH_BYTE = 40
_M_ARENA_MAX = -8  # mallopt parameter number from glibc's malloc.h


def address_space_needed(batch_bytes: int = 0) -> int:
    """Address space a run needs under `ulimit -v`, with batches of up to ``batch_bytes``
    (``jobs.readers.record_bytes``; 0: only the run's fixed part, what each process needs)."""
    return (MIN_ADDRESS_SPACE + ADDRESS_SPACE_PER_CORE * (os.cpu_count() or 1)
            + ADDRESS_SPACE_PER_BATCH_BYTE * batch_bytes)


def check_memory(batch_bytes: int = 0) -> None:
    """Fail early and clearly when an address-space limit (`ulimit -v`) is too small.

    Under such a limit a failed allocation inside polars or LightGBM aborts the process (Rust
    aborts on allocation failure; some C code segfaults), which no handler can turn into a
    clean exit. glibc reserves 64 MiB of address space per malloc arena and creates up to 8
    arenas per core, so under a limit we first cap the arenas: that halves what the job needs
    without costing memory, only some allocator contention between threads.
    """
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):  # not glibc: nothing to cap
            ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 2)
    # pyarrow's mimalloc reserves address space per thread in large segments; under a limit
    # its allocations (the driver appends the parts it reads) go through capped malloc too.
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].set_memory_pool(sys.modules["pyarrow"].system_memory_pool())
    need = address_space_needed(batch_bytes)
    if soft < need:
        smaller = (" or make batches smaller (--batch-mb)" if batch_bytes else "")
        raise ResourceError(
            f"address-space limit (ulimit -v) of {soft / 2**20:.0f} MiB is below the "
            f"{need / 2**20:.0f} MiB a pagescore run needs; raise it (each worker process "
            f"gets the same limit){smaller}"
        )


def bind_to_parent(parent_pid: int) -> None:
    """Make this worker process die when the run that started it dies (Linux).

    A SIGKILLed run cannot shut its process pool down; its workers would otherwise finish the
    batches already handed to them, writing into a staging area a rerun may have taken over,
    and then wait on the dead pool's queue forever. Workers are forked by a fork server, not
    by the run, so the kernel's parent-death signal alone does not reach them (the server
    itself lives on while its children hold its pipe): a thread waits on a pidfd of the run
    and ends the process the moment the run ends. The parent-death signal is kept for workers
    that are the run's own children.
    """
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    try:
        run = os.pidfd_open(parent_pid)
    except ProcessLookupError:
        os._exit(1)  # the run died before this worker got going
    except (OSError, AttributeError):  # no pidfd (old kernel, not Linux): the signal only
        if os.getppid() != parent_pid:
            os._exit(1)
        return
    threading.Thread(target=_exit_with, args=(run,), name="pagescore-bound-to-run",
                     daemon=True).start()


def _exit_with(run_pidfd: int) -> None:
    select.select([run_pidfd], [], [])  # readable when the process has exited
    os._exit(1)


# --- one run per partition ---------------------------------------------------------------------

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
    """Work area of one partition's run; parts survive a crash so a rerun resumes.

    The ``run_key`` file is what makes parts resumable: it is written after the area is
    clean and removed before the area is removed, so a half-deleted area (a run killed in the
    middle of a cleanup) never looks like finished work.
    """

    TABLES = ("scores", "texts", "quarantine")

    def __init__(self, out: Path, date: str, run_key: str):
        self.out = out
        self.date = date
        self.run_key = run_key
        self.root = out / ".staging" / partition_name(date)
        self.parts = self.root / "parts"
        self.final = self.root / "final"
        self.key_file = self.root / "run_key"
        self.previous = self.root / "previous"
        self.dest = out / partition_name(date)
        self._final: dict[str, TableAppender] | None = None
        self._appended = 0  # batches 0 .. _appended-1 are in final/

    def prepare(self) -> int:
        """Keep parts of an interrupted run with the same key, else start clean.
        Returns the number of completed batches found."""
        if self.previous.is_dir() and not self.dest.exists():
            # A commit without rename-exchange was killed between its two renames: put the
            # last complete partition back rather than leave none.
            os.replace(self.previous, self.dest)
        if self.root.exists() and self._key_on_disk() != self.run_key:
            self._remove()
        try:
            self.parts.mkdir(parents=True, exist_ok=True)
            if not self.key_file.exists():
                write_atomic(self.key_file, self.run_key.encode())
        except OSError as exc:
            raise OutputError(f"cannot write to {self.root}: {exc.strerror or exc}") from exc
        for leftover in self.root.glob(".*.tmp"):  # write_atomic's temp of a killed run
            leftover.unlink(missing_ok=True)
        for leftover in self.parts.glob("*.tmp"):
            shutil.rmtree(leftover, ignore_errors=True)
        shutil.rmtree(self.final, ignore_errors=True)
        shutil.rmtree(self.previous, ignore_errors=True)
        return len(self.batch_dirs())

    def batch_dir(self, index: int) -> Path:
        return self.parts / f"batch-{index:06d}"

    def part_file(self, index: int, name: str) -> Path:
        """One table of a finished batch: Arrow IPC, read back only by ``append_finished``."""
        return self.batch_dir(index) / f"{name}.arrow"

    def is_done(self, index: int) -> bool:
        return self.batch_dir(index).is_dir()

    def write_batch(self, index: int, tables: dict[str, pl.DataFrame],
                    meta: dict[str, Any]) -> None:
        """All files of a batch appear together: written in a temp dir, then one rename."""
        tmp = self.parts / f"batch-{index:06d}.{os.getpid()}.tmp"
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            for name, df in tables.items():
                # Arrow IPC, not Parquet, and uncompressed: parts are read once, by the driver,
                # to be appended to the final (zstd) files. IPC needs no encoding, and LZ4 on
                # the parts cost the driver more to decompress than it saved: appending 30k
                # pages of text took 1.41 CPU s from LZ4 parts, 0.77 s from plain ones. The
                # price is staging space: about the size of the text until the commit.
                df.write_ipc(tmp / self.part_file(index, name).name, compression="uncompressed")
            (tmp / "meta.json").write_text(json.dumps(meta))
            _fsync_dir_files(tmp)
            if self._key_on_disk() != self.run_key:
                # The staging area was reset for another run (this process outlived its own
                # run): its rows belong to other inputs and must not become part of this one.
                raise OutputError(f"staging {self.root} now belongs to another run; batch "
                                  f"{index} of run {self.run_key} dropped")
            try:
                os.replace(tmp, self.batch_dir(index))
            except OSError as exc:
                # Another process of the same run key (a leftover worker of a killed attempt)
                # wrote this batch first; same key means same inputs, model and batch, so the
                # same rows: keep theirs.
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not self.is_done(index):
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)  # a full disk gets its space back
            err = _output_error(exc, f"cannot write batch {index} to {self.parts}")
            if err is exc:
                raise
            raise err from exc

    def batch_dirs(self) -> list[Path]:
        return sorted(self.parts.glob("batch-[0-9][0-9][0-9][0-9][0-9][0-9]"))

    def append_finished(self) -> None:
        """Append every finished batch that follows the last appended one to final/.

        The driver calls this as batches finish, so the final files grow during the run and
        commit only appends what is left. final/ is rebuilt from the parts after a crash
        (``prepare`` removes it), so what it holds needs no durability until commit."""
        try:
            if self._final is None:
                self.final.mkdir(parents=True, exist_ok=True)
                self._final = {name: TableAppender(self.final / f"{name}.parquet")
                               for name in self.TABLES}
            while self.is_done(self._appended):
                for name, appender in self._final.items():
                    appender.append(self.part_file(self._appended, name))
                self._appended += 1
        except Exception as exc:
            self.drop_final()
            err = _output_error(exc, f"cannot write the partition under {self.final}")
            if err is exc:
                raise
            raise err from exc

    def commit(self, run_json: dict[str, Any]) -> Path:
        """Append the remaining parts to final/, then swap final/ in as OUT/date=D."""
        self.append_finished()
        try:
            if self._appended != len(self.batch_dirs()):
                raise OutputError(f"batch {self._appended} of {self.parts} is missing: the "
                                  "parts do not make a whole run")
            assert self._final is not None
            for appender in self._final.values():
                appender.close()
            write_atomic(self.final / "run.json",
                          json.dumps(run_json, indent=2, sort_keys=True).encode())
            _fsync_dir_files(self.final)
        except Exception as exc:
            self.drop_final()  # give the space back; parts stay
            err = _output_error(exc, f"cannot write the partition under {self.final}")
            if err is exc:
                raise
            raise err from exc
        if self.dest.exists():
            # One atomic swap where the filesystem can (renameat2 RENAME_EXCHANGE): readers see
            # the old partition or the new one, never none; final/ then holds the old one.
            if not _exchange(self.final, self.dest):
                os.replace(self.dest, self.previous)
                os.replace(self.final, self.dest)
        else:
            os.replace(self.final, self.dest)
        _fsync_dir(self.out)
        self._remove()
        return self.dest

    def drop_final(self) -> None:
        """Close and delete final/ (a failed run: the next attempt rebuilds it from the parts)."""
        for appender in (self._final or {}).values():
            appender.abandon()
        self._final, self._appended = None, 0
        shutil.rmtree(self.final, ignore_errors=True)

    def _key_on_disk(self) -> str | None:
        try:
            return self.key_file.read_text()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _remove(self) -> None:
        """Delete the staging area; its key goes first so a kill mid-way leaves no
        resumable-looking half."""
        self.key_file.unlink(missing_ok=True)
        if self.root.exists():
            _fsync_dir(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


class TableAppender:
    """One Parquet file written from parts appended in order, in row groups of at least
    ``ROW_GROUP_ROWS`` rows or ``ROW_GROUP_BYTES`` bytes.

    Parts are held until they make a row group, never more than about ``ROW_GROUP_BYTES``
    (polars' scan+sink of 100 parts of 5 MB of text held about 1.2 GB). One row group per
    1,000-row part made the scores file a row group per batch: 4.4x the encoding time of
    10,000-row groups, a larger file, and small row groups are slow for every reader.
    Page text gets no min/max statistics: nobody filters on them and they cost time. A file
    that got no rows still gets the schema of the first part (or none: no parts at all).

    A part whose rows are written leaves the page cache (``_drop_cached``): it is read once,
    and its pages, freed at once, take the next parts the workers write. So does what is
    written of the file itself, once on disk (``fdatasync`` per row group: what the commit's
    fsync would write anyway, written earlier). Left cached, every part and row group lands in
    memory the kernel has not touched for a while, and on a virtual machine
    whose host takes back free guest memory, touching it again costs: on this project's
    2-core VM, writing 500 MB in 20 MB parts and reading each back took 1.81 CPU s with the
    parts kept, 0.25 s with each dropped once read (``bench/page_reuse.py``, medians of 3)."""

    ROW_GROUP_ROWS = 10_000
    ROW_GROUP_BYTES = 32 << 20

    def __init__(self, target: Path) -> None:
        self.target = target
        self._writer: Any = None
        self._schema: Any = None
        self._held: list[tuple[Path, Any]] = []  # parts not written yet: (file, table)

    def append(self, part: Path) -> None:
        import pyarrow as pa

        # Mapped, not read: the uncompressed part's columns are then views of the page cache
        # (no allocation, no copy: reading them into fresh memory cost the driver page faults
        # and zeroing). Parts are only ever written whole, before their batch directory is
        # renamed into place, and not changed after; they are deleted after the commit.
        # One thread: pyarrow's pool would start a thread per core in the driver, which an
        # address-space limit (`ulimit -v`, check_memory) does not leave room for.
        with pa.memory_map(str(part)) as source:
            table = pa.ipc.open_file(
                source, options=pa.ipc.IpcReadOptions(use_threads=False)).read_all()
        if self._schema is None:
            self._schema = table.schema
        if table.num_rows == 0:
            return
        self._held.append((part, table))
        del table  # only ``_held`` may keep the part mapped (see ``_write_held``)
        if (sum(t.num_rows for _, t in self._held) >= self.ROW_GROUP_ROWS
                or sum(t.nbytes for _, t in self._held) >= self.ROW_GROUP_BYTES):
            self._write_held()

    def _write_held(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._held:
            return
        if self._writer is None:
            # Nor a dictionary: every page's text is distinct, so trying one only costs time.
            small = [f.name for f in self._schema if f.name != "text"]
            self._writer = pq.ParquetWriter(self.target, self._schema, compression="zstd",
                                            write_statistics=small, use_dictionary=small)
        schema = self._writer.schema
        # A cast only where a part's types differ: the cast imports pyarrow.compute (0.06 s).
        table = pa.concat_tables([t if t.schema.equals(schema) else t.cast(schema)
                                  for _, t in self._held])
        parts = [part for part, _ in self._held]
        self._held = []
        self._writer.write_table(table, row_group_size=table.num_rows)
        # The last views of the parts' mapped pages go first: mapped pages stay cached.
        del table
        for part in parts:
            _drop_cached(part)
        _drop_cached(self.target, sync=True)

    def close(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._write_held()
        if self._writer is not None:
            self._writer.close()
        elif self._schema is not None:
            # Not ``Schema.empty_table()``: it imports pandas, 0.2 CPU s of every run whose
            # quarantine is empty.
            pq.write_table(pa.Table.from_batches([], schema=self._schema), self.target,
                           compression="zstd")
        else:
            pl.DataFrame().write_parquet(self.target)

    def abandon(self) -> None:
        """Let go of a file that will be deleted (after a failure, e.g. a full disk)."""
        self._held = []
        writer, self._writer = self._writer, None
        if writer is not None:
            with suppress(Exception):
                writer.close()
            # A close that failed would be retried, and its error printed, by the writer's
            # __del__; the file is deleted anyway.
            writer.is_open = False
            if writer.file_handle is not None:
                with suppress(Exception):
                    writer.file_handle.close()


def _output_error(exc: Exception, what: str) -> Exception:
    """Turn an I/O failure (full disk, read-only, quota) into an OutputError with its cause;
    anything else (a polars bug, a schema mismatch) stays what it is."""
    if isinstance(exc, OutputError):
        return exc
    if isinstance(exc, OSError):
        return OutputError(f"{what}: {exc.strerror or exc}")
    if "os error" in str(exc) or "IO error" in str(exc):
        return OutputError(f"{what}: {exc}")
    return exc


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where that is not supported."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:  # glibc < 2.28
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # e.g. NFS, old kernels
        return False
    raise OSError(err, os.strerror(err), str(a))


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` in one rename: a reader (or a kill) never sees half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _drop_cached(path: Path, sync: bool = False) -> None:
    """Ask the kernel to drop ``path``'s pages from the page cache (they stay on disk): a hint
    (``posix_fadvise``), skipped where there is none, and never an error. ``sync``: write
    the file's dirty pages to disk first (only clean pages can be dropped); that write's
    failure is an error, as a commit's fsync would have reported it (an fd opened after a
    failed writeback is not told of it, so it must not be swallowed here)."""
    fadvise = getattr(os, "posix_fadvise", None)
    if fadvise is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if sync:
            raise
        return
    try:
        if sync:
            os.fdatasync(fd)
        with suppress(OSError):
            fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _fsync_dir_files(directory: Path) -> None:
    for f in directory.iterdir():
        if f.is_file():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

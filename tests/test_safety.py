"""Never lose a page, never trust a bad file: real `python -m jobs nightly` processes killed
with SIGKILL at random moments, raced on one partition, fed broken files, and starved of disk
and memory.

Row order of the outputs is deterministic (input order, batch by batch), so outputs are
compared exactly, not as sets. The output does not depend on --workers (asserted below), so
one uninterrupted run is the reference for every variant.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import zstandard
from conftest import SAMPLE, SHARED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.nightly import DEFAULT_BATCH_BYTES
from jobs.partition import OutputError, Staging, address_space_needed
from jobs.readers import detect_input, read_input

PAGESCORE = [sys.executable, "-m", "jobs"]
DATE = "2026-03-01"
TABLES = ("scores", "texts", "quarantine")
PART_FILES = ["quarantine.parquet", "run.json", "scores.parquet", "texts.parquet"]


# --- helpers ------------------------------------------------------------------------------------

def cli(*args: str, timeout: float = 300, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run([*PAGESCORE, *args], capture_output=True, text=True, timeout=timeout,
                          **kw)


def crawl_records() -> list[dict[str, Any]]:
    """Real crawl records: every 4th record of ../shared/corpus/crawl (about 560, all sources,
    text and HTML, a few without either); without ../shared the shipped sample replicated to
    about 2,000 records with distinct ids."""
    crawl = SHARED / "corpus" / "crawl"
    if crawl.is_dir():
        records = [json.loads(line) for f in sorted(crawl.glob("*.jsonl"))
                   for line in f.open(encoding="utf-8") if line.strip()]
        return [{k: r.get(k) for k in ("id", "url", "text", "html")} for r in records[::4]]
    sample = [json.loads(line) for line in (SAMPLE / "crawl_sample.jsonl").open()
              if line.strip()]
    out = []
    for copy in range(2000 // len(sample) + 1):
        for r in sample:
            out.append({**r, "id": f"{r.get('id') or r.get('url')}#{copy}"})
    return out[:2000]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


def read_partition(part: Path) -> tuple[dict[str, pl.DataFrame], dict[str, Any]]:
    tables = {name: pl.read_parquet(part / f"{name}.parquet") for name in TABLES}
    return tables, json.loads((part / "run.json").read_text())


def assert_same_output(part: Path, ref: dict[str, Any]) -> None:
    tables, run = read_partition(part)
    for name in TABLES:
        assert tables[name].equals(ref["tables"][name]), f"{part}: {name}.parquet differs"
    assert run["counts"] == ref["run"]["counts"]


def assert_no_strays(out: Path) -> None:
    """After a successful run: the partition, the lock and an empty staging root, nothing else."""
    assert sorted(p.name for p in out.iterdir()) == [".locks", ".staging", f"date={DATE}"]
    assert list((out / ".staging").iterdir()) == []
    assert sorted(p.name for p in (out / f"date={DATE}").iterdir()) == PART_FILES
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def child_pids(pid: int) -> set[int]:
    kids = set()
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.add(int(stat_file.parent.name))
    return kids


def descendant_pids(pid: int) -> set[int]:
    """Children, grandchildren, ...: the workers are children of the run's fork server."""
    found, frontier = set(), {pid}
    while frontier:
        frontier = set().union(*(child_pids(p) for p in frontier)) - found
        found |= frontier
    return found


def worker_pids(pid: int) -> list[int]:
    """The run's pool workers: the processes its fork server forked."""
    servers = [k for k in child_pids(pid)
               if b"multiprocessing.forkserver" in Path(f"/proc/{k}/cmdline").read_bytes()]
    return sorted(set().union(*(child_pids(s) for s in servers)))


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # an unreaped zombie runs no code


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = {p for p in pids if alive(p)}
        if not left:
            return set()
        time.sleep(0.1)
    return {p for p in pids if alive(p)}


def lock_holder(out: Path) -> str:
    try:
        return (out / ".locks" / f"date={DATE}.lock").read_text()
    except OSError:
        return ""


def wait_for(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# --- the shared data set and the uninterrupted reference run -------------------------------------

@pytest.fixture(scope="module")
def crawl_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("crawl") / "crawl.jsonl", crawl_records())


@pytest.fixture(scope="module")
def reference(crawl_input: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One never-killed run: its tables, run.json, wall time and the arguments every kill,
    race and rerun below uses (apart from --workers and --out)."""
    args = ["nightly", str(crawl_input), "--date", DATE, "--batch-size", "20", "-q"]
    out = tmp_path_factory.mktemp("reference")
    start = time.monotonic()
    res = cli(*args, "--workers", "2", "--out", str(out))
    wall = time.monotonic() - start
    assert res.returncode == 0, res.stderr
    tables, run = read_partition(out / f"date={DATE}")
    assert run["counts"]["pages_in"] == len(crawl_records())
    return {"args": args, "tables": tables, "run": run, "wall": wall}


# --- 1. crash and resume ---------------------------------------------------------------------------

def _batches_done(out: Path) -> int:
    parts = out / ".staging" / f"date={DATE}" / "parts"
    return len(list(parts.glob("batch-??????"))) if parts.is_dir() else 0


def _wait_for_moment(proc: subprocess.Popen, out: Path, phase: str, rng: random.Random,
                     n_batches: int, commit_s: float) -> None:
    """Sleep until a seeded random moment of the given phase of ``proc``'s run (or its end).

    Moments are tied to the run's progress, not to wall time alone, so that a loaded machine
    shifts them but does not make them all land in start-up or after the end."""
    final = out / ".staging" / f"date={DATE}" / "final"
    if phase == "start-up":  # imports, hashing, model check, staging preparation
        time.sleep(rng.uniform(0.2, 3.0))
        return
    if phase == "batches":  # between two batch renames, or inside one
        target = _batches_done(out) + rng.randint(1, max(1, n_batches // 2))
        cond = lambda: _batches_done(out) >= min(target, n_batches - 1)  # noqa: E731
        pause = rng.uniform(0.0, 0.3)
    else:  # "commit": concatenating parts, swapping the partition in, removing the staging
        cond = final.is_dir
        pause = rng.uniform(0.0, commit_s)
    deadline = time.monotonic() + 240
    while not cond() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(pause)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_at_random_moments_then_rerun_equals_uninterrupted_run(
        reference: dict[str, Any], tmp_path: Path, workers: int) -> None:
    """Kill real runs with SIGKILL at seeded random moments of start-up, batches and commit
    (5 kills per worker setting), each attempt resuming the previous one's staging at once,
    while a worker of the killed attempt may still be alive. After every kill the partition
    is absent or whole and equal to the reference; every process of a killed run dies; the
    rerun with the same arguments gives the reference exactly and leaves no strays."""
    rng = random.Random(20260301 + workers)
    out = tmp_path / "out"
    argv = [*PAGESCORE, *reference["args"], "--workers", str(workers), "--out", str(out)]
    part = out / f"date={DATE}"
    n_batches = reference["run"]["batches"]["total"]
    commit_s = reference["run"]["timings"]["commit"]  # the commit window, measured
    phases = ["batches", "start-up", "commit", "batches", "commit"]
    killed_procs: set[int] = set()
    moments = []
    for phase in phases:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_moment(proc, out, phase, rng, n_batches, commit_s)
        kids = descendant_pids(proc.pid)
        n_workers = len(worker_pids(proc.pid))
        done = _batches_done(out)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_procs |= kids
        moments.append({"phase": phase, "rc": proc.returncode, "batches": done,
                        "workers": n_workers, "partition": part.exists()})
        if part.exists():  # a partition is only ever whole: never half, never stale
            assert_same_output(part, reference)
    print(f"workers={workers} kills:", moments)  # shown with -rP: where the kills landed
    assert wait_gone(killed_procs, timeout=20) == set(), "processes outlived their killed run"
    assert any(m["batches"] and not m["partition"] for m in moments), moments  # not vacuous
    if workers > 1:
        assert any(m["workers"] >= 2 and m["rc"] == -9 for m in moments), moments

    res = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert_same_output(part, reference)
    run = json.loads((part / "run.json").read_text())
    assert run["counts"]["pages_in"] == run["counts"]["scored"] + run["counts"]["quarantined"]
    assert_no_strays(out)


@pytest.mark.slow
def test_worker_killed_mid_run_fails_cleanly_then_resumes(reference: dict[str, Any],
                                                          tmp_path: Path) -> None:
    """A worker SIGKILLed while scoring (what the OOM killer does): the run exits 1 with a
    message, no traceback, no partition, no process left; the rerun resumes and gives the
    reference."""
    out = tmp_path / "out"
    argv = [*PAGESCORE, *reference["args"], "--workers", "2", "--out", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _batches_done(out) > 0 or proc.poll() is not None, 240,
                 "the first finished batch")
        kids = descendant_pids(proc.pid)
        workers = worker_pids(proc.pid)
        assert len(workers) == 2, kids
        os.kill(workers[0], signal.SIGKILL)
        _stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, stderr
    assert "a worker process died abruptly" in " ".join(stderr.split()), stderr
    assert "Traceback" not in stderr, stderr
    assert not (out / f"date={DATE}").exists()
    assert wait_gone(kids, timeout=10) == set()
    res = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert_same_output(out / f"date={DATE}", reference)
    assert json.loads((out / f"date={DATE}" / "run.json").read_text())["batches"]["resumed"] > 0
    assert_no_strays(out)


# --- 2. concurrent runs --------------------------------------------------------------------------

@pytest.mark.slow
def test_concurrent_runs_one_refused_one_queued_partition_never_corrupt(
        reference: dict[str, Any], tmp_path: Path) -> None:
    """Run A holds the partition (frozen with SIGSTOP so the race is certain); run B on the
    same partition exits 4 naming A; run C with --wait queues on the lock, then runs after
    A. Both A and C succeed, and whenever the partition exists it reads whole."""
    out = tmp_path / "out"
    args = [*reference["args"], "--workers", "1", "--out", str(out)]
    part = out / f"date={DATE}"
    a = subprocess.Popen([*PAGESCORE, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    c = None
    try:
        wait_for(lambda: lock_holder(out).startswith(f"pid {a.pid} "), 120, "A takes the lock")
        os.kill(a.pid, signal.SIGSTOP)
        b = cli(*args)
        assert b.returncode == 4, b.stderr
        assert "another pagescore run" in b.stderr and f"pid {a.pid}" in b.stderr
        c = subprocess.Popen([*PAGESCORE, *args, "--wait"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        lock_inode = (out / ".locks" / f"date={DATE}.lock").stat().st_ino

        def c_blocked() -> bool:  # /proc/locks marks a waiter with "->"
            return any(line.split()[1] == "->" and line.split()[5] == str(c.pid)
                       and line.split()[6].endswith(f":{lock_inode}")
                       for line in Path("/proc/locks").read_text().splitlines()
                       if len(line.split()) > 6)

        wait_for(c_blocked, 120, "C to queue on the partition lock")
        assert not part.exists()
        os.kill(a.pid, signal.SIGCONT)
        seen = 0
        while c.poll() is None or a.poll() is None:
            if part.exists():  # from A's commit on it must always read whole
                assert_same_output(part, reference)
                seen += 1
            time.sleep(0.05)
        assert a.returncode == 0, a.stderr.read() if a.stderr else ""
        assert c.returncode == 0, c.stderr.read() if c.stderr else ""
        assert seen > 0
    finally:
        for p in (a, c):
            if p is not None and p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
                p.wait()
    assert_same_output(part, reference)
    assert_no_strays(out)


# --- 3. bad input ----------------------------------------------------------------------------------

def _warc_record(record_id: str, uri: str, body: bytes,
                 ctype: str = "text/html; charset=utf-8") -> bytes:
    http = (f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\n"
            f"WARC-Record-ID: {record_id}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}"
            "\r\n\r\n").encode()
    return head + http + b"\r\n\r\n"


def _html_page(i: int) -> bytes:
    return (f"<html><head><title>Report {i}</title></head><body><h1>Report {i}</h1>"
            + "".join(f"<p>The council met on day {d} to discuss the budget of district {i}, "
                      "and the minutes were published the following week.</p>"
                      for d in range(12)) + "</body></html>").encode()


def warc_ids(n: int) -> list[str]:
    return [f"<urn:uuid:{uuid.UUID(int=i + 1)}>" for i in range(n)]


def build_warc(records: int, mode: str) -> tuple[bytes, list[int]]:
    """A WARC of HTML responses: plain, gzipped per record (the usual layout) or as one gzip
    member. Returns the bytes and the offsets where a record (or member) ends."""
    ids = warc_ids(records)
    raw = [_warc_record(ids[i], f"http://example.org/{i}", _html_page(i)) for i in range(records)]
    if mode == "gzip-per-record":
        raw = [gzip.compress(r, mtime=0) for r in raw]
    data = b"".join(raw)
    if mode == "gzip-whole":
        data = gzip.compress(data, mtime=0)
        return data, [len(data)]
    ends, pos = [], 0
    for r in raw:
        pos += len(r)
        ends.append(pos)
    return data, ends


BAD_KINDS = ["invalid json", "binary garbage", "invalid utf-8", "text not a string",
             "id a list", "url a number", "html an object", "neither text nor html",
             "not an object"]


def bad_line(kind: str, rng: random.Random) -> bytes:
    if kind == "invalid json":
        return b'{"id": "x", "text": "unterminated'
    if kind == "binary garbage":
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(8, 300)))
        return b"\x80\xff" + junk.replace(b"\n", b"\x00").replace(b"\r", b"\x00")
    if kind == "invalid utf-8":
        return b'{"id": "u", "text": "caf\xe9 \xc3\x28 latin-1 bytes"}'
    obj = {
        "text not a string": {"id": "t", "text": 42},
        "id a list": {"id": ["a", "b"], "text": "fine"},
        "url a number": {"url": 7, "text": "fine"},
        "html an object": {"id": "h", "html": {"p": "x"}},
        "neither text nor html": {"id": "n", "url": "http://example.org/n"},
        "not an object": ["a", "list"],
    }[kind]
    return json.dumps(obj).encode()


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("bad")
    rng = random.Random(7)
    good = [r for r in crawl_records() if r.get("text") or r.get("html")][:200]
    lines, good_ids, bad_lines = [], [], []
    order = ["good"] * 200 + [BAD_KINDS[i % len(BAD_KINDS)] for i in range(200)]
    rng.shuffle(order)
    g = iter(good)
    for lineno, kind in enumerate(order, start=1):
        if kind == "good":
            r = next(g)
            pid = f"good-{lineno}"
            good_ids.append(pid)
            lines.append(json.dumps({**r, "id": pid}, ensure_ascii=False).encode())
        else:
            bad_lines.append(lineno)
            lines.append(bad_line(kind, rng))
    prose = "\n".join(r["text"] for r in good if r.get("text"))
    huge = (prose * (10_000_000 // len(prose) + 1))[:10_000_000]
    lines.append(json.dumps({"id": "huge", "text": huge}, ensure_ascii=False).encode())
    mixed = root / "mixed.jsonl"
    mixed.write_bytes(b"\n".join(lines) + b"\n")
    assert len(lines) == 401 and len(huge.encode()) >= 10_000_000

    # .jsonl.zst in frames of 10 records, cut inside frame 4 of 5.
    zrecs = [{"id": f"z-{i}", "text": r["text"]} for i, r in
             enumerate(r for r in good if r.get("text"))][:50]
    frames = [zstandard.ZstdCompressor().compress(
        "".join(json.dumps(r) + "\n" for r in zrecs[i:i + 10]).encode()) for i in range(0, 50, 10)]
    zst = root / "cut.jsonl.zst"
    cut_at = sum(map(len, frames[:3])) + len(frames[3]) // 2
    zst.write_bytes(b"".join(frames)[:cut_at])

    # .warc.gz with 8 HTML responses, gzipped per record, cut in the middle of record 6.
    data, ends = build_warc(8, "gzip-per-record")
    warc = root / "cut.warc.gz"
    warc.write_bytes(data[: ends[4] + (ends[5] - ends[4]) // 2])

    # A folder with one good page and entries that cannot be read.
    pages = root / "pages"
    pages.mkdir()
    (pages / "good.html").write_bytes(_html_page(99))
    (pages / "dangling.html").symlink_to(root / "nowhere.html")
    os.mkfifo(pages / "fifo.html")  # reading it would block the run forever
    (pages / "mem.html").symlink_to("/proc/self/mem")  # EIO on read, even for root
    unreadable = ["dangling.html", "fifo.html", "mem.html"]
    if os.geteuid() != 0:  # root reads through chmod 000
        (pages / "locked.html").write_bytes(_html_page(98))
        (pages / "locked.html").chmod(0)
        unreadable.append("locked.html")
    return {"mixed": mixed, "good_ids": good_ids, "bad_lines": bad_lines, "zst": zst,
            "warc": warc, "pages": pages, "unreadable": unreadable}


@pytest.mark.slow
def test_bad_input_is_quarantined_with_reasons_and_good_records_scored(
        bad_inputs: dict[str, Any], tmp_path: Path) -> None:
    b = bad_inputs
    out = tmp_path / "out"
    res = cli("nightly", str(b["mixed"]), str(b["zst"]), str(b["warc"]), str(b["pages"]),
              "--out", str(out), "--date", DATE, "--workers", "2", "-q", timeout=300)
    assert res.returncode == 0, res.stderr
    tables, run = read_partition(out / f"date={DATE}")
    scores, quarantine = tables["scores"], tables["quarantine"]
    assert quarantine["reason"].null_count() == 0
    assert (quarantine["reason"].str.len_chars() > 0).all()

    def of(df: pl.DataFrame, path: Path) -> pl.DataFrame:
        return df.filter(pl.col("source") == str(path))

    # JSONL: every good record scored (the 10 MB page too), every bad line quarantined once.
    assert of(scores, b["mixed"])["page_id"].to_list() == [*b["good_ids"], "huge"]
    q = of(quarantine, b["mixed"])
    assert q.height == 200
    lines_named = [int(re.match(r"line (\d+): ", r).group(1)) for r in q["reason"]]
    assert lines_named == b["bad_lines"]

    # Truncated zstd: the complete frames (30 records at least) scored in order, then the cut.
    z_ids = of(scores, b["zst"])["page_id"].to_list()
    assert 30 <= len(z_ids) < 50 and z_ids == [f"z-{i}" for i in range(len(z_ids))]
    zq = of(quarantine, b["zst"])
    assert zq.height == 1 and "truncated" in zq["reason"][0]

    # Truncated WARC: records 1-5 scored whole, the cut record 6 quarantined, not scored.
    assert of(scores, b["warc"])["page_id"].to_list() == warc_ids(5)
    wq = of(quarantine, b["warc"])
    assert wq.height == 1 and "truncated" in wq["reason"][0]

    # Folder: the good page scored; dangling symlink, FIFO, EIO file quarantined, no hang.
    assert of(scores, b["pages"])["page_id"].to_list() == ["good.html"]
    fq = of(quarantine, b["pages"]).sort("page_id")
    assert fq["page_id"].to_list() == sorted(b["unreadable"])
    assert all(r.startswith("unreadable file") for r in fq["reason"])

    c = run["counts"]
    assert c["scored"] == scores.height == 201 + len(z_ids) + 5 + 1
    assert c["quarantined"] == quarantine.height == 200 + 1 + 1 + len(b["unreadable"])
    assert c["pages_in"] == c["scored"] + c["quarantined"]


def test_missing_or_unusable_input_is_a_usage_error_before_any_work(
        bad_inputs: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = cli("nightly", str(bad_inputs["mixed"]), str(tmp_path / "missing.jsonl"),
              "--out", str(out), "--date", DATE)
    assert res.returncode == 2 and "does not exist" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()  # no partition, no staging, not even OUT
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    res = cli("nightly", str(fifo), "--out", str(out), "--date", DATE, timeout=60)
    assert res.returncode == 2 and "not a regular file" in res.stderr, res.stderr
    assert not out.exists()


# --- 4. resources ---------------------------------------------------------------------------------

@contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` (root only; skipped where mounting is not allowed)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"mount is not permitted here: {res.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def assert_failed_cleanly(res: subprocess.CompletedProcess, out: Path, message: str) -> None:
    assert res.returncode == 1, (res.returncode, res.stderr)
    flat = " ".join(res.stderr.split())  # the console wraps long messages
    assert message in flat and "error:" in flat, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    assert not (out / f"date={DATE}").exists()


@pytest.mark.parametrize("how", ["parent is a file", "read-only directory"])
def test_unwritable_output_fails_early_without_a_partition(tmp_path: Path, how: str) -> None:
    if how == "parent is a file":  # unwritable for root too
        (tmp_path / "plain-file").write_text("x")
        out = tmp_path / "plain-file" / "runs"
        res = cli("nightly", str(SAMPLE / "pages"), "--out", str(out), "--date", DATE, "-q")
        assert_failed_cleanly(res, out, "cannot write")
        return
    ro = tmp_path / "ro"
    if os.geteuid() == 0:  # root writes through mode bits: use a read-only mount
        with tmpfs(ro, "size=1m,ro") as mounted:
            res = cli("nightly", str(SAMPLE / "pages"), "--out", str(mounted), "--date", DATE,
                      "-q")
            assert_failed_cleanly(res, mounted, "cannot write")
            assert list(mounted.iterdir()) == []
        return
    ro.mkdir(mode=0o500)
    res = cli("nightly", str(SAMPLE / "pages"), "--out", str(ro), "--date", DATE, "-q")
    assert_failed_cleanly(res, ro, "cannot write")
    assert list(ro.iterdir()) == []


def test_full_disk_is_refused_up_front(crawl_input: Path, tmp_path: Path) -> None:
    """2 MiB of space for a run whose input alone is several MiB: check_writable refuses it
    before any work."""
    with tmpfs(tmp_path / "tiny", "size=2m") as out:
        res = cli("nightly", str(crawl_input), "--out", str(out), "--date", DATE, "-q")
        assert_failed_cleanly(res, out, "not enough free space")
        assert not (out / ".staging").exists()


@pytest.mark.slow
def test_disk_filling_up_mid_run_fails_cleanly_and_resumes_after(
        crawl_input: Path, reference: dict[str, Any], tmp_path: Path) -> None:
    """A compressed input small enough to pass the free-space estimate whose output does not
    fit: the run fails with exit 1 and the OS's message, no traceback and no partition; once
    there is space, the same command resumes from the batches it kept."""
    zst = tmp_path / "crawl.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor(level=9).compress(crawl_input.read_bytes()))
    with tmpfs(tmp_path / "tiny", "size=2m") as out:
        assert zst.stat().st_size < shutil.disk_usage(out).free  # passes the estimate
        args = ["nightly", str(zst), "--out", str(out), "--date", DATE, "--batch-size", "20",
                "--workers", "2", "-q"]
        res = cli(*args)
        assert_failed_cleanly(res, out, "No space left on device")
        assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
        subprocess.run(["mount", "-o", "remount,size=64m", str(out)], check=True)
        res = cli(*args)
        assert res.returncode == 0, res.stderr
        tables, run = read_partition(out / f"date={DATE}")
        assert run["batches"]["resumed"] > 0
        assert run["counts"] == reference["run"]["counts"]
        for name in TABLES:  # same rows as the JSONL run, apart from the input's name
            assert tables[name].drop("source").equals(reference["tables"][name].drop("source"))
        assert_no_strays(out)


def _under_ulimit(kib: int, *args: str) -> subprocess.CompletedProcess:
    cmd = shlex.join([*PAGESCORE, *args])
    return subprocess.run(["bash", "-c", f"ulimit -v {kib} && exec {cmd}"], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("limit,workers", [
    ("3000000", 2),        # the brief's example, ~2.9 GiB
    ("floor+32MiB", 1),    # just above what check_memory demands: must really be enough
    ("1000000", 1),        # ~0.95 GiB: refused up front with a message
])
def test_address_space_limit_completes_or_fails_cleanly(tmp_path: Path, limit: str,
                                                        workers: int) -> None:
    """Under `ulimit -v` the run completes, or fails before any work with exit 1 and a
    message. Without the arena cap in check_memory the job needed ~1.8 GiB and died of SIGABRT
    (Rust allocation failure) or SIGSEGV below that."""
    need = address_space_needed(DEFAULT_BATCH_BYTES)  # the run's default batches
    kib = need // 1024 + 32 * 1024 if limit == "floor+32MiB" else int(limit)
    out = tmp_path / "out"
    res = _under_ulimit(kib, "nightly", str(SAMPLE / "crawl_sample.jsonl"), str(SAMPLE / "pages"),
                        "--out", str(out), "--date", DATE, "--workers", str(workers), "-q")
    if kib * 1024 >= need:
        assert res.returncode == 0, res.stderr
        run = json.loads((out / f"date={DATE}" / "run.json").read_text())
        n_in = sum(1 for line in (SAMPLE / "crawl_sample.jsonl").open() if line.strip()) + sum(
            1 for p in (SAMPLE / "pages").iterdir() if p.suffix in (".html", ".txt"))
        assert run["counts"]["pages_in"] == n_in
    else:
        assert_failed_cleanly(res, out, "address-space limit (ulimit -v)")
        assert not (out / ".staging").exists()


# --- property tests of the readers on cut files ---------------------------------------------------

@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=st.sampled_from(["plain", "gzip-per-record", "gzip-whole"]),
       where=st.floats(0, 1, exclude_max=True))
def test_cut_warc_never_scores_half_a_page(tmp_path: Path, mode: str, where: float) -> None:
    data, ends = build_warc(4, mode)
    cut = max(1, int(len(data) * where))
    path = tmp_path / ("cut.warc" if mode == "plain" else "cut.warc.gz")
    path.write_bytes(data[:cut])
    records = list(read_input(detect_input(path)))
    pages = [r for kind, r in records if kind == "page"]
    reasons = [r["reason"] for kind, r in records if kind != "page"]
    ids = warc_ids(4)
    for i, page in enumerate(pages):  # whole pages, in order, or nothing
        assert page["page_id"] == ids[i] and page["html"] == _html_page(i).decode()
    if cut not in ends:
        assert any(w in r for r in reasons for w in ("truncated", "unreadable", "corrupt")), (
            cut, reasons)
    else:
        assert reasons == [] and len(pages) == ends.index(cut) + 1


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.floats(0, 1, exclude_max=True))
def test_cut_zstd_jsonl_keeps_whole_lines_and_reports_the_cut(tmp_path: Path,
                                                             where: float) -> None:
    recs = [{"id": f"z-{i}", "text": f"line {i} " * 30} for i in range(20)]
    frames = [zstandard.ZstdCompressor().compress(
        "".join(json.dumps(r) + "\n" for r in recs[i:i + 5]).encode()) for i in range(0, 20, 5)]
    data = b"".join(frames)
    ends = [sum(map(len, frames[:k])) for k in range(1, 5)]
    cut = max(1, int(len(data) * where))
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(data[:cut])
    records = list(read_input(detect_input(path)))
    ids = [r["page_id"] for kind, r in records if kind == "page"]
    reasons = [r["reason"] for kind, r in records if kind != "page"]
    assert ids == [f"z-{i}" for i in range(len(ids))]
    if cut in ends:  # a cut between frames is a shorter valid file
        assert reasons == [] and len(ids) == 5 * (ends.index(cut) + 1)
    else:
        assert len(reasons) == 1 and "truncated" in reasons[0], reasons
        assert len(ids) >= 5 * sum(1 for e in ends if e < cut)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.sampled_from(["good", *BAD_KINDS]), min_size=1, max_size=40),
       rng=st.randoms(use_true_random=False))
def test_jsonl_every_line_is_a_page_or_a_quarantined_line(tmp_path: Path, kinds: list[str],
                                                          rng: random.Random) -> None:
    lines = [json.dumps({"id": f"g{n}", "text": "fine words"}).encode() if k == "good"
             else bad_line(k, rng) for n, k in enumerate(kinds, start=1)]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    records = list(read_input(detect_input(path)))
    pages = [r["page_id"] for kind, r in records if kind == "page"]
    named = [int(re.match(r"line (\d+): ", r["reason"]).group(1))
             for kind, r in records if kind != "page"]
    assert pages == [f"g{n}" for n, k in enumerate(kinds, start=1) if k == "good"]
    assert named == [n for n, k in enumerate(kinds, start=1) if k != "good"]


# --- staging: leftovers of killed runs cannot leak into a partition -------------------------------

def _tables(tag: str) -> dict[str, pl.DataFrame]:
    return {name: pl.DataFrame({"page_id": [tag]}) for name in TABLES}


def test_batches_are_appended_in_index_order_as_they_finish(tmp_path: Path) -> None:
    """The driver appends finished batches to final/ during the run, never past a gap; a
    rerun after a kill rebuilds final/ from the parts."""
    staging = Staging(tmp_path, DATE, "k")
    staging.prepare()
    for i in (1, 2):
        staging.write_batch(i, _tables(str(i)), {"index": i})
    staging.append_finished()
    assert staging._appended == 0  # batch 0 is missing: nothing may be appended yet
    staging.write_batch(0, _tables("0"), {"index": 0})
    staging.append_finished()
    assert staging._appended == 3
    staging.write_batch(3, _tables("3"), {"index": 3})
    # A kill here: final/ holds three batches; the rerun's prepare() drops it.
    again = Staging(tmp_path, DATE, "k")
    assert again.prepare() == 4 and not again.final.exists()
    dest = again.commit({})
    for name in TABLES:
        assert pl.read_parquet(dest / f"{name}.parquet")["page_id"].to_list() == list("0123")


def _cached_pages(path: Path) -> int:
    """How many of ``path``'s pages are in the page cache (mincore(2) over a mapping)."""
    import ctypes
    import mmap

    size = path.stat().st_size
    n_pages = -(-size // mmap.PAGESIZE)
    libc = ctypes.CDLL(None, use_errno=True)
    vec = (ctypes.c_ubyte * n_pages)()
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), size, access=mmap.ACCESS_COPY) as m:
        start = ctypes.c_char.from_buffer(m)  # a private mapping: no page is touched here
        try:
            if libc.mincore(ctypes.c_void_p(ctypes.addressof(start)), ctypes.c_size_t(size),
                            vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore failed")
        finally:
            del start
    return sum(b & 1 for b in vec)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mincore(2) and fadvise")
def test_parts_leave_the_page_cache_once_their_rows_are_written(tmp_path: Path) -> None:
    """A part is read once: after its rows went into final/, its pages are dropped from the
    cache (see TableAppender), and so are the final files' written row groups, once on
    disk; a part still held for the next row group is not."""
    from jobs.partition import TableAppender

    staging = Staging(tmp_path, DATE, "k")
    staging.prepare()
    def tables(n: int) -> dict[str, pl.DataFrame]:
        return {name: pl.DataFrame({"page_id": [f"p{i}" for i in range(n)],
                                    "text": ["some page text " * 20] * n}) for name in TABLES}

    rows = TableAppender.ROW_GROUP_ROWS  # batch 0 fills a row group of every table
    staging.write_batch(0, tables(rows), {"index": 0})
    staging.write_batch(1, tables(1), {"index": 1})
    staging.append_finished()
    written, held = staging.part_file(0, "texts"), staging.part_file(1, "texts")
    if _cached_pages(held) == 0:
        pytest.skip(f"{tmp_path} keeps no written file in the page cache")
    for name in TABLES:
        assert _cached_pages(staging.part_file(0, name)) == 0, name
        final = staging.final / f"{name}.parquet"
        assert final.stat().st_size > 1 << 12 and _cached_pages(final) == 0, name
    assert written.stat().st_size > 1 << 20  # a part of real size, not a page or two
    dest = staging.commit({})  # the rows themselves are all there
    assert pl.read_parquet(dest / "texts.parquet").height == rows + 1


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no page cache hints here")
def test_a_failed_write_of_a_final_row_group_fails_the_append(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dropping a final file's pages first writes them to disk; a failure there (EIO from
    the device) is the run's error, not a hint to ignore: later fsyncs on other file
    descriptors would not report it. The parts stay for a rerun."""
    import errno

    import jobs.partition as partition

    staging = Staging(tmp_path, DATE, "k")
    staging.prepare()
    rows = partition.TableAppender.ROW_GROUP_ROWS
    staging.write_batch(0, {name: pl.DataFrame({"page_id": [f"p{i}" for i in range(rows)]})
                            for name in TABLES}, {"index": 0})

    def failing_fdatasync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(partition.os, "fdatasync", failing_fdatasync)
    with pytest.raises(OutputError, match="Input/output error"):
        staging.append_finished()
    assert not staging.final.exists() and staging.is_done(0)


def test_leftover_worker_of_another_run_cannot_add_its_rows(tmp_path: Path) -> None:
    old = Staging(tmp_path, DATE, "old-key")
    old.prepare()
    new = Staging(tmp_path, DATE, "new-key")
    assert new.prepare() == 0  # different inputs: the old staging is gone
    with pytest.raises(OutputError, match="belongs to another run"):
        old.write_batch(0, _tables("stale"), {"index": 0})
    assert not new.is_done(0)
    assert not list(new.parts.iterdir())


def test_leftover_worker_of_the_same_run_is_harmless(tmp_path: Path) -> None:
    first, second = Staging(tmp_path, DATE, "k"), Staging(tmp_path, DATE, "k")
    first.prepare()
    first.write_batch(0, _tables("a"), {"index": 0})
    second.write_batch(0, _tables("a"), {"index": 0})  # same key, same rows: no error
    assert [p.name for p in first.parts.iterdir()] == ["batch-000000"]


def test_staging_killed_while_being_removed_is_not_resumed(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    staging = Staging(tmp_path, DATE, "k")
    staging.prepare()
    for i in range(3):
        staging.write_batch(i, _tables(str(i)), {"index": i})
    real_rmtree = shutil.rmtree

    def killed_midway(path: Any, *a: Any, **kw: Any) -> None:
        staging.part_file(1, "scores").unlink()
        raise SystemExit("killed")  # as if SIGKILL struck in the middle of the removal

    monkeypatch.setattr("jobs.partition.shutil.rmtree", killed_midway)
    with pytest.raises(SystemExit):
        staging.commit({"counts": {}})
    monkeypatch.setattr("jobs.partition.shutil.rmtree", real_rmtree)
    assert (tmp_path / f"date={DATE}").is_dir()  # the commit itself had finished
    again = Staging(tmp_path, DATE, "k")
    assert again.prepare() == 0  # the half-removed batches are not taken for finished work


def test_commit_replaces_a_partition_in_one_swap_and_repairs_a_half_swap(tmp_path: Path) -> None:
    dest = tmp_path / f"date={DATE}"
    for tag in ("one", "two"):
        staging = Staging(tmp_path, DATE, tag)
        staging.prepare()
        staging.write_batch(0, _tables(tag), {"index": 0})
        staging.commit({"tag": tag})
        assert pl.read_parquet(dest / "scores.parquet")["page_id"].to_list() == [tag]
    assert list((tmp_path / ".staging").iterdir()) == []
    # An older commit killed between "partition -> previous" and "final -> partition":
    staging = Staging(tmp_path, DATE, "three")
    staging.root.mkdir(parents=True)
    os.replace(dest, staging.previous)
    staging.prepare()
    assert pl.read_parquet(dest / "scores.parquet")["page_id"].to_list() == ["two"]


def test_unreadable_regular_file_in_a_folder_is_quarantined(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "ok.txt").write_text("fine text")
    (site / "mem.html").symlink_to("/proc/self/mem")
    kinds = {r["page_id"]: (k, r.get("reason")) for k, r in read_input(detect_input(site))}
    assert kinds["ok.txt"][0] == "page"
    assert kinds["mem.html"][0] == "quarantine" and "unreadable file" in kinds["mem.html"][1]

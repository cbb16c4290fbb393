"""What dropping read parts from the page cache saves (``jobs.partition.TableAppender``).

Usage: python bench/page_reuse.py [--parts 25] [--part-mb 20] [--rounds 3] [--pause 8]

Writes ``--parts`` files of ``--part-mb`` MB each, as workers write batch parts (write, fsync),
while a reader reads each one back two parts later, as the driver appends them. Variant
"kept" leaves every read part in the page cache, as before; variant "dropped" drops each part
once read (``posix_fadvise(DONTNEED)``), so the next parts can reuse its pages. The two
variants alternate for ``--rounds`` rounds, each after a ``--pause`` of idle seconds (a host
that takes back free guest memory does so after a while), and the CPU seconds (user + system)
of each are printed with the medians. Standard library only; the files go to a temp dir under
``--dir`` (default: the system temp dir) and are deleted.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path


def cpu_seconds() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def one_round(work: Path, parts: int, payload: bytes, drop: bool) -> tuple[float, float]:
    """(user, system) CPU seconds to write ``parts`` parts and read each back once."""
    user0, sys0 = cpu_seconds()
    paths = [work / f"part-{i:04d}" for i in range(parts)]

    def read_back(path: Path) -> None:
        with path.open("rb") as fh:
            while fh.read(1 << 20):
                pass
            if drop:
                os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)

    for i, path in enumerate(paths):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        if i >= 2:
            read_back(paths[i - 2])
    for path in paths[-2:]:
        read_back(path)
    user1, sys1 = cpu_seconds()
    for path in paths:
        path.unlink()
    return user1 - user0, sys1 - sys0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", type=int, default=25)
    ap.add_argument("--part-mb", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pause", type=float, default=8.0)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    if not hasattr(os, "posix_fadvise"):
        raise SystemExit("posix_fadvise is not available on this platform")
    payload = os.urandom(args.part_mb << 20)
    results: dict[str, list[float]] = {"kept": [], "dropped": []}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for r in range(args.rounds):
            for variant in results:
                time.sleep(args.pause)
                user, system = one_round(Path(tmp), args.parts, payload, variant == "dropped")
                results[variant].append(user + system)
                print(f"round {r + 1} {variant:8s} user {user:.3f} s  system {system:.3f} s  "
                      f"CPU {user + system:.3f} s", flush=True)
    total_mb = args.parts * args.part_mb
    for variant, cpu in results.items():
        print(f"{variant:8s} median CPU {statistics.median(cpu):.3f} s for {total_mb} MB "
              f"written and read back ({args.rounds} rounds)")
    print(f"ratio dropped/kept: "
          f"{statistics.median(results['dropped']) / statistics.median(results['kept']):.3f}")


if __name__ == "__main__":
    main()

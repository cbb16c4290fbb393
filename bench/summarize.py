#!/usr/bin/env python3
"""Print the benchmark table for one run.sh work directory.

Reads, under WORKDIR: corpus/manifest.json (pages, text MB), <side>.time (``/usr/bin/time -v``
output) for the sides pagescore and datatrove, datatrove.json (the filter script's own line) and
runs/date=<DATE>/run.json (pagescore's ``timings``: stage name -> seconds, where a ``wall`` or
``total`` key is taken as the whole run, and its ``counts``). A side without a
.time file is shown as skipped, with the reason from <side>.skipped if there is one.
Exits 1 when a side that ran failed (non-zero exit or killed), else 0.
CPU s is user + sys of the whole process, start-up included; 1 MB = 10^6 bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SIDES = ("pagescore", "datatrove")
HEADER = ("side", "pages", "MB", "wall s", "CPU s", "pages/s", "MB/CPU-s", "peak RSS MB")


def parse_time_v(path: Path) -> dict[str, float]:
    """Pull wall, user+sys CPU, peak RSS and exit status out of `/usr/bin/time -v` output."""
    out: dict[str, float] = {}
    for raw in path.read_text(errors="replace").splitlines():
        key, _, value = raw.strip().rpartition(": ")
        if key == "User time (seconds)":
            out["user_s"] = float(value)
        elif key == "System time (seconds)":
            out["sys_s"] = float(value)
        elif key.startswith("Elapsed (wall clock) time"):
            # h:mm:ss or m:ss.ss
            secs = 0.0
            for part in value.split(":"):
                secs = secs * 60 + float(part)
            out["wall_s"] = secs
        elif key == "Maximum resident set size (kbytes)":
            out["rss_mb"] = int(value) * 1024 / 1e6
        elif key == "Exit status":
            out["exit"] = int(value)
        elif raw.strip().startswith("Command terminated by signal"):
            out["signal"] = int(raw.split()[-1])
    if "user_s" not in out or "wall_s" not in out:
        raise ValueError(f"{path}: not /usr/bin/time -v output")
    out["cpu_s"] = out["user_s"] + out["sys_s"]
    return out


def fmt(value: float | None, digits: int = 1) -> str:
    """Format a number for the table, '-' when missing."""
    return "-" if value is None else f"{value:,.{digits}f}"


def side_row(name: str, t: dict[str, float], pages: int, mb: float, failed: bool) -> list[str]:
    """One table row from a side's time -v figures (no rates for a run that failed)."""
    mb_cpu = mb / t["cpu_s"] if t["cpu_s"] and not failed else None
    pps = pages / t["wall_s"] if t["wall_s"] and not failed else None
    return [
        name,
        "FAILED" if failed else str(pages),
        fmt(mb),
        fmt(t["wall_s"], 2),
        fmt(t["cpu_s"], 2),
        fmt(pps),
        fmt(mb_cpu, 3),
        fmt(t["rss_mb"]),
    ]


def print_table(rows: list[list[str]]) -> None:
    """Print rows under HEADER with right-aligned numbers."""
    widths = [max(len(r[i]) for r in [list(HEADER), *rows]) for i in range(len(HEADER))]
    for r in [list(HEADER), *rows]:
        nums = [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        print("  ".join([r[0].ljust(widths[0]), *nums]).rstrip())


TOTAL_KEYS = ("wall", "total")


def print_stages(run_json: Path) -> None:
    """Print pagescore's stage timings and counts from run.json, whatever stages it lists."""
    if not run_json.exists():
        print(f"pagescore stages: no {run_json}")
        return
    run = json.loads(run_json.read_text())
    if isinstance(run.get("counts"), dict):
        print(f"pagescore counts: {json.dumps(run['counts'])}")
    timings = run.get("timings")
    if not isinstance(timings, dict) or not timings:
        print(f"pagescore stages: {run_json} has no `timings` object")
        return
    # A whole-run figure ("wall") is no stage. Stages can run in parallel workers and then add up
    # to more than the wall time, so shares are of the stages' sum, not of the wall time.
    total_key = next((k for k in TOTAL_KEYS if isinstance(timings.get(k), int | float)), None)
    stages = {k: v for k, v in timings.items() if k != total_key}
    base = sum(v for v in stages.values() if isinstance(v, int | float))
    title = f"stages sum {base:.2f} s"
    if total_key:
        title = f"{total_key} {timings[total_key]:.2f} s, {title}"
    print(f"pagescore stages (run.json timings; {title}):")
    width = max(len(str(k)) for k in stages) if stages else 0
    for stage, secs in stages.items():
        if isinstance(secs, int | float):
            share = f"  {100 * secs / base:5.1f} %" if base else ""
            print(f"  {str(stage).ljust(width)}  {secs:8.3f} s{share}")
        else:
            print(f"  {str(stage).ljust(width)}  {secs}")


def main(argv: list[str] | None = None) -> int:
    """Read one work directory and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--date", default="2000-01-01", help="the --date pagescore ran with")
    args = ap.parse_args(argv)
    work: Path = args.workdir

    manifest = json.loads((work / "corpus" / "manifest.json").read_text())
    pages, mb = int(manifest["text_pages"]), float(manifest["text_mb"])
    print(f"corpus: {pages} text pages, {mb:.1f} MB of text (same text.jsonl for both sides)")

    rows: list[list[str]] = []
    mb_per_cpu: dict[str, float] = {}
    any_failed = False
    for side in SIDES:
        time_file = work / f"{side}.time"
        if not time_file.exists():
            skipped = work / f"{side}.skipped"
            why = skipped.read_text().strip() if skipped.exists() else "no measurement"
            rows.append([side, "skipped", "", "", "", "", "", ""])
            print(f"{side}: skipped: {why}")
            continue
        t = parse_time_v(time_file)
        failed = t.get("exit", 0) != 0 or "signal" in t
        rows.append(side_row(side, t, pages, mb, failed))
        if failed:
            any_failed = True
            status = f"signal {int(t['signal'])}" if "signal" in t else f"exit {int(t['exit'])}"
            print(f"{side}: FAILED ({status}); see {side}.log in the work dir (KEEP=1 keeps it)")
        elif t["cpu_s"]:
            mb_per_cpu[side] = mb / t["cpu_s"]
    print()
    print_table(rows)
    if len(mb_per_cpu) == 2:
        ratio = mb_per_cpu["pagescore"] / mb_per_cpu["datatrove"]
        print(f"\nratio pagescore/datatrove of MB per CPU-second: {ratio:.2f}x")
    else:
        print("\nratio pagescore/datatrove of MB per CPU-second: n/a (needs both sides)")

    dt_json = work / "datatrove.json"
    if dt_json.exists() and dt_json.read_text().strip():
        dt = json.loads(dt_json.read_text().strip().splitlines()[-1])
        print(
            f"datatrove: kept {dt['kept']}/{dt['pages']}; filter loop {dt['cpu_s']:.2f} CPU s "
            f"({dt['mb_per_cpu_s']} MB/CPU-s without start-up); tokenizer {dt['tokenizer']}"
        )
    if (work / "pagescore.time").exists():
        print()
        print_stages(work / "runs" / f"date={args.date}" / "run.json")
    html_time = work / "pagescore-html.time"
    if html_time.exists():
        t = parse_time_v(html_time)
        hp, hmb = int(manifest.get("html_pages", 0)), float(manifest.get("html_mb", 0.0))
        failed = t.get("exit", 0) != 0 or "signal" in t
        any_failed = any_failed or failed
        print(f"\npagescore on raw HTML ({hp} pages, {hmb:.1f} MB of HTML):")
        print_table([side_row("pagescore-html", t, hp, hmb, failed)])
        text_t = work / "pagescore.time"
        if not failed and text_t.exists() and hp:
            tt = parse_time_v(text_t)
            share = (hp / t["wall_s"]) / (pages / tt["wall_s"])
            print(f"HTML pages/s as a share of text pages/s: {share:.0%}")
        print_stages(work / "runs-html" / f"date={args.date}" / "run.json")
    # Non-zero when a side that ran failed, so a script or CI notices; a skipped side is no failure.
    return 1 if any_failed else 0


if __name__ == "__main__":
    sys.exit(main())

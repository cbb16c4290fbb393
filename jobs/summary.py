"""The short end-of-run summary printed by `pagescore nightly`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def print_run_summary(partition: Path, run: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    c = run["counts"]
    table = Table(title=f"pagescore nightly {run['date']}", show_header=False)
    table.add_row("pages in", f"{c['pages_in']:,}")
    table.add_row("scored", f"{c['scored']:,}")
    table.add_row("quarantined", f"{c['quarantined']:,}")
    for d in ("publish", "review", "reject"):
        n = c["decisions"].get(d, 0)
        table.add_row(f"  {d}", f"{n:,} ({n / max(1, c['scored']):.0%})")
    table.add_row("model", run["model"]["version"])
    table.add_row("wall time", f"{run['timings']['wall']:.1f} s")
    console.print(table)
    console.print(f"output: {partition}", soft_wrap=True, highlight=False)
    if c["scored"]:
        from jobs.report.summary import top_reasons_query

        top = top_reasons_query(partition / "scores.parquet", 5).collect()
        if top.height:
            t2 = Table(title="top reasons")
            t2.add_column("reason")
            t2.add_column("pages", justify="right")
            for reason, n in top.iter_rows():
                t2.add_row(reason, f"{n:,}")
            console.print(t2)

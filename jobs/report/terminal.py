"""`print_summary`: the run summary as rich tables in the terminal."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from features.schema import BY_NAME

DECISION_STYLE = {"publish": "green", "review": "yellow", "reject": "red"}
BAR_WIDTH = 40
REASON_CHARS = 72


def short_source(source: str | None) -> str:
    """The last path component of an input source (the full path is in the JSON)."""
    if not source:
        return "-"
    return PurePath(source).name or source


def _pct(x: float | None, fmt: str = "{:.1%}") -> str:
    return "-" if x is None else fmt.format(x)


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


def _clip(text: str, width: int = REASON_CHARS) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _delta_pp(x: float | None) -> Text:
    if x is None:
        return Text("-")
    style = "dim" if abs(x) < 0.005 else ("green" if x > 0 else "red")
    return Text(f"{x * 100:+.1f} pp", style=style)


def _overview(s: dict[str, Any]) -> Table:
    t = Table(title=f"pagescore report {s['run_date']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("partition", s["partition"])
    t.add_row("model", str(s["model"].get("version") or "-"))
    t.add_row("pages", f"{s['pages']:,}")
    t.add_row("scored", f"{s['scored']:,}")
    t.add_row("quarantined", f"{s['quarantined']:,}")
    return t


def _decisions(s: dict[str, Any]) -> Table:
    change = (s.get("change") or {}).get("decision_shares", {})
    t = Table(title="decisions", title_justify="left")
    t.add_column("decision")
    t.add_column("pages", justify="right")
    t.add_column("share", justify="right")
    if change:
        t.add_column(f"vs {s['previous']['date']}", justify="right")
    for d, v in s["decisions"].items():
        row: list[Any] = [Text(d, style=DECISION_STYLE.get(d, "")), f"{v['count']:,}",
                          _pct(v["share"])]
        if change:
            row.append(_delta_pp(change.get(d, {}).get("delta")))
        t.add_row(*row)
    return t


def _scores(s: dict[str, Any]) -> Table:
    sc = s["score"]
    q = sc["quantiles"]
    caption = (f"mean {_num(sc['mean'])} · p10 {_num(q.get('p10'))} · median "
               f"{_num(q.get('p50'))} · p90 {_num(q.get('p90'))}")
    t = Table(title="score distribution", title_justify="left", caption=caption,
              caption_justify="left", show_edge=False, box=None, padding=(0, 1))
    t.add_column("score", style="dim")
    t.add_column("pages", justify="right")
    t.add_column("")
    top = max((b["count"] for b in sc["histogram"]), default=0) or 1
    for b in sc["histogram"]:
        bar = "█" * round(BAR_WIDTH * b["count"] / top)
        t.add_row(f"{b['lo']:.2f}-{b['hi']:.2f}", f"{b['count']:,}", Text(bar, style="cyan"))
    return t


def _reasons(s: dict[str, Any]) -> Table:
    t = Table(title="top reasons", title_justify="left")
    t.add_column("reason")
    t.add_column("pages", justify="right")
    t.add_column("share", justify="right")
    for r in s["top_reasons"]:
        t.add_row(r["reason"], f"{r['pages']:,}", _pct(r["share"]))
    return t


def _sources(s: dict[str, Any]) -> Table:
    shown, total = len(s["sources"]), s.get("sources_total", len(s["sources"]))
    title = "per source" + (f" (largest {shown} of {total})" if total > shown else "")
    t = Table(title=title, title_justify="left")
    t.add_column("source", overflow="ellipsis", no_wrap=True, min_width=16, max_width=48)
    t.add_column("pages", justify="right")
    t.add_column("quar.", justify="right")
    for d in ("publish", "review", "reject"):
        t.add_column(d, justify="right", style=DECISION_STYLE[d])
    t.add_column("mean", justify="right")
    for r in s["sources"]:
        t.add_row(short_source(r["source"]), f"{r['pages']:,}", f"{r['quarantined']:,}",
                  *(_pct(r["decisions"].get(d), "{:.0%}") for d in ("publish", "review", "reject")),
                  _num(r["mean_score"]))
    return t


def _lowest(s: dict[str, Any]) -> Table:
    t = Table(title="lowest-scoring pages", title_justify="left", show_lines=True)
    t.add_column("score", justify="right", min_width=5, no_wrap=True)
    t.add_column("decision", min_width=8, no_wrap=True)
    t.add_column("page", overflow="fold", min_width=22, max_width=40)
    t.add_column("reasons", overflow="fold", ratio=1)
    for p in s["lowest"]:
        where = f"{p['page_id']}\n[dim]{short_source(p['source'])}[/]"
        reasons = "\n".join(f"• {_clip(r)}" for r in p["reasons"]) or "-"
        t.add_row(_num(p["score"]), Text(p["decision"] or "-",
                                          style=DECISION_STYLE.get(p["decision"] or "", "")),
                  where, Text(reasons))
    return t


def _change(s: dict[str, Any]) -> Table | Text:
    prev, change = s.get("previous"), s.get("change")
    if not prev or not change:
        return Text("no previous run in this output directory: nothing to compare", style="dim")
    t = Table(title=f"change vs previous run {prev['date']}", title_justify="left")
    t.add_column("")
    t.add_column(prev["date"] or "previous", justify="right")
    t.add_column(s["run_date"] or "this run", justify="right")
    t.add_column("change", justify="right")
    t.add_row("scored", f"{prev['scored']:,}", f"{s['scored']:,}", f"{change['scored']:+,}")
    t.add_row("mean score", _num(prev["mean_score"]), _num(s["score"]["mean"]),
              _num(change["mean_score"], "{:+.3f}"))
    for d, v in change["decision_shares"].items():
        t.add_row(f"{d} share", _pct(v["previous_share"]), _pct(v["share"]),
                  _delta_pp(v["delta"]))
    return t


def _drift(s: dict[str, Any]) -> Table | Text:
    drift = s["drift"]
    if drift.get("previous") is None:
        return Text("feature drift: no previous run to compare against", style="dim")
    values = {k: v for k, v in drift["psi"].items() if v is not None}
    if not drift["drifted"]:
        top = max(values.items(), key=lambda kv: kv[1], default=None)
        detail = f" (largest PSI {top[1]:.3f}: {top[0]})" if top else ""
        return Text(f"feature drift: none above PSI {drift['threshold']}{detail}", style="green")
    t = Table(title=f"drifted features (PSI > {drift['threshold']})", title_justify="left")
    t.add_column("feature", style="bold yellow", no_wrap=True,
                 min_width=max(len(n) for n in drift["drifted"]))
    t.add_column("PSI", justify="right", no_wrap=True)
    t.add_column("meaning", overflow="ellipsis", no_wrap=True, max_width=60)
    for name in sorted(drift["drifted"], key=lambda n: -values[n]):
        meaning = BY_NAME[name].meaning if name in BY_NAME else ""
        t.add_row(name, f"{values[name]:.3f}", meaning)
    return t


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    """Print ``summary`` (from ``build_summary``) as terminal tables."""
    console = console or Console()
    for part in (_overview, _decisions, _scores, _reasons, _sources, _lowest, _change, _drift):
        console.print(part(summary))
        console.print()

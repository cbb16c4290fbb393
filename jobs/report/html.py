"""`write_html_report`: one self-contained HTML file (inline CSS, inline SVG charts, inline
vanilla JS and data; no remote scripts, styles or fonts) that works offline."""

from __future__ import annotations

import datetime as dt
import json
import os
from html import escape
from pathlib import Path
from typing import Any

from jobs import __version__
from jobs.report import charts
from jobs.report.assets import CSS, JS
from jobs.report.drift import feature_distributions
from jobs.report.pages import (
    FLAGS,
    TABLE_ROWS,
    TEXT_PAGES,
    lowest_pages,
    page_texts,
    reason_flag_keys,
)
from jobs.report.partitions import partition_date, read_run, recent_partitions
from jobs.report.summary import decision_counts
from jobs.report.terminal import short_source

HISTORY_RUNS = 30
SMALL_RUN = 1000  # below this many pages per run, PSI over 10 bins is mostly sampling noise
FLAG_SHORT = {"dup": "duplicate", "error": "error", "wall": "wall", "promo": "promo",
              "boiler": "boilerplate"}


def _e(x: Any) -> str:
    return escape("" if x is None else str(x))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if x is None else fmt.format(x)


def _json_for_script(data: Any) -> str:
    """JSON safe inside a <script> element (no '</script>', '<!--' or '&' sequences)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _thresholds_note(model: dict[str, Any]) -> str:
    th = model.get("thresholds") or {}
    if not th:
        return ""
    parts = [f"publish at score ≥ {th['publish']:.3f}" if "publish" in th else "",
             f"reject below {th['reject']:.3f}" if "reject" in th else ""]
    return (f"Model <code>{_e(model.get('version'))}</code>: "
            f"{', '.join(p for p in parts if p)}, review in between.")


def _history(partition: Path) -> list[dict[str, Any]]:
    out = []
    for p in recent_partitions(partition, HISTORY_RUNS):
        counts = (read_run(p).get("counts") or {}).get("decisions")
        if not isinstance(counts, dict):
            counts = decision_counts(p)
        out.append({"date": partition_date(p) or p.name, "decisions": counts})
    return out


def _history_table(history: list[dict[str, Any]]) -> str:
    rows = []
    for h in reversed(history):
        total = sum(h["decisions"].values())
        cells = "".join(f'<td class="num">{_pct(h["decisions"].get(d, 0) / total if total else None)}'
                        "</td>" for d in ("publish", "review", "reject"))
        rows.append(f'<tr><td>{_e(h["date"])}</td><td class="num">{total:,}</td>{cells}</tr>')
    return ('<table class="runs"><thead><tr><th>run</th><th class="num">scored</th>'
            '<th class="num">publish</th><th class="num">review</th><th class="num">reject</th>'
            f'</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _kpis(s: dict[str, Any]) -> str:
    prev, change = s.get("previous"), s.get("change") or {}
    shares = change.get("decision_shares", {})

    def card(label: str, value: str, delta: str = "") -> str:
        return (f'<div class="kpi"><div class="label">{_e(label)}</div>'
                f'<div class="value">{value}</div><div class="delta">{delta}</div></div>')

    def pp(d: float | None, good_up: bool) -> str:
        if d is None or prev is None:
            return ""
        cls = "" if abs(d) < 0.005 else ("up" if (d > 0) == good_up else "down")
        return f'<span class="{cls}">{d * 100:+.1f} pp</span> vs {_e(prev["date"])}'

    cards = [card("pages", f"{s['pages']:,}"),
             card("scored", f"{s['scored']:,}",
                  f"{change['scored']:+,} vs {_e(prev['date'])}" if prev else ""),
             card("quarantined", f"{s['quarantined']:,}")]
    for d in ("publish", "review", "reject"):
        v = s["decisions"].get(d, {"count": 0, "share": 0.0})
        pages = f"{v['count']:,} page{'' if v['count'] == 1 else 's'}"
        delta = pp(shares.get(d, {}).get("delta"), d != "reject")
        cards.append(card(d, f"{v['share']:.1%}", pages + (f" · {delta}" if delta else "")))
    mean_delta = change.get("mean_score")
    cards.append(card("mean score", _num(s["score"]["mean"]),
                      f"{mean_delta:+.3f} vs {_e(prev['date'])}"
                      if prev and mean_delta is not None else ""))
    drifted = s["drift"]["drifted"]
    cards.append(card("drifted features", str(len(drifted)) if prev else "-",
                      f"PSI &gt; {s['drift']['threshold']}" if prev else "no previous run"))
    return f'<div class="kpis">{"".join(cards)}</div>'


def _reasons_table(s: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><td><a href="#pages-section" class="reason-link" data-reason="{_e(r["reason"])}">'
        f'{_e(r["reason"])}</a></td><td class="num" data-v="{r["pages"]}">{r["pages"]:,}</td>'
        f'<td class="num" data-v="{r["share"]}">{_pct(r["share"])}'
        f'{charts.bar_cell(r["share"])}</td></tr>'
        for r in s["top_reasons"])
    return ('<table class="sortable"><thead><tr><th data-sort="text">reason</th>'
            '<th class="num" data-sort="num">pages</th><th class="num" data-sort="num">share of '
            f'scored</th></tr></thead><tbody>{rows or "<tr><td colspan=3>none</td></tr>"}'
            '</tbody></table>')


def _sources_table(s: dict[str, Any]) -> str:
    body = []
    for r in s["sources"]:
        cells = "".join(f'<td class="num" data-v="{r["decisions"].get(d, 0)}">'
                        f'{_pct(r["decisions"].get(d))}'
                        f'{charts.bar_cell(r["decisions"].get(d, 0), charts.DECISION_COLORS[d])}'
                        "</td>" for d in ("publish", "review", "reject"))
        body.append(f'<tr><td class="src" title="{_e(r["source"])}">{_e(short_source(r["source"]))}'
                    f'</td><td class="num" data-v="{r["pages"]}">{r["pages"]:,}</td>'
                    f'<td class="num" data-v="{r["quarantined"]}">{r["quarantined"]:,}</td>'
                    f'{cells}<td class="num" data-v="{r["mean_score"] or 0}">'
                    f'{_num(r["mean_score"])}</td></tr>')
    shown, total = len(s["sources"]), s.get("sources_total", len(s["sources"]))
    note = (f'<p class="note">The {shown} largest of {total} sources.</p>'
            if total > shown else "")
    return (note + '<table class="sortable" id="sources"><thead><tr>'
            '<th data-sort="text">source</th><th class="num" data-sort="num">pages</th>'
            '<th class="num" data-sort="num">quarantined</th>'
            '<th class="num" data-sort="num">publish</th><th class="num" data-sort="num">review'
            '</th><th class="num" data-sort="num">reject</th>'
            '<th class="num" data-sort="num">mean score</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _drift_section(partition: Path, s: dict[str, Any]) -> str:
    drift = s["drift"]
    prev = Path(drift["previous"]) if drift["previous"] else None
    dists = feature_distributions(partition, prev)
    psi = drift["psi"]
    threshold = drift["threshold"]

    def key(d: dict[str, Any]) -> tuple[int, float, str]:
        v = psi.get(d["name"])
        return (0 if v is not None and v > threshold else 1, -(v or 0.0), d["name"])

    cards = []
    for d in sorted(dists, key=key):
        v = psi.get(d["name"])
        drifted = v is not None and v > threshold
        cur, old = d["current"], d["previous"]
        svg = charts.mini_histogram_svg(cur["shares"] if cur else None,
                                        old["shares"] if old else None)
        means = f'mean {_num(cur["mean"]) if cur else "-"}'
        if old:
            means = f'mean {_num(old["mean"])} → {_num(cur["mean"]) if cur else "-"}'
        cards.append(
            f'<div class="feat{" drifted" if drifted else ""}" data-feature="{_e(d["name"])}">'
            f'<span class="psi">PSI {_num(v)}</span><div class="name">{_e(d["name"])}</div>'
            f'<div class="meaning" title="{_e(d["meaning"])}">{_e(d["meaning"])}</div>{svg}'
            f'<div class="means">{means} · range {d["lo"]:.3g}–{d["hi"]:.3g}</div></div>')
    if prev is None:
        intro = ("No previous run in this output directory: the distributions of this run only; "
                 "PSI needs a previous run.")
    else:
        names = ", ".join(f"<b>{_e(n)}</b>" for n in drift["drifted"]) or "none"
        intro = (f"Against the previous run <code>{_e(partition_date(prev))}</code>. PSI over "
                 f"10 bins cut at the previous run's deciles; features above {threshold} are "
                 f"flagged. Drifted ({len(drift['drifted'])}): {names}.")
        smallest = min(s["scored"], (s.get("previous") or {}).get("scored", 0))
        if smallest < SMALL_RUN:
            intro += (f" <b>Caution:</b> with {smallest:,} pages in the smaller run, PSI is "
                      "noisy; values above 0.2 are expected from sampling alone.")
    legend = ('<span class="legend-inline"><span class="swatch" style="background:#3b7dd8">'
              '</span>this run<span class="swatch" style="background:none;border-top:2px solid '
              '#555;height:0"></span>previous run (shares per bin, 20 equal-width bins over '
              "the 1st–99th percentile)</span>")
    return (f'<p class="note">{intro}</p><p>{legend}</p>'
            f'<div class="drift-grid">{"".join(cards)}</div>')


def _pages_section(total: int, shown: int) -> str:
    cap = (f"The report carries the {shown:,} lowest-scoring of {total:,} scored pages."
           if total > shown else f"All {total:,} scored pages, lowest score first.")
    return (
        f'<p class="note">{cap} Click a page to see its reasons; the {TEXT_PAGES} '
        "lowest-scoring pages (marked ¶) also show their text with the flagged lines "
        "highlighted.</p>"
        '<div class="filters"><input type="search" id="f-q" placeholder="Filter by page id, '
        'URL, source or reason text…" aria-label="filter">'
        '<select id="f-decision" aria-label="decision"><option value="">all decisions</option>'
        '<option>publish</option><option>review</option><option>reject</option></select>'
        '<select id="f-source" aria-label="source"><option value="">all sources</option>'
        '</select><select id="f-reason" aria-label="reason"><option value="">any reason'
        '</option></select><label class="legend-inline"><input type="checkbox" id="f-text"> '
        'with text</label><span class="count" id="f-count"></span></div>'
        '<div class="table-wrap"><table id="pages"><thead><tr>'
        '<th class="num" data-key="rank">#</th><th class="num" data-key="score">score</th>'
        '<th data-key="decision">decision</th><th data-key="reasons">reasons</th>'
        '<th data-key="source">source</th><th data-key="page">page</th></tr></thead>'
        '<tbody></tbody></table></div><button id="more" hidden>Show more</button>'
    )


def _page_data(partition: Path) -> tuple[dict[str, Any], int, int]:
    rows, total = lowest_pages(partition, TABLE_ROWS)
    texts = page_texts(partition, rows[:TEXT_PAGES])
    sources: dict[str, int] = {}
    text_list: list[dict[str, Any]] = []
    packed = []
    for i, r in enumerate(rows):
        t = texts[i] if i < len(texts) else None
        idx = -1
        if t is not None:
            idx = len(text_list)
            text_list.append(t)
        src = sources.setdefault(r["source"], len(sources))
        packed.append([r["page_id"], r["url"], src, r["score"], r["decision"],
                       list(r["reasons"] or []), idx])
    data = {
        "rows": packed, "sources": list(sources), "texts": text_list, "textPages": TEXT_PAGES,
        "flags": [{"key": k, "label": label, "short": FLAG_SHORT.get(k, k)}
                  for _, k, label in FLAGS],
        "reasonFlags": reason_flag_keys(),
    }
    return data, total, len(rows)


def render_html(partition: Path, summary: dict[str, Any]) -> str:
    """The report as one HTML string."""
    s = summary
    data, total, shown = _page_data(partition)
    decisions_svg = charts.decisions_chart(s["decisions"])
    hist_svg = charts.score_histogram_chart(s["score"]["histogram"], s["model"].get("thresholds"))
    history = _history(partition)
    history_svg = charts.history_chart(history)
    q = s["score"]["quantiles"]
    prev = s.get("previous")
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections = [
        ("overview", "Overview", _kpis(s)),
        ("decisions", "Decisions and scores",
         f'<div class="charts"><div class="chart">{decisions_svg}</div>'
         f'<div class="chart">{hist_svg}</div></div>'
         f'<p class="note">Score quantiles: p10 {_num(q.get("p10"))} · p25 {_num(q.get("p25"))}'
         f' · median {_num(q.get("p50"))} · p75 {_num(q.get("p75"))} · p90 '
         f'{_num(q.get("p90"))}. {_thresholds_note(s["model"])}</p>'),
        ("history", "Recent runs",
         f'<p class="note">Decision shares of the last {len(history)} run(s) in '
         f'<code>{_e(partition.parent)}</code>.</p><div class="charts"><div class="chart">'
         f'{history_svg}</div><div class="runs-wrap">{_history_table(history)}</div></div>'),
        ("reasons", "Top reasons", '<p class="note">Pages citing each reason (the text before '
         "its first ':'). Click a reason to filter the pages table.</p>" + _reasons_table(s)),
        ("drift", "Feature drift", _drift_section(partition, s)),
        ("sources", "Sources", _sources_table(s)),
        ("pages-section", "Pages", _pages_section(total, shown)),
    ]
    toc = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{_e(title)}</h2>{content}</section>'
                   for sid, title, content in sections)
    prev_txt = (f"previous run <code>{_e(prev['date'])}</code>" if prev
                else "no previous run")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>pagescore report {_e(s['run_date'])}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><h1>pagescore report · {_e(s["run_date"])}</h1>'
        f'<div class="meta">partition <code>{_e(s["partition"])}</code> · model '
        f'<code>{_e(s["model"].get("version"))}</code> · {prev_txt} · generated {generated}'
        f'</div><nav class="toc">{toc}</nav></header><main>{body}'
        f"<footer>pagescore {_e(__version__)} · self-contained report: no network needed"
        "</footer></main>"
        '<div class="backdrop" hidden></div>'
        '<aside id="page-view" hidden aria-label="page view"><div class="head">'
        '<button class="close" aria-label="close">✕</button><h3></h3><div class="meta"></div>'
        '<ul class="reasons"></ul><div class="legend"></div></div><div class="body"></div>'
        "</aside>"
        f'<script id="report-data" type="application/json">{_json_for_script(data)}</script>'
        f"<script>{JS}</script></body></html>"
    )


def write_html_report(partition: Path, summary: dict[str, Any], path: Path) -> None:
    """Write the self-contained HTML report of ``partition`` (with ``summary`` from
    ``build_summary``) to ``path``, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_html(Path(os.path.abspath(partition)), summary)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)

"""Charts for the HTML report as inline SVG: altair specs rendered offline by vl-convert, and
small hand-drawn SVG histograms for the per-feature drift grid (41 of them stay cheap)."""

from __future__ import annotations

import html
from typing import Any

import altair as alt

DECISION_COLORS = {"publish": "#2e9d5b", "review": "#e0a526", "reject": "#d64545"}
FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"


def _config(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    return (chart.configure(font=FONT, background="transparent")
            .configure_view(stroke=None)
            .configure_axis(labelColor="#444", titleColor="#444", gridColor="#eceff3",
                            domainColor="#c9ced6", tickColor="#c9ced6", labelFontSize=11,
                            titleFontSize=11, titleFontWeight="normal")
            .configure_legend(labelFontSize=11, titleFontSize=11, orient="bottom",
                              titleFontWeight="normal"))


def to_svg(chart: alt.TopLevelMixin) -> str:
    """Render an altair chart to an SVG string offline (no scripts, fonts or network)."""
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(_config(chart).to_dict())
    # vl-convert paints an opaque white background rect; let the page background show.
    return svg.replace('<rect width="', '<rect fill-opacity="0" width="', 1)


def _decision_scale(names: list[str]) -> alt.Scale:
    return alt.Scale(domain=names, range=[DECISION_COLORS.get(n, "#8792a2") for n in names])


def decisions_chart(decisions: dict[str, dict[str, Any]]) -> str:
    """Horizontal bars: pages per decision, labelled with count and share."""
    names = list(decisions)
    rows = [{"decision": d, "pages": v["count"],
             "label": f"{v['count']:,} ({v['share']:.0%})"} for d, v in decisions.items()]
    base = alt.Chart(alt.Data(values=rows)).encode(
        y=alt.Y("decision:N", sort=names, title=None),
        x=alt.X("pages:Q", title="pages", axis=alt.Axis(tickMinStep=1)),
    )
    bars = base.mark_bar(cornerRadiusEnd=3, height=26).encode(
        color=alt.Color("decision:N", scale=_decision_scale(names), legend=None))
    text = base.mark_text(align="left", dx=4, fontSize=11, color="#333").encode(text="label:N")
    chart = (bars + text).properties(width=330, height=130, title="Pages by decision",
                                     padding={"left": 5, "top": 5, "bottom": 5, "right": 70})
    return to_svg(chart)


def score_histogram_chart(histogram: list[dict[str, Any]],
                          thresholds: dict[str, float] | None) -> str:
    """Score histogram stacked by each page's decision, with the model's threshold rules."""
    names = list(DECISION_COLORS)
    names += sorted({d for b in histogram for d in b.get("decisions", {})} - set(names))
    rows = [{"lo": b["lo"], "hi": b["hi"], "decision": d, "rank": i, "pages": n}
            for b in histogram for i, d in enumerate(names)
            if (n := b.get("decisions", {}).get(d, 0))]
    bars = alt.Chart(alt.Data(values=rows)).mark_bar(binSpacing=1).encode(
        x=alt.X("lo:Q", bin="binned", title="score", scale=alt.Scale(domain=[0, 1])),
        x2="hi:Q",
        y=alt.Y("sum(pages):Q", title="pages", stack="zero"),
        color=alt.Color("decision:N", scale=_decision_scale(names), title="decision"),
        order=alt.Order("rank:Q"),
    )
    layers: list[Any] = [bars]
    for k, v in (thresholds or {}).items():
        if v is None:
            continue
        right = v > 0.6  # keep the label inside the plot
        label = f"{k} ≥ {v:.2f}" if k == "publish" else f"{k} < {v:.2f}"
        rule = alt.Chart(alt.Data(values=[{"x": v, "label": label}]))
        layers += [rule.mark_rule(strokeDash=[4, 3], color="#333").encode(x="x:Q"),
                   rule.mark_text(align="right" if right else "left", dx=-3 if right else 3,
                                  dy=2, fontSize=10, color="#333", baseline="top")
                   .encode(x="x:Q", y=alt.value(0), text="label:N")]
    return to_svg(alt.layer(*layers).properties(width=420, height=160,
                                                title="Score distribution"))


def history_chart(history: list[dict[str, Any]]) -> str:
    """Decision shares per run date (stacked to 100%) over the recent partitions."""
    names = list(DECISION_COLORS)
    names += sorted({d for h in history for d in h["decisions"]} - set(names))
    rows = [{"date": h["date"], "decision": d, "rank": i, "pages": h["decisions"].get(d, 0)}
            for h in history for i, d in enumerate(names)]
    chart = alt.Chart(alt.Data(values=rows)).mark_bar(width={"band": 0.8}).encode(
        x=alt.X("date:O", title=None, axis=alt.Axis(labelAngle=-40)),
        y=alt.Y("pages:Q", stack="normalize", title="share of pages",
                axis=alt.Axis(format="%")),
        color=alt.Color("decision:N", scale=_decision_scale(names), title="decision"),
        order=alt.Order("rank:Q"),
    )
    width = max(240, min(900, 34 * len(history)))
    return to_svg(chart.properties(width=width, height=180,
                                   title=f"Decisions over the last {len(history)} run(s)"))


def mini_histogram_svg(current: list[float] | None, previous: list[float] | None,
                       width: int = 220, height: int = 56) -> str:
    """Two overlaid histograms of bin shares: previous run as a grey outline, this run as
    filled blue bars. Plain SVG, no text, sized for a card."""
    series = [s for s in (current, previous) if s]
    if not series:
        return ""
    n = max(len(s) for s in series)
    top = max(max(s) for s in series) or 1.0
    bw = width / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="mini" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img">']
    if current:
        for i, v in enumerate(current):
            h = height * v / top
            parts.append(f'<rect x="{i * bw + 0.5:.1f}" y="{height - h:.1f}" '
                         f'width="{max(bw - 1, 0.5):.1f}" height="{h:.1f}" fill="#3b7dd8" '
                         'fill-opacity="0.75"/>')
    if previous:
        pts = []
        for i, v in enumerate(previous):
            y = height - height * v / top
            pts += [f"{i * bw:.1f},{y:.1f}", f"{(i + 1) * bw:.1f},{y:.1f}"]
        parts.append(f'<polyline points="{" ".join(pts)}" fill="none" stroke="#555" '
                     'stroke-width="1.3"/>')
    parts.append(f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" '
                 'stroke="#c9ced6"/></svg>')
    return "".join(parts)


def bar_cell(share: float, color: str = "#3b7dd8") -> str:
    """A tiny inline bar for a table cell (share in 0..1)."""
    pct = max(0.0, min(1.0, share)) * 100
    return (f'<span class="bar"><span style="width:{pct:.1f}%;background:{html.escape(color)}">'
            "</span></span>")

"""The HTML report's inline stylesheet and script (kept in Python so the package needs no data
files; the report embeds both, so it works offline)."""

CSS = r"""
:root {
  --bg: #f6f7f9; --card: #fff; --ink: #1d2430; --muted: #5f6b7a; --line: #e3e7ed;
  --accent: #3b7dd8; --publish: #2e9d5b; --review: #e0a526; --reject: #d64545;
  --dup: #8e6bd8; --dup-bg: #f1ebff; --error: #d64545; --error-bg: #fde8e8;
  --wall: #e07b26; --wall-bg: #fff0de; --promo: #2f7fc1; --promo-bg: #e3f1fb;
  --boiler: #7a8494; --boiler-bg: #eceff3;
}
* { box-sizing: border-box; }
html { font-size: 14px; }
body { margin: 0; background: var(--bg); color: var(--ink); line-height: 1.45;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
header.top { background: #1d2430; color: #fff; padding: 18px 28px; }
header.top h1 { margin: 0 0 4px; font-size: 1.45rem; font-weight: 600; }
header.top .meta { color: #b9c3d0; font-size: .9rem; }
header.top code { color: #dfe6ee; }
nav.toc { display: flex; gap: 14px; flex-wrap: wrap; margin-top: 10px; font-size: .9rem; }
nav.toc a { color: #cfe0ff; text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
main { max-width: 1280px; margin: 0 auto; padding: 18px 24px 60px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 16px 20px; margin: 16px 0; }
section h2 { margin: 0 0 10px; font-size: 1.1rem; font-weight: 600; }
.note { color: var(--muted); font-size: .9rem; margin: 4px 0 10px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(132px, 1fr)); gap: 10px; }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 10px 14px; }
.kpi .label { color: var(--muted); font-size: .8rem; text-transform: uppercase;
  letter-spacing: .04em; }
.kpi .value { font-size: 1.5rem; font-weight: 600; }
.kpi .delta { font-size: .85rem; color: var(--muted); }
.up { color: var(--publish); } .down { color: var(--reject); }
.charts { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.chart svg { max-width: 100%; height: auto; }
.runs-wrap { flex: 1 1 320px; max-height: 320px; overflow: auto; }
table.runs th { position: static; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: .8rem; text-transform: uppercase;
  letter-spacing: .03em; background: #fafbfc; position: sticky; top: 0; z-index: 1; }
th[data-sort], th[data-key] { cursor: pointer; user-select: none; white-space: nowrap; }
th[data-sort]:hover, th[data-key]:hover { color: var(--ink); }
th.asc::after { content: " \25B2"; font-size: .7em; }
th.desc::after { content: " \25BC"; font-size: .7em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.src { max-width: 320px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bar { display: inline-block; width: 90px; height: 8px; background: #eef1f5; border-radius: 4px;
  vertical-align: middle; margin-left: 6px; overflow: hidden; }
.bar > span { display: block; height: 100%; border-radius: 4px; }
.dec { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: .8rem;
  font-weight: 600; color: #fff; }
.dec.publish { background: var(--publish); } .dec.review { background: var(--review); }
.dec.reject { background: var(--reject); }
.chip { display: inline-block; padding: 0 7px; margin: 1px 3px 1px 0; border-radius: 9px;
  background: #eef1f5; color: #344050; font-size: .8rem; white-space: nowrap; }
a.reason-link { color: inherit; text-decoration: none; border-bottom: 1px dotted #9aa6b5; }
a.reason-link:hover { color: var(--accent); }
.drift-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr));
  gap: 10px; }
.feat { border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px 6px; }
.feat.drifted { border-color: var(--reject); background: #fff7f7; }
.feat .name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .82rem; font-weight: 600; overflow-wrap: anywhere; }
.feat .psi { float: right; font-size: .78rem; padding: 0 6px; border-radius: 8px;
  background: #eef1f5; }
.feat.drifted .psi { background: var(--reject); color: #fff; font-weight: 600; }
.feat .meaning { color: var(--muted); font-size: .78rem; margin: 2px 0 4px; height: 2.9em;
  overflow: hidden; display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; }
.feat .means { color: var(--muted); font-size: .78rem; }
.legend-inline { font-size: .85rem; color: var(--muted); }
.swatch { display: inline-block; width: 12px; height: 10px; vertical-align: middle;
  margin: 0 4px 0 10px; border-radius: 2px; }
.filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 6px 0 10px; }
.filters input[type=search] { flex: 1 1 260px; min-width: 200px; }
.filters select { max-width: 260px; }
.filters input, .filters select, button { font: inherit; padding: 5px 8px; border-radius: 6px;
  border: 1px solid #cdd3dc; background: #fff; color: var(--ink); }
button { cursor: pointer; }
button:hover { border-color: var(--accent); }
.count { color: var(--muted); font-size: .9rem; margin-left: auto; }
.table-wrap { max-height: 70vh; overflow: auto; border: 1px solid var(--line);
  border-radius: 8px; }
#pages tbody tr { cursor: pointer; }
#pages tbody tr:hover { background: #f3f7fd; }
#pages tbody tr.has-text td.pid::before { content: "\00B6"; color: var(--accent);
  font-weight: 700; margin-right: 4px; }
.pid { overflow-wrap: anywhere; max-width: 320px; }
.pid .url { color: var(--muted); font-size: .8rem; }
#more { margin-top: 8px; }
.backdrop { position: fixed; inset: 0; background: rgba(20, 26, 36, .35); z-index: 9; }
#page-view { position: fixed; top: 0; right: 0; bottom: 0; width: min(920px, 94vw);
  background: #fff; z-index: 10; box-shadow: -8px 0 30px rgba(0, 0, 0, .18);
  display: flex; flex-direction: column; }
#page-view[hidden], .backdrop[hidden] { display: none; }
#page-view .head { padding: 14px 20px 10px; border-bottom: 1px solid var(--line); }
#page-view .head h3 { margin: 0 30px 4px 0; font-size: 1.05rem; overflow-wrap: anywhere; }
#page-view .close { position: absolute; top: 10px; right: 14px; font-size: 1.1rem;
  line-height: 1; padding: 4px 9px; }
#page-view .meta { color: var(--muted); font-size: .85rem; overflow-wrap: anywhere; }
#page-view ul.reasons { margin: 8px 0 4px; padding-left: 18px; font-size: .9rem; }
#page-view .legend { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; }
#page-view .legend label { font-size: .82rem; padding: 2px 8px; border-radius: 10px;
  border: 1px solid var(--line); cursor: pointer; }
#page-view .legend label.cited { font-weight: 600; border-color: #9aa6b5; }
#page-view .legend label.none { opacity: .55; }
#page-view .body { overflow: auto; padding: 10px 0 30px; flex: 1; }
.doc { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .84rem; }
.ln { display: flex; gap: 10px; padding: 1px 20px 1px 0; border-left: 4px solid transparent; }
.ln .no { color: #a3acb9; min-width: 3.2em; text-align: right; user-select: none; }
.ln .tx { white-space: pre-wrap; overflow-wrap: anywhere; flex: 1; }
.ln .tags { white-space: nowrap; }
.tag { font-family: system-ui, sans-serif; font-size: .72rem; padding: 0 6px; border-radius: 8px;
  color: #fff; margin-left: 4px; }
.ln.f-dup { background: var(--dup-bg); border-left-color: var(--dup); }
.ln.f-error { background: var(--error-bg); border-left-color: var(--error); }
.ln.f-wall { background: var(--wall-bg); border-left-color: var(--wall); }
.ln.f-promo { background: var(--promo-bg); border-left-color: var(--promo); }
.ln.f-boiler { background: var(--boiler-bg); border-left-color: var(--boiler); }
.tag.dup, .sw-dup { background: var(--dup); } .tag.error, .sw-error { background: var(--error); }
.tag.wall, .sw-wall { background: var(--wall); } .tag.promo, .sw-promo { background: var(--promo); }
.tag.boiler, .sw-boiler { background: var(--boiler); }
.title-line { padding: 4px 20px 8px 24px; font-weight: 600; }
footer { color: var(--muted); font-size: .8rem; text-align: center; margin-top: 20px; }
@media (max-width: 800px) { main { padding: 10px; } section { padding: 12px; } }
"""

JS = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("report-data").textContent);
  var ORDER = { reject: 0, review: 1, publish: 2 };
  var PAGE = 500;

  function $(sel, el) { return (el || document).querySelector(sel); }
  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function norm(r) { return String(r).split(":")[0].trim(); }
  function short(s) {
    if (!s) { return "-"; }
    var parts = String(s).split(/[\\/]/);
    return parts[parts.length - 1] || s;
  }
  function fmtScore(x) { return x === null || x === undefined ? "-" : x.toFixed(3); }

  // ---- generic sortable static tables (th[data-sort] + td[data-v]) ----
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.querySelectorAll("th[data-sort]");
    heads.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var idx = Array.prototype.indexOf.call(th.parentNode.children, th);
        var asc = !th.classList.contains("asc");
        heads.forEach(function (h) { h.classList.remove("asc", "desc"); });
        th.classList.add(asc ? "asc" : "desc");
        var numeric = th.getAttribute("data-sort") === "num";
        var body = table.tBodies[0];
        var trs = Array.prototype.slice.call(body.rows);
        trs.sort(function (a, b) {
          var x = a.cells[idx].getAttribute("data-v"), y = b.cells[idx].getAttribute("data-v");
          if (x === null) { x = a.cells[idx].textContent; }
          if (y === null) { y = b.cells[idx].textContent; }
          var c = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
          return asc ? c : -c;
        });
        trs.forEach(function (tr) { body.appendChild(tr); });
      });
    });
  });

  // ---- the pages table ----
  var rows = D.rows.map(function (r, i) {
    var src = D.sources[r[2]];
    var reasons = r[5] || [];
    return {
      i: i, id: r[0], url: r[1], source: src, score: r[3], decision: r[4], reasons: reasons,
      text: r[6], norm: reasons.map(norm),
      hay: [r[0], r[1] || "", src || "", reasons.join(" \u2022 ")].join(" ").toLowerCase()
    };
  });
  var state = { key: "score", dir: 1, limit: PAGE };
  var q = $("#f-q"), fDec = $("#f-decision"), fSrc = $("#f-source"), fRea = $("#f-reason");
  var fText = $("#f-text");

  var counts = {};
  rows.forEach(function (r) { r.norm.forEach(function (n) { counts[n] = (counts[n] || 0) + 1; }); });
  Object.keys(counts).sort(function (a, b) { return counts[b] - counts[a] || a.localeCompare(b); })
    .forEach(function (n) {
      var o = document.createElement("option");
      o.value = n; o.textContent = n + " (" + counts[n] + ")";
      fRea.appendChild(o);
    });
  D.sources.forEach(function (s, i) {
    var o = document.createElement("option");
    o.value = String(i); o.textContent = short(s); o.title = s;
    fSrc.appendChild(o);
  });

  function matches(r) {
    var term = q.value.trim().toLowerCase();
    if (term && term.split(/\s+/).some(function (t) { return r.hay.indexOf(t) < 0; })) {
      return false;
    }
    if (fDec.value && r.decision !== fDec.value) { return false; }
    if (fSrc.value && r.source !== D.sources[+fSrc.value]) { return false; }
    if (fRea.value && r.norm.indexOf(fRea.value) < 0) { return false; }
    if (fText.checked && r.text < 0) { return false; }
    return true;
  }
  function cmp(a, b) {
    var k = state.key, x, y;
    if (k === "decision") { x = ORDER[a.decision]; y = ORDER[b.decision]; }
    else if (k === "reasons") { x = a.reasons.length; y = b.reasons.length; }
    else if (k === "source") { x = short(a.source); y = short(b.source); }
    else if (k === "page") { x = a.id; y = b.id; }
    else if (k === "rank") { x = a.i; y = b.i; }
    else { x = a.score; y = b.score; }
    if (x === y) { return a.i - b.i; }
    if (x === undefined || x === null) { return 1; }
    if (y === undefined || y === null) { return -1; }
    return (typeof x === "string" ? x.localeCompare(y) : x - y) * state.dir;
  }
  function render() {
    var shown = rows.filter(matches).sort(cmp);
    var html = shown.slice(0, state.limit).map(function (r) {
      var chips = r.reasons.map(function (full, j) {
        return '<span class="chip" title="' + esc(full) + '">' + esc(r.norm[j]) + "</span>";
      }).join("");
      return '<tr data-i="' + r.i + '" tabindex="0"' + (r.text >= 0 ? ' class="has-text"' : "") +
        '><td class="num">' + (r.i + 1) + '</td><td class="num">' + fmtScore(r.score) +
        '</td><td><span class="dec ' + esc(r.decision) + '">' + esc(r.decision) +
        "</span></td><td>" + (chips || '<span class="note">none</span>') +
        '</td><td class="src" title="' + esc(r.source) + '">' + esc(short(r.source)) +
        '</td><td class="pid">' + esc(r.id) +
        (r.url ? '<div class="url">' + esc(r.url) + "</div>" : "") + "</td></tr>";
    }).join("");
    $("#pages tbody").innerHTML = html;
    $("#f-count").textContent = shown.length.toLocaleString() + " of " +
      rows.length.toLocaleString() + " pages match";
    var more = $("#more");
    more.hidden = shown.length <= state.limit;
    more.textContent = "Show " + Math.min(PAGE, shown.length - state.limit) + " more";
    document.querySelectorAll("#pages th[data-key]").forEach(function (th) {
      th.classList.remove("asc", "desc");
      if (th.getAttribute("data-key") === state.key) {
        th.classList.add(state.dir > 0 ? "asc" : "desc");
      }
    });
  }
  [q, fDec, fSrc, fRea, fText].forEach(function (el) {
    el.addEventListener(el === q ? "input" : "change", function () {
      state.limit = PAGE; render();
    });
  });
  $("#more").addEventListener("click", function () { state.limit += PAGE; render(); });
  document.querySelectorAll("#pages th[data-key]").forEach(function (th) {
    th.addEventListener("click", function () {
      var k = th.getAttribute("data-key");
      state.dir = state.key === k ? -state.dir : 1;
      state.key = k;
      render();
    });
  });
  document.querySelectorAll("a.reason-link").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      fRea.value = a.getAttribute("data-reason");
      state.limit = PAGE; render();
      $("#pages-section").scrollIntoView({ behavior: "smooth" });
    });
  });

  // ---- the page view ----
  var view = $("#page-view"), backdrop = $(".backdrop");
  var enabled = {};
  var current = null;
  D.flags.forEach(function (f) { enabled[f.key] = true; });

  function lineHtml(text, bits, no) {
    var active = D.flags.filter(function (f, b) { return (bits & (1 << b)) && enabled[f.key]; });
    var cls = active.length ? " f-" + active[0].key : "";
    var tags = active.map(function (f) {
      return '<span class="tag ' + f.key + '">' + esc(f.short) + "</span>";
    }).join("");
    return '<div class="ln' + cls + '"' + (active.length ? ' data-flags="' +
      active.map(function (f) { return f.key; }).join(" ") + '"' : "") + '><span class="no">' +
      no + '</span><span class="tx">' + esc(text) + '</span><span class="tags">' + tags +
      "</span></div>";
  }
  function renderBody() {
    var r = current, body = $(".body", view);
    if (r.text < 0) {
      body.innerHTML = '<p class="note" style="padding:0 20px">The text of this page is not ' +
        "embedded: the report carries the text of the " + D.textPages +
        " lowest-scoring pages only.</p>";
      return;
    }
    var t = D.texts[r.text];
    var html = "";
    if (t.title) {
      html += '<div class="title-line">' + lineHtml("Title: " + t.title, t.title_bits, "") +
        "</div>";
    }
    html += '<div class="doc">' + t.lines.map(function (l, j) {
      return lineHtml(l[0], l[1], j + 1);
    }).join("") + "</div>";
    if (t.truncated) {
      html += '<p class="note" style="padding:0 20px">Showing ' + t.lines.length + " of " +
        t.n_lines + " lines.</p>";
    }
    body.innerHTML = html;
  }
  function openPage(i) {
    var r = rows[i];
    current = r;
    var cited = {};
    r.norm.forEach(function (n) { (D.reasonFlags[n] || []).forEach(function (k) { cited[k] = 1; }); });
    var t = r.text >= 0 ? D.texts[r.text] : null;
    var n = {};
    if (t) {
      t.lines.forEach(function (l) {
        D.flags.forEach(function (f, b) { if (l[1] & (1 << b)) { n[f.key] = (n[f.key] || 0) + 1; } });
      });
    }
    var head = $(".head", view);
    head.querySelector("h3").textContent = r.id;
    var url = r.url ? (/^https?:\/\//.test(r.url) ? '<a href="' + esc(r.url) +
      '" target="_blank" rel="noopener noreferrer">' + esc(r.url) + "</a>" : esc(r.url)) : "";
    $(".meta", head).innerHTML = '<span class="dec ' + esc(r.decision) + '">' +
      esc(r.decision) + "</span> score <b>" + fmtScore(r.score) + "</b> \u00b7 " +
      esc(r.source) + (url ? "<br>" + url : "");
    $("ul.reasons", head).innerHTML = r.reasons.map(function (x) {
      return "<li>" + esc(x) + "</li>";
    }).join("") || "<li>no reasons</li>";
    $(".legend", head).innerHTML = t ? D.flags.map(function (f) {
      return '<label class="' + (cited[f.key] ? "cited" : "") + (n[f.key] ? "" : " none") +
        '" title="' +
        (cited[f.key] ? "behind one of this page's reasons" : "flagged on this page") +
        '"><input type="checkbox" data-flag="' + f.key + '"' + (enabled[f.key] ? " checked" : "") +
        '><span class="swatch sw-' + f.key + '"></span>' + esc(f.label) + " (" + (n[f.key] || 0) +
        ")</label>";
    }).join("") : "";
    renderBody();
    view.hidden = false; backdrop.hidden = false;
    $(".close", view).focus();
  }
  function closePage() { view.hidden = true; backdrop.hidden = true; current = null; }
  view.addEventListener("change", function (ev) {
    var k = ev.target.getAttribute("data-flag");
    if (k) { enabled[k] = ev.target.checked; renderBody(); }
  });
  $(".close", view).addEventListener("click", closePage);
  backdrop.addEventListener("click", closePage);
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && !view.hidden) { closePage(); }
  });
  var tbody = $("#pages tbody");
  tbody.addEventListener("click", function (ev) {
    var tr = ev.target.closest("tr[data-i]");
    if (tr) { openPage(+tr.getAttribute("data-i")); }
  });
  tbody.addEventListener("keydown", function (ev) {
    var tr = ev.target.closest("tr[data-i]");
    if (tr && ev.key === "Enter") { openPage(+tr.getAttribute("data-i")); }
  });
  render();
})();
"""

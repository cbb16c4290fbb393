"""The labelling loop: export pages worth a human look, import their labels, feed retrain.

Imported labels are appended to ``data/labels/imported.parquet`` unless the environment variable
``PAGESCORE_LABELS`` names another file; it is read at each call, so ``pagescore label import``
and ``pagescore retrain`` (and tests running the CLI) can use a scratch store. Functions taking
``store=`` use that file when given one.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import os
from pathlib import Path

import polars as pl

from features.compute import marked_features
from features.extract import HTML_FEATURE_DEFAULTS

IMPORTED = Path(__file__).resolve().parent.parent / "data" / "labels" / "imported.parquet"
DEFECTS = {"error", "soft404", "wall", "listing", "spam", "duplicated", "boilerplate", "thin",
           "garbled"}
CSV_COLUMNS = ("page_id", "source", "url", "score", "decision", "rules_pass", "reasons",
               "excerpt", "label", "defects", "note")
TRAIN_COLUMNS = ("page_id", "group", "origin", "text", "title", *HTML_FEATURE_DEFAULTS,
                 "is_html", "label", "defects", "confidence")


def labels_store() -> Path:
    """The imported-labels file in force: ``$PAGESCORE_LABELS`` if set, else ``IMPORTED``."""
    env = os.environ.get("PAGESCORE_LABELS")
    return Path(env) if env else IMPORTED


def pick_for_labelling(scores: pl.DataFrame, n: int, publish: float, reject: float
                       ) -> pl.DataFrame:
    """Scores nearest either threshold, and pages where the model and the rules disagree."""
    dist = pl.min_horizontal((pl.col("score") - publish).abs(), (pl.col("score") - reject).abs())
    disagree = (pl.col("decision") == "publish") != pl.col("rules_pass")
    ranked = scores.with_columns(dist.alias("_dist"), disagree.alias("_disagree"))
    near = ranked.sort("_dist").head(n - n // 3)
    rest = ranked.filter(pl.col("_disagree") & ~pl.col("page_id").is_in(near["page_id"].implode()))
    return pl.concat([near, rest.sort("_dist").head(n - near.height)]).drop("_dist", "_disagree")


def export_for_labelling(partition: Path, n: int, to: Path) -> Path:
    import json

    run = json.loads((partition / "run.json").read_text())
    th = run["model"]["thresholds"]
    scores = pl.read_parquet(partition / "scores.parquet")
    picked = pick_for_labelling(scores, n, th["publish"], th["reject"])
    texts = pl.read_parquet(partition / "texts.parquet").join(
        picked.select("page_id", "source"), on=["page_id", "source"], how="semi")
    to.mkdir(parents=True, exist_ok=True)
    feats_in = texts.join(scores.select("page_id", "source", *HTML_FEATURE_DEFAULTS),
                          on=["page_id", "source"], how="left")
    feats_in.write_parquet(to / "pages.parquet")
    by_id = {(r["page_id"], r["source"]): r for r in texts.iter_rows(named=True)}
    csv_path = to / "to_label.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for r in picked.iter_rows(named=True):
            text = by_id.get((r["page_id"], r["source"]), {}).get("text") or ""
            w.writerow([r["page_id"], r["source"], r["url"] or "", f"{r['score']:.3f}",
                        r["decision"], r["rules_pass"], " | ".join(r["reasons"] or []),
                        " ".join(text.split())[:300], "", "", ""])
    _write_labelling_html(to / "index.html", picked, texts)
    return csv_path


def _write_labelling_html(path: Path, picked: pl.DataFrame, texts: pl.DataFrame) -> None:
    _, lines = marked_features(texts.select("text", "title"))
    flags = ("is_error", "is_wall", "is_dup", "is_promo", "is_boiler")
    page_lines: dict[int, list[tuple[str, list[str]]]] = {}
    for row in lines.select("_row", "line", *flags).iter_rows():
        page_lines.setdefault(row[0], []).append((row[1], [f for f, on in zip(flags, row[2:],
                                                                              strict=True) if on]))
    index = {(pid, src): i for i, (pid, src) in enumerate(texts.select("page_id", "source").rows())}
    parts = ["<!doctype html><meta charset=utf-8><title>pagescore: pages to label</title><style>"
             "body{font:14px system-ui;margin:2em;max-width:70em}.is_error,.is_wall{background:#fdd}"
             ".is_dup{background:#ffd}.is_promo{background:#def}.is_boiler{background:#eee}"
             "pre{white-space:pre-wrap}</style><h1>Pages to label</h1><p>Highlights: "
             "<span class=is_error>error/wall</span> <span class=is_dup>duplicated</span> "
             "<span class=is_promo>promotional block</span> <span class=is_boiler>boilerplate"
             "</span></p>"]
    for r in picked.iter_rows(named=True):
        i = index.get((r["page_id"], r["source"]))
        parts.append(f"<h2>{html.escape(r['page_id'])}</h2><p>score {r['score']:.3f}, "
                     f"{r['decision']}; rules {'pass' if r['rules_pass'] else 'fail'}; "
                     f"{html.escape(' | '.join(r['reasons'] or []))}</p><pre>")
        for line, on in page_lines.get(i, []):
            parts.append(f"<span class='{' '.join(on)}'>{html.escape(line)}</span>\n")
        parts.append("</pre>")
    path.write_text("".join(parts), encoding="utf-8")


def import_labels(csv_path: Path, who: str, store: Path | None = None) -> int:
    """Validate a filled-in to_label.csv and append its labels to ``store`` (default
    ``labels_store()``); raise ValueError listing every problem, writing nothing, on any."""
    store = store or labels_store()
    pages_path = csv_path.parent / "pages.parquet"
    if not pages_path.exists():
        raise ValueError(f"{pages_path} not found: import the to_label.csv written by "
                         "`pagescore label export`, in its folder")
    with csv_path.open(newline="") as fh:
        header = next(csv.reader(fh), [])
    if missing_cols := [c for c in ("page_id", "source", "label") if c not in header]:
        # e.g. a spreadsheet saved it with ';': every row would look unlabelled and be skipped
        raise ValueError(f"refused, nothing imported: {csv_path} has no column(s) "
                         f"{missing_cols} (header: {header}); keep the to_label.csv layout")
    # One row per page: a crawl may repeat an id, and the join below must not copy a label.
    pages = pl.read_parquet(pages_path).unique(["page_id", "source"], keep="first",
                                              maintain_order=True)
    known = {(p, s) for p, s in pages.select("page_id", "source").rows()}
    existing = (set(pl.read_parquet(store).select("page_id", "origin").rows())
                if store.exists() else set())
    rows, problems, seen = [], [], set()
    with csv_path.open(newline="") as fh:
        for n, r in enumerate(csv.DictReader(fh), start=2):
            label = (r.get("label") or "").strip()
            if label == "":
                continue  # not labelled yet
            key = (r.get("page_id", ""), r.get("source", ""))
            defects = [d.strip() for d in (r.get("defects") or "").split("|") if d.strip()]
            if key not in known:
                problems.append(f"line {n}: unknown page id {key[0]!r} from {key[1]!r}")
            elif label not in ("0", "1"):
                problems.append(f"line {n}: label must be 0 or 1, got {label!r}")
            elif bad := [d for d in defects if d not in DEFECTS]:
                problems.append(f"line {n}: unknown defect(s) {bad}; known: {sorted(DEFECTS)}")
            elif key in seen or (key[0], key[1]) in existing:
                problems.append(f"line {n}: page {key[0]!r} is already labelled")
            else:
                seen.add(key)
                rows.append({"page_id": key[0], "origin": key[1], "label": int(label),
                             "defects": "|".join(defects), "who": who,
                             "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                             "labels_file": str(csv_path)})
    if problems:
        raise ValueError("refused, nothing imported:\n  " + "\n  ".join(problems))
    if not rows:
        return 0
    new = pl.DataFrame(rows).join(
        pages.rename({"source": "origin"}), on=["page_id", "origin"], how="left")
    combined = pl.concat([pl.read_parquet(store), new], how="diagonal_relaxed") \
        if store.exists() else new
    store.parent.mkdir(parents=True, exist_ok=True)
    tmp = store.with_suffix(".tmp")
    combined.write_parquet(tmp)
    tmp.replace(store)
    return len(rows)


def imported_training_rows(store: Path | None = None) -> pl.DataFrame | None:
    """Imported labels (``store``, default ``labels_store()``) as training-table rows."""
    store = store or labels_store()
    if not store.exists():
        return None
    df = pl.read_parquet(store)
    return df.with_columns(
        pl.col("origin").alias("group"), pl.lit("medium").alias("confidence"),
        pl.col("is_html").fill_null(False),
    ).select(TRAIN_COLUMNS)


def extra_training_rows(labels: Path | None, pages: list[Path], store: Path | None = None
                        ) -> list[pl.DataFrame]:
    """Imported labels (``store``, default ``labels_store()``) plus (--labels, --pages) rows,
    extracted with the nightly code. Raises ValueError on a labels CSV it cannot trust."""
    out = []
    imported = imported_training_rows(store)
    if imported is not None:
        out.append(imported)
    if labels is None:
        return out
    from jobs.pipeline import extract_pages
    from jobs.readers import detect_input, read_input

    lab = _read_labels_csv(labels)
    records = [rec for p in pages for kind, rec in read_input(detect_input(p)) if kind == "page"]
    extracted, _ = extract_pages([r for r in records if r["page_id"] in lab])
    missing = set(lab) - set(extracted["page_id"].to_list())
    if missing:
        raise ValueError(f"{len(missing)} labelled ids not found in --pages, e.g. "
                         f"{sorted(missing)[:3]}")
    if (twice := extracted.filter(pl.col("page_id").is_duplicated())).height:
        # ids are not qualified by input: the same id in two inputs would get one label twice
        raise ValueError(f"labelled id(s) found in more than one --pages input, e.g. "
                         f"{sorted(set(twice['page_id']))[:3]}")
    out.append(extracted.with_columns(
        pl.col("source").alias("group"), pl.col("source").alias("origin"),
        pl.Series("label", [int(lab[i]["label"]) for i in extracted["page_id"]]),
        pl.Series("defects", [lab[i].get("defects") or "" for i in extracted["page_id"]]),
        pl.lit("medium").alias("confidence"),
    ).select(TRAIN_COLUMNS))
    return out


def _read_labels_csv(path: Path) -> dict[str, dict[str, str]]:
    """id -> row of a --labels CSV (id,label[,defects]), validated like `label import`: a bad
    label must stop retrain with a message, not become a training row or a traceback."""
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        if "id" not in fields or "label" not in fields:
            raise ValueError(f"{path}: expected a CSV with columns id,label[,defects], got "
                             f"{fields}")
        rows = list(enumerate(reader, start=2))
    lab: dict[str, dict[str, str]] = {}
    problems = []
    for n, r in rows:
        pid, label = (r.get("id") or "").strip(), (r.get("label") or "").strip()
        defects = [d.strip() for d in (r.get("defects") or "").split("|") if d.strip()]
        if label == "":
            continue  # not labelled yet, as in `label import`
        if not pid:
            problems.append(f"line {n}: empty id")
        elif pid in lab:
            problems.append(f"line {n}: id {pid!r} is labelled twice")
        elif label not in ("0", "1"):
            problems.append(f"line {n}: label must be 0 or 1, got {label!r}")
        elif bad := [d for d in defects if d not in DEFECTS]:
            problems.append(f"line {n}: unknown defect(s) {bad}; known: {sorted(DEFECTS)}")
        else:
            lab[pid] = {"label": label, "defects": "|".join(defects)}
    if problems:
        raise ValueError(f"{path}: refused:\n  " + "\n  ".join(problems))
    if not lab:
        raise ValueError(f"{path}: no labelled rows")
    return lab

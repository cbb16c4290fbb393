"""Build data/training/labelled_pages.parquet from ../shared/corpus (run once; output is shipped).

Rows: every page of ../shared/corpus/pages with its label from labels.csv, and every crawl record
of ../shared/corpus/crawl/*.jsonl labelled by the pagescore team in data/labels/crawl/*.csv.
Text is extracted with exactly the nightly job's code (features.extract.extract_record), so
`pagescore retrain` can compute features without ../shared.

    python scripts/build_training_table.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import polars as pl

from features.extract import decode_html, extract_record

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "data" / "training" / "labelled_pages.parquet"


def _row(page_id: str, group: str, origin: str, text: str | None, html: str | None,
         lab: dict[str, str]) -> dict[str, object]:
    ex = extract_record(text, html)
    return {
        "page_id": page_id, "group": group, "origin": origin, "text": ex.text, "title": ex.title,
        **ex.html_features(), "is_html": html is not None,
        "label": int(lab["label"]), "defects": lab["defects"] or "",
        "confidence": lab["confidence"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = ap.parse_args()
    corpus = args.shared / "corpus"
    rows = []
    with (corpus / "labels.csv").open(newline="") as fh:
        for lab in csv.DictReader(fh):
            path = corpus / "pages" / lab["id"]
            data = path.read_bytes()
            is_txt = path.suffix == ".txt"
            rows.append(_row(lab["id"], lab["id"].split("__")[0], "shared/corpus/pages",
                             data.decode("utf-8", "replace") if is_txt else None,
                             None if is_txt else decode_html(data), lab))
    for labels_csv in sorted((REPO / "data" / "labels" / "crawl").glob("*.csv")):
        labels = {r["id"]: r for r in csv.DictReader(labels_csv.open(newline=""))}
        with (corpus / "crawl" / f"{labels_csv.stem}.jsonl").open() as fh:
            for line in fh:
                rec = json.loads(line)
                if rec["id"] in labels:
                    rows.append(_row(rec["id"], labels_csv.stem, "shared/corpus/crawl",
                                     rec.get("text"), rec.get("html"), labels[rec["id"]]))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    df = pl.DataFrame(rows).sort("page_id")
    df.write_parquet(OUT, compression="zstd", compression_level=19)
    print(f"{df.height} labelled pages ({df['label'].sum()} publishable) -> {OUT} "
          f"({OUT.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

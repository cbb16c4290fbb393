"""Build data/sample/ (the shipped demo input) from ../shared/corpus; deterministic.

    python scripts/build_sample.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "data" / "sample"
CRAWL_FILES = {  # file -> every k-th record
    "aut_archiveorg_crawl_2008.jsonl": 7,
    "hplt_zh_wide15_sample.jsonl": 25,
    "dolma_ccmain2019_sample.jsonl": 25,
    "ukwa_datagovuk_crawl_2014.jsonl": 5,
    "cs336_ccmain2026_12_samples.jsonl": 4,
    "dolma_ccnet_head_2020.jsonl": 3,
}
PAGES = ("httperrorpages__HTTP404.html", "nginx__default-50x.html",
         "cloudscraper__js_challenge_11_12_2019.html")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    corpus = ap.parse_args().shared / "corpus"
    shutil.rmtree(OUT, ignore_errors=True)
    (OUT / "pages").mkdir(parents=True)
    shutil.copy(corpus / "seed_page.txt", OUT / "pages" / "seed_page.txt")
    with (OUT / "crawl_sample.jsonl").open("w") as out:
        for name, k in CRAWL_FILES.items():
            for i, line in enumerate((corpus / "crawl" / name).open()):
                if i % k == 0:
                    rec = json.loads(line)
                    rec.pop("html", None)  # keep the sample small: text records only here
                    out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    manifest = list(csv.DictReader((corpus / "manifest.csv").open()))
    chosen = [m for m in manifest if m["file"] in PAGES]
    # A few pages per source, including legacy encodings (GBK, EUC-JP, windows-1251, ...).
    seen: dict[str, int] = {}
    for m in manifest:
        src = m["file"].split("__")[0]
        if int(m["bytes"]) < 60_000 and seen.get(src, 0) < 2 and m["file"].endswith(".html"):
            seen[src] = seen.get(src, 0) + 1
            chosen.append(m)
    for m in chosen:
        shutil.copy(corpus / "pages" / m["file"], OUT / "pages" / m["file"])
    with (OUT / "SOURCES.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "source_repo", "source_path", "sha256"])
        for m in chosen:
            w.writerow([m["file"], m["source_repo"], m["source_path"], m["sha256"]])
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{len(chosen) + 1} pages + crawl_sample.jsonl -> {OUT} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()

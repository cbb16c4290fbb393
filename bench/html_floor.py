#!/usr/bin/env python3
"""How fast can any pagescore run on raw HTML be? The extraction floor, measured.

Runs, on one core and nothing else, the calls every HTML page needs before a feature is
computed, on the pages of a corpus built by ``bench/build_corpus.py`` (``html.jsonl``):

- ``parse``: resiliparse's HTML parse (Lexbor);
- ``main``: resiliparse's main-content extraction from that tree;
- ``visible``: the page's visible text from the same tree (the denominator of the link and
  main-content shares, and the text of pages whose main content is too short);
- ``links``: selectolax's Lexbor parse with the two anchor queries and the anchor texts.

and prints the time of each per page and the page rate of the first three alone on all cores:
an upper bound on HTML pages/s that no change to pagescore's own code can pass while it keeps
these extractors (and so its outputs); then the rate of Lexbor's parse alone, which bounds any
extractor that works on Lexbor's tree.

Usage: bench/html_floor.py HTML_JSONL [--pages N] [--cores C]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("html_jsonl", type=Path)
    ap.add_argument("--pages", type=int, default=500, help="pages to time (default 500)")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree
    from selectolax.lexbor import LexborHTMLParser

    htmls: list[str] = []
    with args.html_jsonl.open("rb") as fh:
        for line in fh:
            htmls.append(json.loads(line)["html"])
            if len(htmls) >= args.pages:
                break
    if not htmls:
        print(f"no pages in {args.html_jsonl}", file=sys.stderr)
        return 1

    def links(html: str) -> None:
        lex = LexborHTMLParser(html)
        anchors = lex.tags("a")
        len({node.mem_id for node in lex.css("li a, nav a")})
        [a.text(deep=True, separator=" ") for a in anchors]

    cpu: dict[str, float] = {}
    trees = []
    t = time.process_time()
    trees = [HTMLTree.parse(h) for h in htmls]
    cpu["parse"] = time.process_time() - t
    t = time.process_time()
    for tree in trees:
        extract_plain_text(tree, main_content=True, alt_texts=False, noscript=True)
    cpu["main"] = time.process_time() - t
    t = time.process_time()
    for tree in trees:
        extract_plain_text(tree, main_content=False, alt_texts=False, noscript=True)
    cpu["visible"] = time.process_time() - t
    del trees
    t = time.process_time()
    for h in htmls:
        links(h)
    cpu["links"] = time.process_time() - t

    n = len(htmls)
    mb = sum(len(h.encode("utf-8")) for h in htmls) / 1e6
    print(f"{n} pages, {mb / n * 1000:.0f} KB of HTML each on average")
    for name, s in cpu.items():
        print(f"  {name:8s} {s / n * 1000:6.2f} ms/page")
    floor = cpu["parse"] + cpu["main"] + cpu["visible"]
    print(f"resiliparse alone (parse + main + visible): {n / floor:,.0f} pages/s per core, "
          f"{args.cores * n / floor:,.0f} pages/s on {args.cores} cores")
    # What any extractor on Lexbor's tree (resiliparse, selectolax) is held to.
    print(f"Lexbor's parse alone: {args.cores * n / cpu['parse']:,.0f} pages/s on "
          f"{args.cores} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())

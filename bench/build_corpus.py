#!/usr/bin/env python3
"""Build a benchmark corpus of N pages from the real pages in shared/corpus.

Text pages come from ``crawl/*.jsonl`` (records with a non-empty ``text``), HTML pages from
``pages/*.html``. Source records are replicated round-robin (copy ``k`` of record ``r`` gets the id
``<r.id>#<k>``) so that any N is reachable and every id is unique. Sources are ordered by a hash
of their id, so that even a small N mixes all crawl sources instead of taking the first files;
the output depends only on the arguments and the shared corpus, never on time or randomness.

Usage: build_corpus.py --pages N [--html-share F] --out DIR [--shared PATH]
Writes DIR/text.jsonl ({"id","url","text"}), when F > 0 DIR/html.jsonl ({"id","url","html"}),
and DIR/manifest.json (page counts and MB, 1 MB = 10^6 bytes of UTF-8).
N counts both files together: round(N * F) pages are HTML, the rest text.
Needs only the standard library, so any Python 3.11 runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO_ROOT.parent / "shared"
# Lines are joined and written in chunks: one write per page costs more than the JSON itself,
# and a small chunk keeps memory flat even for HTML pages of a few hundred KB.
CHUNK_PAGES = 256
MB = 1_000_000


@dataclass(frozen=True)
class Source:
    """One source page, with its JSON fragments encoded to UTF-8 once for all copies."""

    id: str
    url_json: bytes
    body_json: bytes
    n_bytes: int


def _json_bytes(value: object) -> bytes:
    """Encode one JSON value as UTF-8 bytes."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _mixed_order(key: str) -> bytes:
    """Sort key that interleaves sources deterministically (a stable pseudo-shuffle)."""
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()


def load_text_sources(shared: Path) -> list[Source]:
    """Read every crawl record with non-blank text, in file then line order."""
    sources = []
    for path in sorted((shared / "corpus" / "crawl").glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                text = rec.get("text") or ""
                # Whitespace-only text is no page to score: both sides would only drop it.
                if not text.strip():
                    continue
                sources.append(
                    Source(
                        id=str(rec["id"]),
                        url_json=_json_bytes(rec.get("url")),
                        body_json=_json_bytes(text),
                        n_bytes=len(text.encode("utf-8")),
                    )
                )
    return sorted(sources, key=lambda s: _mixed_order(s.id))


def load_html_sources(shared: Path, limit: int) -> list[Source]:
    """Read up to limit pages/*.html files (the corpus has no URL for them, so url is null)."""
    sources = []
    paths = sorted((shared / "corpus" / "pages").glob("*.html"), key=lambda p: _mixed_order(p.name))
    for path in paths[:limit]:
        # Some pages are not UTF-8; 'replace' keeps them usable as HTML for a speed benchmark.
        html = path.read_bytes().decode("utf-8", errors="replace")
        sources.append(
            Source(
                id=path.name,
                url_json=b"null",
                body_json=_json_bytes(html),
                n_bytes=len(html.encode("utf-8")),
            )
        )
    return sources


def write_replicated(sources: list[Source], n_pages: int, field: str, out: Path) -> int:
    """Write n_pages records cycling through sources; return the UTF-8 bytes of the field."""
    if n_pages and not sources:
        raise SystemExit(f"no source pages for {out.name}")
    total = 0
    n_src = len(sources)
    key = f', "{field}": '.encode()
    # Bytes all the way: re-encoding each copy's str to UTF-8 cost more than the rest of the run.
    with out.open("wb") as fh:
        for start in range(0, n_pages, CHUNK_PAGES):
            parts: list[bytes] = []
            for i in range(start, min(start + CHUNK_PAGES, n_pages)):
                src = sources[i % n_src]
                copy_id = _json_bytes(f"{src.id}#{i // n_src}")
                parts += (b'{"id": ', copy_id, b', "url": ', src.url_json, key, src.body_json)
                parts.append(b"}\n")
                total += src.n_bytes
            fh.write(b"".join(parts))
    return total


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, required=True, help="total pages to write (text + html)")
    ap.add_argument("--html-share", type=float, default=0.0, help="share of pages from HTML, 0-1")
    ap.add_argument("--out", type=Path, required=True, help="output directory (created if missing)")
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared/ folder")
    args = ap.parse_args(argv)
    if args.pages < 0:
        ap.error("--pages must be >= 0")
    if not 0.0 <= args.html_share <= 1.0:
        ap.error("--html-share must be between 0 and 1")
    if not (args.shared / "corpus").is_dir():
        ap.error(f"no corpus/ under {args.shared}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Build the corpus and print what was written."""
    args = parse_args(argv)
    t0 = time.perf_counter()
    n_html = round(args.pages * args.html_share)
    n_text = args.pages - n_html
    args.out.mkdir(parents=True, exist_ok=True)

    manifest: dict[str, object] = {"pages": args.pages, "html_share": args.html_share}
    text_sources = load_text_sources(args.shared)
    text_bytes = write_replicated(text_sources, n_text, "text", args.out / "text.jsonl")
    manifest.update(text_pages=n_text, text_mb=round(text_bytes / MB, 3))
    print(
        f"text.jsonl: {n_text} pages ({min(n_text, len(text_sources))} distinct), "
        f"{text_bytes / MB:.1f} MB of text -> {args.out / 'text.jsonl'}"
    )
    if args.html_share > 0:
        html_sources = load_html_sources(args.shared, limit=n_html)
        html_bytes = write_replicated(html_sources, n_html, "html", args.out / "html.jsonl")
        manifest.update(html_pages=n_html, html_mb=round(html_bytes / MB, 3))
        print(
            f"html.jsonl: {n_html} pages ({min(n_html, len(html_sources))} distinct), "
            f"{html_bytes / MB:.1f} MB of HTML -> {args.out / 'html.jsonl'}"
        )
    # summarize.py reads the page count and text MB from here instead of re-reading the corpus.
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"built in {time.perf_counter() - t0:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

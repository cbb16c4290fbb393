"""The optimised HTML extraction gives exactly what a straightforward implementation gives.

``reference_extract`` is the per-link, per-word version the nightly job used before the
extraction was optimised (one Python regex pass per text and per link, each link's text
stripped fragment by fragment). The shipped ``features.extract`` must agree with it on text,
title, ``n_links`` and the HTML link features, on real pages and on crafted edge cases.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE, SHARED
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree
from selectolax.lexbor import LexborHTMLParser

from features.extract import MAX_LINKS_KEPT, MIN_MAIN_WORDS, extract_record
from features.tokens import PY_CJK_RANGES, count_words
from jobs.pipeline import extract_pages
from jobs.readers import detect_input, read_input

FLOATS = ("link_word_share", "link_list_share", "link_line_share", "main_text_share")


def _ancestors(node: Any) -> Any:
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


# The word regex count_words must agree with, written out: one match per word.
PY_WORD_RE = re.compile(rf"[{PY_CJK_RANGES}]|[^\s{PY_CJK_RANGES}]+")


def py_count_words(text: str) -> int:
    return sum(1 for _ in PY_WORD_RE.finditer(text))


def reference_extract(text: str | None, html: str | None) -> dict[str, Any]:
    """The straightforward extraction: what the optimised code must reproduce."""
    if html is None or not html.strip():
        return {"text": text or "", "title": "", "n_links": 0, "link_word_share": 0.0,
                "link_list_share": 0.0, "link_line_share": 0.0, "main_text_share": 1.0}
    tree = HTMLTree.parse(html)
    title = (tree.title or "").strip()
    main = extract_plain_text(tree, main_content=True, alt_texts=False, noscript=True)
    visible = extract_plain_text(tree, main_content=False, alt_texts=False, noscript=True)
    main_words, visible_words = py_count_words(main), py_count_words(visible)
    lex = LexborHTMLParser(html)
    anchors = lex.css("a")
    in_lists = sum(any(node.tag in ("li", "nav") for node in _ancestors(a)) for a in anchors)
    anchor_texts: set[str] = set()
    link_words = 0
    for a in anchors:
        link_text = a.text(deep=True, separator=" ", strip=True)
        link_words += py_count_words(link_text)
        anchor_texts.add(" ".join(link_text.split()))
    out = main if main_words >= MIN_MAIN_WORDS or visible_words <= main_words else visible
    lines = [ln for ln in (" ".join(ln.split()) for ln in out.split("\n")) if ln]
    anchor_texts.discard("")
    link_lines = sum(1 for ln in lines if ln in anchor_texts)
    if text and not out.strip():
        out = text
    return {
        "text": out, "title": title, "n_links": min(len(anchors), MAX_LINKS_KEPT),
        "link_word_share": min(1.0, link_words / visible_words) if visible_words else 0.0,
        "link_list_share": in_lists / len(anchors) if anchors else 0.0,
        "link_line_share": link_lines / len(lines) if lines else 0.0,
        "main_text_share": min(1.0, main_words / visible_words) if visible_words else 0.0,
    }


def assert_same(got: dict[str, Any], want: dict[str, Any], where: str) -> None:
    for key in ("text", "title", "n_links"):
        assert got[key] == want[key], f"{where}: {key} differs"
    for key in FLOATS:
        assert abs(got[key] - want[key]) <= 1e-12, f"{where}: {key} {got[key]} != {want[key]}"


def _pages(path: Path) -> list[dict[str, Any]]:
    return [rec for kind, rec in read_input(detect_input(path)) if kind == "page"]


def _check_pages(pages: list[dict[str, Any]]) -> int:
    frame, failed = extract_pages(pages)
    assert not failed
    assert frame.height == len(pages)
    for row, page in zip(frame.iter_rows(named=True), pages, strict=True):
        assert row["page_id"] == page["page_id"]
        assert_same(row, reference_extract(page["text"], page["html"]), page["page_id"])
    return sum(p["html"] is not None for p in pages)


def test_sample_pages_match_reference() -> None:
    assert _check_pages(_pages(SAMPLE / "pages")) >= 30


@pytest.mark.skipif(not (SHARED / "corpus" / "pages").is_dir(), reason="no ../shared/corpus")
def test_shared_corpus_pages_match_reference() -> None:
    # Every fifth real page of the shared corpus keeps the test quick (~1 s of extraction).
    paths = sorted((SHARED / "corpus" / "pages").glob("*.html"))[::5]
    pages = [rec for p in paths for kind, rec in read_input(detect_input(p)) if kind == "page"]
    assert _check_pages(pages) == len(paths)


EDGE_CASES = {
    "fragments without spaces": "<p><a href=x><b>Foo</b><i>bar</i> baz</a> and more</p>",
    "nested lists and nav": ("<nav><ul><li><a>Home</a><ul><li><a>Sub page</a></li></ul></li>"
                             "</ul></nav><p>text</p><a>free link</a>"),
    "link lines": "<div><a>Read more</a><br><a> Read   more </a></div><p>Read more</p>",
    "cjk links": "<ul><li><a>新闻 中心</a></li><li><a>日本語のページ</a></li></ul><p>漢字テキスト abc</p>",
    "empty and whitespace links": "<p><a></a><a>   </a><a><img alt=x></a> words here</p>",
    "svg link": "<svg><a><text>inside svg</text></a></svg><a>outer <span>text</span></a>",
    "unicode spaces": "<a>a\u00a0b\u2003c\u3000d\x1ce\u200bf</a><p>x\u2028y\u0085z</p>",
    "no body": "<title> Only a title </title>",
    "entities": "<a>&amp;&nbsp;&lt;tag&gt;</a><p>&copy; 2024</p>",
    "many links": "<ul>" + "<li><a href=#>link number</a></li>" * (MAX_LINKS_KEPT + 5) + "</ul>",
    "long article": "<article>" + "<p>" + "Word and more words in prose. " * 30 + "</p>" * 5
                    + "</article><nav><a>Home</a><a>About</a></nav>",
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_cases_match_reference(name: str) -> None:
    html = EDGE_CASES[name]
    ex = extract_record(None, html)
    got = {"text": ex.text, "title": ex.title, "n_links": ex.n_links, **ex.html_features()}
    assert_same(got, reference_extract(None, html), name)


def test_unencodable_html_fails_like_the_reference() -> None:
    # A lone surrogate (possible from JSON) cannot be parsed; extract_pages quarantines it.
    html = "<a>bad \ud800 char</a>"
    with pytest.raises(UnicodeEncodeError):
        reference_extract(None, html)
    with pytest.raises(UnicodeEncodeError):
        extract_record(None, html)
    frame, failed = extract_pages([{"page_id": "p", "url": None, "source": "s", "text": None,
                                    "html": html}])
    assert frame.height == 0 and failed[0]["reason"].startswith("extraction failed")


@pytest.mark.parametrize(("text", "html"), [
    ("carried text", "<html><body></body></html>"),
    ("carried text", "   \n "),
    ("carried text", ""),
    (None, "\t"),
    ("plain", None),
])
def test_text_fallbacks_match_reference(text: str | None, html: str | None) -> None:
    ex = extract_record(text, html)
    got = {"text": ex.text, "title": ex.title, "n_links": ex.n_links, **ex.html_features()}
    assert_same(got, reference_extract(text, html), repr((text, html)))


def test_count_words_agrees_with_the_regex_on_every_code_point() -> None:
    # Every code point as a separator, inside a word and next to CJK (in chunks of 256 code
    # points): whitespace and CJK must be classified as PY_WORD_RE does.
    cps = [cp for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF]
    for i in range(0, len(cps), 256):
        chunk = "".join(f"a{c}b {c}{c} 漢{c}字 x{c} " for c in map(chr, cps[i:i + 256]))
        assert count_words(chunk) == py_count_words(chunk), hex(cps[i])
    for s in ("", " ", "漢字", "ab漢cd字 ef", "\u3040\u30ff\u3400\u4dbf\u4e00\u9fff\uf900\ufaff",
              "a\ud800b c", "\x1c\x1d\x1e\x1f\x85\xa0"):
        assert count_words(s) == py_count_words(s), repr(s)

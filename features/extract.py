"""HTML bytes/str -> main-content text, title and links, with well-kept native libraries.

Decoding and main-content extraction use resiliparse (uchardet + HTML meta charset, and its
main-content heuristic); links come from selectolax's Lexbor parser, because element text access
in resiliparse 2.0 costs ~0.2 s per page on link-heavy pages (measured on the corpus).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding
from resiliparse.parse.html import HTMLTree
from selectolax.lexbor import LexborHTMLParser

from features.tokens import py_count_words

# Below this many main-content words the reader view is not an article; what a reader then
# sees is the page's visible text (an error message, a login wall, a list of links).
MIN_MAIN_WORDS = 50
MAX_LINKS_KEPT = 2000


# Features that come from the HTML itself, with the value a plain-text page gets.
HTML_FEATURE_DEFAULTS: dict[str, float] = {
    "link_word_share": 0.0, "link_list_share": 0.0, "link_line_share": 0.0,
    "main_text_share": 1.0,
}


@dataclass
class Extracted:
    text: str
    title: str
    links: list[dict[str, str]] = field(default_factory=list)
    link_word_share: float = 0.0
    link_list_share: float = 0.0
    link_line_share: float = 0.0
    main_text_share: float = 1.0

    def html_features(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in HTML_FEATURE_DEFAULTS}


def decode_html(data: bytes) -> str:
    """Bytes in any charset -> str, by the page's meta charset or else detection."""
    return bytes_to_str(data, detect_encoding(data, from_html_meta=True))


def extract_html(html: str) -> Extracted:
    tree = HTMLTree.parse(html)
    title = (tree.title or "").strip()
    main = extract_plain_text(tree, main_content=True, alt_texts=False, noscript=True)
    visible = extract_plain_text(tree, main_content=False, alt_texts=False, noscript=True)
    main_words, visible_words = py_count_words(main), py_count_words(visible)

    lex = LexborHTMLParser(html)
    anchors = lex.css("a")
    in_lists = len(lex.css("li a, nav a"))
    links: list[dict[str, str]] = []
    anchor_texts: set[str] = set()
    link_words = 0
    for a in anchors:
        text = a.text(deep=True, separator=" ", strip=True)
        link_words += py_count_words(text)
        anchor_texts.add(" ".join(text.split()))
        if len(links) < MAX_LINKS_KEPT:
            links.append({"text": text[:300], "href": (a.attributes.get("href") or "")[:500]})

    text = main if main_words >= MIN_MAIN_WORDS or visible_words <= main_words else visible
    lines = [" ".join(ln.split()) for ln in text.split("\n")]
    lines = [ln for ln in lines if ln]
    anchor_texts.discard("")
    link_lines = sum(1 for ln in lines if ln in anchor_texts)
    return Extracted(
        text=text,
        title=title,
        links=links,
        link_word_share=min(1.0, link_words / visible_words) if visible_words else 0.0,
        link_list_share=in_lists / len(anchors) if anchors else 0.0,
        link_line_share=link_lines / len(lines) if lines else 0.0,
        main_text_share=min(1.0, main_words / visible_words) if visible_words else 0.0,
    )


def extract_record(text: str | None, html: str | None) -> Extracted:
    """What the features see for one record: its HTML's main content, else its text."""
    if html is not None and html.strip():
        extracted = extract_html(html)
        if text and not extracted.text.strip():
            extracted.text = text  # a record whose HTML yields nothing but which carries text
        return extracted
    return Extracted(text=text or "", title="")

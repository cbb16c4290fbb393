"""HTML bytes/str -> main-content text, title and link features, with well-kept native libraries.

Decoding and main-content extraction use resiliparse (uchardet + HTML meta charset, and its
main-content heuristic); links come from selectolax's Lexbor parser, because element access in
resiliparse 2.0 is slow (``text_content`` of each link: 97 s for the 19,709 links of 100 corpus
pages) and its selector engine counts ``li a, nav a`` matches differently.

Per page the work is: one resiliparse parse, two plain-text extractions from that tree, one
Lexbor parse with two selector queries and one native text walk per link. Everything else is
done on whole strings with C-level ``str`` methods (no per-word or per-link Python work):
words are counted with ``str.split`` (``features.tokens.count_words``), and the words of all
links are counted in one string.
"""

from __future__ import annotations

from dataclasses import dataclass

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding
from resiliparse.parse.html import HTMLTree
from selectolax.lexbor import LexborHTMLParser

from features.tokens import count_words

# Below this many main-content words the reader view is not an article; what a reader then
# sees is the page's visible text (an error message, a login wall, a list of links).
MIN_MAIN_WORDS = 50
# n_links counts links up to this many (earlier versions kept at most this many link records).
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
    n_links: int = 0
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
    del tree
    main_words, visible_words = count_words(main), count_words(visible)

    lex = LexborHTMLParser(html)
    anchors = lex.tags("a")  # the same nodes, in the same order, as css("a")
    # Distinct nodes: selectolax returns an anchor once per selector of the list it matches,
    # which counted a list link inside <nav> twice (shares up to 1.97 in schema 1.3); its
    # ":is(li, nav) a" undercounts (21 of 38 on a sample page), so no single selector.
    in_lists = len({node.mem_id for node in lex.css("li a, nav a")})
    # A link's text is its text nodes joined by spaces; only its words matter here (the word
    # count and the whitespace-normalised form), so no per-fragment strip is needed.
    anchor_texts = [a.text(deep=True, separator=" ") for a in anchors]
    del lex
    # Joined by a space, the links' words add up: a separator never merges or splits words.
    link_words = count_words(" ".join(anchor_texts))
    anchor_set = set(map(" ".join, map(str.split, anchor_texts)))
    anchor_set.discard("")

    text = main if main_words >= MIN_MAIN_WORDS or visible_words <= main_words else visible
    lines = [ln for ln in map(" ".join, map(str.split, text.split("\n"))) if ln]
    link_lines = sum(map(anchor_set.__contains__, lines)) if anchor_set else 0
    return Extracted(
        text=text,
        title=title,
        n_links=min(len(anchors), MAX_LINKS_KEPT),
        link_word_share=min(1.0, link_words / visible_words) if visible_words else 0.0,
        link_list_share=in_lists / len(anchors) if anchors else 0.0,
        link_line_share=link_lines / len(lines) if lines else 0.0,
        main_text_share=min(1.0, main_words / visible_words) if visible_words else 0.0,
    )


def extract_record(text: str | None, html: str | None) -> Extracted:
    """What the features see for one record: its HTML's main content, else its text."""
    if html and not html.isspace():  # same as html.strip() being non-empty, without a copy
        extracted = extract_html(html)
        if text and not extracted.text.strip():
            extracted.text = text  # a record whose HTML yields nothing but which carries text
        return extracted
    return Extracted(text=text or "", title="")

"""The one declaration of every feature pagescore computes.

Training, scoring, reasons, reports and the README's feature table all read ``FEATURES``; a
feature that is not declared here does not exist. Change a definition -> bump
``FEATURE_SCHEMA_VERSION`` (models trained on another version are refused at load time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FEATURE_SCHEMA_VERSION = "1.4"  # 1.4: link_list_share counts each link once

Direction = Literal["bad_high", "bad_low", "none"]
Group = Literal["duplication", "error_text", "spam_links", "boilerplate", "quality", "html"]


@dataclass(frozen=True)
class Feature:
    """One numeric page feature.

    ``direction`` says which way the feature hurts publishability, as a prior: it sets the
    gradient-boosted model's monotone constraint and decides whether a contribution is
    explained as a defect. ``reason`` is the plain-language template used when the feature
    pulls a page's score down; ``{value}`` is the page's value formatted by ``fmt``.
    """

    name: str
    meaning: str
    group: Group
    lo: float
    hi: float
    direction: Direction
    reason: str
    fmt: str = "{:.0%}"
    version: str = "1"
    shown_as: Literal["value", "count_from_log10"] = "value"

    def describe_value(self, value: float) -> str:
        """The value as a reader wants it (a word count, not its logarithm)."""
        return self.describe_values([value])[0]

    def describe_values(self, values: list[float]) -> list[str]:
        """``describe_value`` of each of ``values`` (one call for many: explanations word
        thousands of values a batch)."""
        if self.shown_as == "count_from_log10":
            values = [10**v - 1 for v in values]
        return list(map(self.fmt.format, values))


def _frac(name: str, meaning: str, group: Group, direction: Direction, reason: str) -> Feature:
    return Feature(name, meaning, group, 0.0, 1.0, direction, reason)


_GOPHER_TOP = {2: 0.20, 3: 0.18, 4: 0.16}
_GOPHER_DUP = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}

FEATURES: tuple[Feature, ...] = (
    # --- duplication (Gopher, Rae et al. 2021, Table A1) ------------------------------------
    _frac("dup_line_frac", "Share of non-blank lines that repeat an earlier line of the page "
          "(Gopher duplicate line fraction; blank lines never count).", "duplication",
          "bad_high", "duplicated lines: {value} of lines repeat earlier lines"),
    _frac("dup_line_char_frac", "Characters in repeated (non-first) non-blank lines / characters "
          "in all non-blank lines (Gopher duplicate line character fraction).", "duplication",
          "bad_high", "duplicated text: {value} of characters sit in repeated lines"),
    _frac("dup_para_frac", "Share of paragraphs (blocks split on blank lines) that repeat an "
          "earlier paragraph (Gopher duplicate paragraph fraction).", "duplication",
          "bad_high", "duplicated paragraphs: {value} of paragraphs repeat"),
    _frac("dup_para_char_frac", "Characters in repeated paragraphs / characters in all "
          "paragraphs (Gopher duplicate paragraph character fraction).", "duplication",
          "bad_high", "duplicated paragraphs: {value} of characters are repeats"),
    *(
        _frac(f"top_{n}gram_char_frac", f"Characters covered by all occurrences of the most "
              f"frequent word {n}-gram / characters of all words; 0 unless it occurs twice "
              f"(Gopher top n-gram; threshold {t}).", "duplication", "bad_high",
              f"duplicated phrase: the most frequent {n}-word phrase covers {{value}} of the text")
        for n, t in _GOPHER_TOP.items()
    ),
    *(
        _frac(f"dup_{n}gram_char_frac", f"Characters of words covered by any word {n}-gram that "
              f"occurs more than once (all occurrences, overlaps counted once) / characters of "
              f"all words (Gopher duplicate n-gram; threshold {t}).", "duplication", "bad_high",
              f"duplicated passages: {{value}} of the text is inside repeated {n}-word sequences")
        for n, t in _GOPHER_DUP.items()
    ),
    # --- error, soft-404 and wall text ------------------------------------------------------
    _frac("error_line_share", "Share of non-blank lines carrying HTTP/server error or soft-404 "
          "text (phrase lists in data/phrases/error.txt).", "error_text", "bad_high",
          "error text: {value} of lines are error or 'not found' messages"),
    Feature("error_in_head", "1 when error or soft-404 text sits in the title or the first 5 "
            "non-blank lines, else 0.", "error_text", 0.0, 1.0, "bad_high",
            "error text in the first lines", fmt="{:.0f}"),
    _frac("wall_line_share", "Share of non-blank lines carrying login, paywall, cookie-consent, "
          "bot-challenge or 'enable JavaScript' text (data/phrases/wall.txt).", "error_text",
          "bad_high", "wall text: {value} of lines ask to log in, accept cookies or enable JS"),
    Feature("wall_in_head", "1 when wall text sits in the title or the first 5 non-blank lines.",
            "error_text", 0.0, 1.0, "bad_high", "wall text in the first lines", fmt="{:.0f}"),
    # --- spam links and promotional blocks --------------------------------------------------
    _frac("promo_line_share", "Share of non-blank lines inside a run of 3 or more headline-like "
          "lines (4-25 words, not starting lower-case, no terminal punctuation, not "
          "boilerplate) that ends the page (up to 3 trailing lines), like the seed page's "
          "'Most popular stories' block.",
          "spam_links", "bad_high", "promotional link titles: {value} of lines"),
    _frac("link_word_share", "HTML only: words inside <a> elements / all visible words of the "
          "page (0 for plain text).", "spam_links", "bad_high",
          "link-heavy page: {value} of visible words are links"),
    _frac("link_list_share", "HTML only: links inside list items or navigation / all links "
          "(0 when the page has no links).", "spam_links", "bad_high",
          "links in lists: {value} of links"),
    _frac("link_line_share", "HTML only: non-blank lines of the extracted text that are exactly "
          "the text of a link on the page / non-blank lines (listings are lists of links).",
          "spam_links", "bad_high", "list of links: {value} of lines are link titles"),
    _frac("url_char_frac", "Characters inside http(s):// URLs written in the text / characters.",
          "spam_links", "bad_high", "raw URLs: {value} of characters"),
    # --- boilerplate ------------------------------------------------------------------------
    _frac("boilerplate_line_share", "Share of non-blank lines with legal, cookie, terms, "
          "copyright or share/subscribe/comment furniture (data/phrases/boilerplate.txt).",
          "boilerplate", "bad_high", "boilerplate: {value} of lines are legal/cookie/share text"),
    _frac("boilerplate_char_share", "Characters in boilerplate lines / characters in non-blank "
          "lines.", "boilerplate", "bad_high",
          "boilerplate: {value} of characters are legal/cookie/share text"),
    # --- standard web-text quality statistics (Gopher, C4, FineWeb, RedPajama-V2) -----------
    Feature("log_word_count", "log10(1 + words); words are whitespace-separated tokens, and "
            "each CJK character counts as one word.", "quality", 0.0, 8.0, "bad_low",
            "thin page: only {value} words", fmt="{:,.0f}", shown_as="count_from_log10"),
    Feature("mean_word_length", "Mean characters per word (Gopher keeps 3..10).", "quality",
            0.0, 1e7, "none", "odd word length: mean {value} characters", fmt="{:.1f}"),
    Feature("symbol_word_ratio", "('#' + '...' + '…' occurrences) / words (Gopher: > 0.1 bad).",
            "quality", 0.0, 1e7, "bad_high", "symbols: {value} per word", fmt="{:.2f}"),
    _frac("bullet_line_frac", "Share of non-blank lines starting with a bullet (•, -, *, ·, ▪, "
          "‣, ●).", "quality", "bad_high", "bullet lists: {value} of lines"),
    _frac("ellipsis_line_frac", "Share of non-blank lines ending in '...' or '…'.", "quality",
          "bad_high", "truncated lines: {value} of lines end in an ellipsis"),
    _frac("alpha_word_frac", "Share of words with at least one letter (Gopher: < 0.8 bad).",
          "quality", "bad_low", "few real words: only {value} contain a letter"),
    _frac("stop_word_frac", "Share of words that are common function words of 10 languages "
          "(data/phrases/stopwords.txt); natural prose sits near 0.3-0.5.", "quality",
          "bad_low", "little natural prose: {value} function words"),
    Feature("gopher_stop_words", "Distinct Gopher stop words present (the, be, to, of, and, "
            "that, have, with); Gopher wants >= 2 for English.", "quality", 0.0, 8.0, "none",
            "few English stop words: {value}", fmt="{:.0f}"),
    _frac("terminal_punct_line_frac", "Share of non-blank lines ending in terminal punctuation "
          "(. ! ? \" ' and CJK 。！？; FineWeb: < 0.12 bad).", "quality", "bad_low",
          "few sentences: only {value} of lines end like a sentence"),
    _frac("prose_char_share", "Characters in prose lines (at least 10 words, ending in terminal "
          "punctuation) / characters in non-blank lines: how much of the page reads as running "
          "text.", "quality", "bad_low", "little running text: {value} of the text is prose"),
    _frac("short_line_frac", "Share of non-blank lines of at most 30 characters (FineWeb: "
          "> 0.67 bad).", "quality", "bad_high", "fragmented text: {value} of lines are short"),
    Feature("newline_word_ratio", "Non-blank lines / words (FineWeb list ratio: > 0.3 bad).",
            "quality", 0.0, 1e7, "bad_high", "list-like text: {value} lines per word",
            fmt="{:.2f}"),
    _frac("unique_word_frac", "Distinct words (lower-cased) / words.", "quality", "none",
          "vocabulary: {value} distinct words"),
    _frac("uppercase_char_frac", "Upper-case letters / letters.", "quality", "bad_high",
          "shouting: {value} of letters are capitals"),
    _frac("digit_char_frac", "Digits / characters (NeMo: > 0.15 bad).", "quality", "bad_high",
          "numbers: {value} of characters are digits"),
    _frac("non_alnum_char_frac", "Characters that are neither letters, digits nor whitespace "
          "/ characters (NeMo: > 0.25 bad).", "quality", "bad_high",
          "symbol soup: {value} of characters are symbols"),
    Feature("has_lorem_or_braces", "1 when the text contains 'lorem ipsum' or a '{' (C4).",
            "quality", 0.0, 1.0, "bad_high", "placeholder or code text", fmt="{:.0f}"),
    _frac("replacement_char_frac", "U+FFFD replacement characters and typical mojibake "
          "sequences / characters.", "quality", "bad_high",
          "broken encoding: {value} of characters are mojibake"),
    # --- HTML structure ---------------------------------------------------------------------
    _frac("main_text_share", "HTML only: words kept by main-content extraction / all visible "
          "words (1 for plain text).", "html", "bad_low", "little main content: {value} of words"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}

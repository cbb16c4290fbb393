"""The native kernels against the polars expressions and plain-Python definitions they replace,
on real pages (the shipped training table: pages of ../shared/corpus, see
scripts/build_training_table.py) and on generated text."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features import kernels
from features.lines import (
    LINE_PHRASE_LISTS,
    explode_lines,
    explode_lines_with_bytes,
    line_automaton,
    line_patterns,
    mark_lines,
)
from features.phrases import LineFilter, line_filter, load_phrases, load_words
from features.repetition import DUP_NGRAMS, NGRAM_WORD_CAP, TOP_NGRAMS
from features.tokens import BULLET_CHARS, ELLIPSES, TERMINAL_PUNCT, WORD_PATTERN
from features.unicode_table import build_table, load_table
from features.words import GOPHER_STOP_WORDS

TRAINING = Path(__file__).resolve().parents[1] / "data" / "training" / "labelled_pages.parquet"


@pytest.fixture(scope="module")
def pages() -> pl.DataFrame:
    table = pl.read_parquet(TRAINING, columns=["text"]).with_row_index("_row")
    sample = table.sample(n=300, seed=7).sort("_row").drop("_row")
    return sample.select(pl.int_range(sample.height, dtype=pl.UInt32).alias("_row"),
                         pl.col("text").fill_null(""))


@pytest.fixture(scope="module")
def stats(pages: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    lines = explode_lines(pages)
    per_line, per_page = kernels.line_stats(
        lines["line"], lines["_row"].to_numpy(), pages.height, sorted(load_words("stopwords")),
        list(GOPHER_STOP_WORDS), NGRAM_WORD_CAP, line_automaton())
    return lines.hstack(per_line), per_page, lines


def _char_counts(text: pl.Series) -> np.ndarray:
    """The ``CHAR_COLUMNS`` of ``kernels.text_counts`` called on its own, after checking that
    the features' route (``features.compute.scan_text``: the line scan's classes and shared
    newline positions) gives the same."""
    from features.compute import scan_text

    alone = kernels.text_counts(text)[:, :len(kernels.CHAR_COLUMNS)]
    base = pl.DataFrame({"text": text}).select(
        pl.int_range(text.len(), dtype=pl.UInt32).alias("_row"),
        pl.col("text").fill_null(""), pl.lit("").alias("title"))
    assert np.array_equal(scan_text(base)[3][:, :len(kernels.CHAR_COLUMNS)], alone)
    return alone


def _regex_char_counts(text: pl.Series) -> np.ndarray:
    """``CHAR_COLUMNS`` by their definitions: polars' character count and class regexes."""
    return pl.DataFrame({"text": text}).select(
        pl.col("text").str.len_chars().alias("chars"),
        *(pl.col("text").str.count_matches(p).alias(p)
          for p in (r"\p{L}", r"\p{Lu}", r"\p{Nd}", r"[\p{N}\s]")),
    ).to_numpy()


def _paragraph_counts(text: pl.Series) -> np.ndarray:
    """The ``PARAGRAPH_COLUMNS`` of ``kernels.text_counts``."""
    return kernels.text_counts(text)[:, len(kernels.CHAR_COLUMNS):]


def row_key(hash_expr: pl.Expr, row: pl.Expr) -> pl.Expr:
    """A 64-bit key unique to (page, value), as the polars definition of duplicate lines used
    it (global polars ops acting per page)."""
    return hash_expr ^ (row.cast(pl.UInt64) * pl.lit(0x9E3779B97F4A7C15, dtype=pl.UInt64))


def test_shipped_unicode_table_matches_installed_polars() -> None:
    shipped_classes, shipped_lower = load_table()
    classes, lower = build_table()
    assert np.array_equal(shipped_classes, classes), "rerun features.unicode_table.write_table()"
    assert np.array_equal(shipped_lower, lower), "rerun features.unicode_table.write_table()"


def test_char_counts_match_regex_counts(pages: pl.DataFrame) -> None:
    assert np.array_equal(_char_counts(pages["text"]), _regex_char_counts(pages["text"]))


def test_line_columns_match_expressions(stats) -> None:
    marked, _, _ = stats
    line = pl.col("line")
    low = line.str.to_lowercase()
    expected = marked.select(
        line.str.len_chars().alias("nchars"),
        line.str.count_matches(WORD_PATTERN).alias("nwords"),
        pl.any_horizontal(line.str.ends_with(p) for p in TERMINAL_PUNCT).alias("ends_terminal"),
        pl.any_horizontal(line.str.ends_with(p) for p in ELLIPSES).alias("ends_ellipsis"),
        pl.any_horizontal(line.str.starts_with(c) for c in BULLET_CHARS).alias("starts_bullet"),
        line.str.contains(r"^\p{Ll}").alias("starts_lower"),
        (line.str.ends_with(":") | line.str.ends_with("\uff1a")).alias("ends_colon"),
        sum(low.str.contains_any(list(load_phrases(name).literals)).cast(pl.Int64) * (1 << g)
            for g, name in enumerate(LINE_PHRASE_LISTS)).alias("phrase_bits"),
    )
    for name in kernels.LINE_COLUMNS:
        assert marked[name].cast(pl.Int64).equals(expected[name].cast(pl.Int64)), name
    assert marked["phrase_bits"].gt(0).sum() > 50  # the sample does hold phrases


def _reference_words(text: str) -> list[str]:
    return pl.Series([text]).str.extract_all(WORD_PATTERN)[0].to_list()


def _reference_ngrams(words: list[str]) -> dict[str, float]:
    """Gopher's repetition fractions straight from features.repetition's definitions."""
    words = words[:NGRAM_WORD_CAP]
    low = pl.Series(words, dtype=pl.String).str.to_lowercase().to_list()
    lengths = np.array([len(w) for w in words])
    total = max(int(lengths.sum()), 1)
    out = {}
    for n in TOP_NGRAMS:
        grams = Counter(tuple(low[i:i + n]) for i in range(len(low) - n + 1))
        first = {}
        for i in range(len(low) - n + 1):
            first.setdefault(tuple(low[i:i + n]), i)
        best = max(((c, int(lengths[first[g]:first[g] + n].sum())) for g, c in grams.items()
                    if c > 1), default=(0, 0))
        out[f"top_{n}gram_char_frac"] = min(best[0] * best[1] / total, 1.0)
    for n in DUP_NGRAMS:
        grams = Counter(tuple(low[i:i + n]) for i in range(len(low) - n + 1))
        covered = np.zeros(len(low), dtype=bool)
        for i in range(len(low) - n + 1):
            if grams[tuple(low[i:i + n])] > 1:
                covered[i:i + n] = True
        out[f"dup_{n}gram_char_frac"] = float((lengths * covered).sum() / total)
    return out


def test_page_word_counts_and_ngrams_match_definitions(pages: pl.DataFrame, stats) -> None:
    _, per_page, _ = stats
    stop = load_words("stopwords")
    checked = repeated = 0
    for row, text in enumerate(pages["text"].to_list()):
        words = _reference_words(text)
        low = pl.Series(words, dtype=pl.String).str.to_lowercase().to_list()
        got = per_page.row(row, named=True)
        assert got["_nwords"] == len(words)
        assert got["_word_chars"] == sum(len(w) for w in words)
        assert got["_unique_words"] == len(set(low))
        assert got["_stop_words"] == sum(w in stop for w in low)
        assert got["_gopher_words"] == len(set(low) & set(GOPHER_STOP_WORDS))
        assert got["_alpha_words"] == pl.Series(words, dtype=pl.String).str.contains(
            r"\p{L}").sum()
        assert got["_symbols"] == sum(w.count("#") + len(re.findall(r"\.\.\.|…", w))
                                      for w in words)
        if row % 3 == 0 and len(words) < 5000:  # the reference n-gram counter is slow
            reference = _reference_ngrams(words)
            for name, value in reference.items():
                assert got[name] == pytest.approx(value, abs=1e-12), (row, name)
            repeated += reference["dup_5gram_char_frac"] > 0
        checked += 1
    assert checked == pages.height
    assert repeated > 20  # the n-gram comparison met real repetition, not only zeros


@pytest.mark.parametrize(("text", "distinct"), [
    ("ΟΔΟΣ οδος Οδός", 2),      # final sigma from a capital equals the typed one
    ("σας ΣΑΣ Σας", 1),
    ("İstanbul i̇stanbul istanbul", 2),  # U+0130 lower-cases to i + U+0307, as in polars
])
def test_words_compare_as_after_polars_lowercase(text: str, distinct: int) -> None:
    reference = pl.Series(text.split()).str.to_lowercase().n_unique()
    assert reference == distinct
    _, per_page = kernels.line_stats(pl.Series([text]), np.zeros(1, dtype=np.int64), 1, [], [],
                                     NGRAM_WORD_CAP, line_automaton())
    assert per_page["_unique_words"][0] == distinct


@settings(max_examples=200, deadline=None)
@given(phrases=st.lists(st.text(alphabet="abcé中 .", min_size=1, max_size=4).map(str.strip)
                        .filter(bool), min_size=1, max_size=6),
       lines=st.lists(st.text(alphabet="abcdeÉé中 .AB", min_size=1, max_size=30).map(str.strip)
                      .filter(bool), min_size=1, max_size=8))
def test_phrase_automaton_finds_what_substring_search_finds(phrases, lines) -> None:
    groups = (tuple(phrases[::2]), tuple(phrases[1::2]))
    frame = pl.DataFrame({"line": lines})
    per_line, _ = kernels.line_stats(frame["line"], np.zeros(len(lines), dtype=np.int64), 1, [],
                                     [], NGRAM_WORD_CAP, kernels.phrase_automaton(groups))
    for line, bits in zip(lines, per_line["phrase_bits"].to_list(), strict=True):
        expected = sum((1 << g) for g, group in enumerate(groups)
                       if any(p in line.lower() for p in group))
        assert bits == expected, (line, groups)


def _reference_mark_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """``features.lines.mark_lines`` as polars expressions (its definition before the native
    ``line_flags`` and the line filters): every pattern on every lower-cased line."""
    from features.lines import PROMO_MAX_WORDS, PROMO_MIN_RUN, PROMO_MIN_WORDS, PROMO_TAIL_SLACK
    error, wall, boiler = (load_phrases(n) for n in LINE_PHRASE_LISTS)
    line = pl.col("line")
    low = line.str.to_lowercase()
    bits = pl.col("phrase_bits")
    lines = lines.with_columns(
        (((bits & 1) != 0) | error.pattern_matches(low)).alias("is_error"),
        (((bits & 2) != 0) | wall.pattern_matches(low)).alias("is_wall"),
        (((bits & 4) != 0) | boiler.pattern_matches(low)).alias("is_boiler"),
        (~row_key(line.hash(7), pl.col("_row")).is_first_distinct()).alias("is_dup"),
        *(pl.col(c).cast(pl.Boolean) for c in ("ends_terminal", "ends_ellipsis",
                                                "starts_bullet")),
    )
    headline = (
        pl.col("nwords").is_between(PROMO_MIN_WORDS, PROMO_MAX_WORDS)
        & ~pl.col("ends_terminal")
        & (pl.col("starts_lower") == 0)
        & ~pl.col("is_boiler")
        & (pl.col("ends_colon") == 0)
    )
    run_start = (headline != headline.shift(1)) | (pl.col("_row") != pl.col("_row").shift(1))
    lines = lines.with_columns(headline.alias("headline"), run_start.fill_null(True).cum_sum()
                               .alias("_run"))
    last_line = pl.col("nb_idx").max().over("_row")
    return lines.with_columns(
        (
            pl.col("headline")
            & (pl.len().over("_run") >= PROMO_MIN_RUN)
            & (pl.col("nb_idx").max().over("_run") >= last_line - PROMO_TAIL_SLACK)
        ).alias("is_promo")
    ).drop("_run", "starts_lower", "ends_colon", "phrase_bits", "_filter_bits", "_is_dup")


def _marked_pages(texts: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(mark_lines result, reference result)`` for pages of ``texts``."""
    pages = pl.DataFrame({"text": texts}).select(
        pl.int_range(len(texts), dtype=pl.UInt32).alias("_row"), "text")
    lines = explode_lines(pages)
    per_line, _ = kernels.line_stats(
        lines["line"], lines["_row"].to_numpy(), pages.height, [], [], NGRAM_WORD_CAP,
        line_automaton())
    lines = lines.hstack(per_line)
    titles = pages.select("_row", pl.lit("").alias("title"))
    return mark_lines(lines, titles)[0], _reference_mark_lines(lines)


def test_mark_lines_matches_its_polars_definition(pages: pl.DataFrame) -> None:
    marked, reference = _marked_pages(pages["text"].to_list())
    assert marked.columns == reference.columns
    for name in marked.columns:
        assert marked[name].equals(reference[name]), name
    # the sample exercises every flag, so a wrong one shows
    for flag in ("is_error", "is_wall", "is_boiler", "is_dup", "headline", "is_promo"):
        assert marked[flag].sum() > 10, flag


@pytest.mark.parametrize("text", [
    "A Headline Of Five Words\nAnother Headline With Five Words\nA Third Headline Of Words",
    "x\nA Headline Of Five Words\nAnother Headline With Five Words\nA Third Headline Of Words",
    "A Headline Of Five Words\nAnother Headline With Five Words\nA Third Headline Of Words\n"
    "a\nb\nc\nd",
    "same line\nSame line\nsame line\n same line \nsame line.",
    "Comments (3)\nKommentare: 12\n404 Not Found\nError 503\nhttp 404 - gone\n"
    "The page you asked for does not exist\nCOMMENTS\ncomments 4 5",
])
def test_mark_lines_on_edge_pages(text: str) -> None:
    # 3- and 4-line pages (the end-of-page test in UInt32), duplicates, each pattern.
    marked, reference = _marked_pages([text, text, ""])
    for name in marked.columns:
        assert marked[name].equals(reference[name]), (name, text)


def test_stripped_lower_cased_lines_start_without_white_space() -> None:
    # line_filter drops a pattern's leading ^\s*: what strip_chars keeps at the start is not
    # \s, nor does lower-casing make it \s.
    classes, lower = load_table()
    from features.unicode_table import WHITESPACE

    space = (classes & WHITESPACE) != 0
    assert not np.any(~space & space[lower])
    spaces = [chr(c) for c in np.flatnonzero(space).tolist()]
    assert pl.Series(spaces).str.strip_chars().eq("").all()


def _passes(line_filter: LineFilter, line: str) -> bool:
    if not line_filter.prefixes and not line_filter.substrings:
        return True
    low = line.lower().replace("\u03c2", "\u03c3")
    return (any(low.startswith(p) for p in line_filter.prefixes)
            or any(s in low for s in line_filter.substrings))


_FILTER_PATTERNS = [p for _, p in line_patterns()] + [
    r"^(ab)*c", r"^x?y\s*$", r"^ab|cd", r"(foo|bar)\d+ baz", r"^[:：]?(q|rs)+t", r"^\s*\d+",
    r"^(?i)ab",
]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), index=st.integers(0, len(_FILTER_PATTERNS) - 1))
def test_line_filter_passes_every_line_its_pattern_matches(data, index: int) -> None:
    pattern = _FILTER_PATTERNS[index]
    text = data.draw(st.from_regex(pattern.replace("(?i)", ""), fullmatch=False))
    line = text.strip()
    matched = pl.Series([line]).str.to_lowercase().str.contains(pattern)[0]
    if matched:
        assert _passes(line_filter(pattern), line), (pattern, line)


def test_line_filters_of_the_phrase_lists_are_selective(stats) -> None:
    marked, _, _ = stats
    low = marked["line"].str.to_lowercase()
    for f, (_, pattern) in enumerate(line_patterns()):
        passed = ((marked["_filter_bits"].to_numpy() >> f) & 1).astype(bool)
        matched = low.str.contains(pattern).to_numpy()
        assert not (matched & ~passed).any(), pattern
        assert passed.sum() < marked.height / 20, pattern  # the regex is spared most lines
        lf = line_filter(pattern)
        expected = [_passes(lf, line) for line in marked["line"].to_list()]
        assert passed.tolist() == expected, pattern


@pytest.mark.parametrize("pattern", [
    r"^[[:alpha:]]z", r"^[a[b]]z", r"^[a-z&&b]z", r"^[a--b]z", r"^(?i)ab", r"^\p{L}b", r"^\s+ab",
    r"\d",
])
def test_line_filter_gives_up_where_unsure(pattern: str) -> None:
    assert line_filter(pattern) == LineFilter()


@settings(max_examples=200, deadline=None)
@given(prefixes=st.lists(st.text(alphabet="abé中 .", min_size=0, max_size=3), max_size=3),
       substrings=st.lists(st.text(alphabet="abé中 .", min_size=1, max_size=3), max_size=2),
       lines=st.lists(st.text(alphabet="abcÉé中 .AB", min_size=1, max_size=12).map(str.strip)
                      .filter(bool), min_size=1, max_size=8))
def test_phrase_automaton_line_filters(prefixes, substrings, lines) -> None:
    filters = (LineFilter(prefixes=tuple(prefixes)), LineFilter(substrings=tuple(substrings)),
               LineFilter())
    per_line, _ = kernels.line_stats(pl.Series(lines), np.zeros(len(lines), dtype=np.int64), 1,
                                     [], [], NGRAM_WORD_CAP,
                                     kernels.phrase_automaton((("a",),), filters))
    for line, phrase_bits, bits in zip(lines, per_line["phrase_bits"], per_line["_filter_bits"],
                                       strict=True):
        assert phrase_bits == ("a" in line.lower())
        expected = sum(1 << f for f, lf in enumerate(filters)
                       if (lf.prefixes or lf.substrings) and _passes(lf, line)
                       or not (lf.prefixes or lf.substrings))
        assert bits == expected, (line, filters)


def _ngram_row(text: str, cap: int) -> dict[str, float]:
    _, per_page = kernels.line_stats(pl.Series([text]), np.zeros(1, dtype=np.int64), 1, [], [],
                                     cap, line_automaton())
    return per_page.row(0, named=True)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.sampled_from(["a", "b", "cc", "D", "d", "é", "中"]), max_size=60),
       cap=st.integers(1, 70))
def test_ngrams_of_repetitive_text_match_definitions(words: list[str], cap: int) -> None:
    # Few distinct words: long repeats, groups that split and groups that do not.
    got = _ngram_row(" ".join(words), cap)
    # words[:cap]: the reference reads the first NGRAM_WORD_CAP (> cap) words of what it gets.
    for name, value in _reference_ngrams(_reference_words(" ".join(words))[:cap]).items():
        assert got[name] == pytest.approx(value, abs=1e-12), name


def test_ngrams_read_the_first_cap_words_of_real_pages(pages: pl.DataFrame) -> None:
    checked = 0
    for text in pages["text"].to_list()[:60]:
        words = _reference_words(text)
        got = _ngram_row(text, 200)
        for name, value in _reference_ngrams(words[:200]).items():
            assert got[name] == pytest.approx(value, abs=1e-12), name
        checked += len(words) > 200
    assert checked > 20  # pages longer than the cap


def _reference_paragraphs(texts: list[str]) -> np.ndarray:
    """The paragraph columns of ``kernels.text_counts`` as the polars expressions of their
    definition."""
    from features.tokens import PARAGRAPH_BREAK, PARAGRAPH_SEP

    frame = pl.DataFrame({"text": texts}).with_row_index("_row")
    paras = (
        frame.select("_row", pl.col("text").str.replace_all(PARAGRAPH_BREAK, PARAGRAPH_SEP)
                     .str.split(PARAGRAPH_SEP).alias("para"))
        .explode("para")
        .with_columns(pl.col("para").str.strip_chars())
        .filter(pl.col("para") != "")
        .with_columns(pl.col("para").str.len_chars().cast(pl.Int64).alias("nchars"),
                      pl.col("para").is_first_distinct().over("_row").not_().alias("dup"))
    )
    agg = paras.group_by("_row").agg(
        pl.len().cast(pl.Int64).alias("n"), pl.col("dup").sum().cast(pl.Int64),
        pl.col("nchars").sum(), pl.col("nchars").filter(pl.col("dup")).sum().alias("dup_chars"))
    out = frame.select("_row").join(agg, on="_row", how="left", maintain_order="left")
    return out.drop("_row").fill_null(0).to_numpy()


def test_paragraph_counts_match_expressions(pages: pl.DataFrame) -> None:
    texts = pages["text"].to_list()
    counts = _paragraph_counts(pages["text"])
    assert np.array_equal(counts, _reference_paragraphs(texts))
    assert (counts[:, 1] > 0).sum() > 20  # duplicate paragraphs do occur


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.text(alphabet="ab\n \t\r\v\f\u2029\u00a0\u2028\x1c\u3000é", max_size=40),
                      min_size=1, max_size=5))
def test_paragraph_counts_on_white_space_mixes(texts: list[str]) -> None:
    counts = _paragraph_counts(pl.Series(texts, dtype=pl.String))
    assert np.array_equal(counts, _reference_paragraphs(texts)), texts


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.text(alphabet="aB1٣Ⅻ\n \t\r\v\f\u2029\u00a0\u2028\x1c\u3000\u0085é中",
                              max_size=40), min_size=1, max_size=5))
def test_char_counts_on_white_space_mixes(texts: list[str]) -> None:
    """The line scan counts the classes of the lines' characters; what lies outside them (line
    breaks, stripped ends, blank lines, a "\\r" dropped inside a line) must still count."""
    text = pl.Series("text", texts, dtype=pl.String)
    assert np.array_equal(_char_counts(text), _regex_char_counts(text)), texts


@pytest.mark.parametrize(("line", "bits"), [
    ("\u212aB here", 1),     # the Kelvin sign lower-cases to an ASCII "k"
    ("İX", 2),               # U+0130 lower-cases to "i" + U+0307
    ("ΟΔΟΣ σ", 4),           # final and medial sigma fold alike
    ("kb İx οδοσ", 7),
    ("K B", 0),
])
def test_phrase_automaton_reads_non_ascii_lower_cased_to_ascii(line: str, bits: int) -> None:
    automaton = kernels.phrase_automaton((("kb",), ("i\u0307x",), ("οδος",)))
    per_line, _ = kernels.line_stats(pl.Series([line]), np.zeros(1, dtype=np.int64), 1, [], [],
                                     NGRAM_WORD_CAP, automaton)
    assert per_line["phrase_bits"][0] == bits
    expected = sum(1 << g for g, p in enumerate(("kb", "i\u0307x", "οδοσ"))
                   if p in line.lower().replace("\u03c2", "\u03c3"))
    assert expected == bits


@pytest.mark.parametrize("n_classes", [1, 2, 5, 8, 9, 123])
def test_flat_automaton_steps_as_the_transition_table(n_classes: int) -> None:
    rng = np.random.default_rng(n_classes)
    delta = rng.integers(0, 50, size=(50, n_classes)).astype(np.int16)
    byte_class, out = np.zeros(257, dtype=np.int64), rng.integers(0, 8, size=50)
    flat, cls, flat_out, shift = kernels._flat_automaton((delta, byte_class, out))
    assert cls is byte_class and flat_out is out and (1 << shift) >= n_classes
    for state in range(50):
        for c in range(n_classes):
            nxt = int(flat[(state << shift) + c])
            assert nxt == int(delta[state, c]) << shift
            assert flat_out[nxt >> shift] == out[delta[state, c]]
    assert kernels._flat_automaton((delta, byte_class, out))[0] is flat  # kept per automaton


def _reference_explode_lines(base: pl.DataFrame) -> pl.DataFrame:
    """``features.lines.explode_lines`` as polars expressions over ``split_lines``."""
    from features.lines import split_lines

    lines = split_lines(base).drop("raw")
    blank = pl.col("line") == ""
    lines = lines.with_columns(blank.cum_sum().alias("para")).filter(~blank)
    return lines.with_columns(
        (pl.int_range(pl.len(), dtype=pl.UInt32).over("_row")).alias("nb_idx"))


def test_explode_lines_matches_split_lines(pages: pl.DataFrame) -> None:
    base = pages.with_columns(pl.col("_row") * 3)  # row ids need not be 0..n-1
    got = explode_lines(base)
    expected = _reference_explode_lines(base)
    assert got.schema == expected.schema
    for name in got.columns:
        assert got[name].equals(expected[name]), name


def test_explode_lines_of_a_sliced_text_column(pages: pl.DataFrame) -> None:
    base = pl.concat([pages.head(40), pages.head(40)]).slice(25, 30)  # bytes before row 0
    got = explode_lines(base)
    expected = _reference_explode_lines(base)
    assert got.equals(expected)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.text(alphabet="ab \n\r\t\u00a0\u2029\u3000\x1cé中", max_size=30),
                      min_size=1, max_size=5))
def test_explode_lines_on_white_space_mixes(texts: list[str]) -> None:
    base = pl.DataFrame({"text": texts}).select(
        pl.int_range(len(texts), dtype=pl.UInt32).alias("_row"), "text")
    got, spans = explode_lines_with_bytes(base)
    expected = _reference_explode_lines(base)
    for name in got.columns:
        assert got[name].equals(expected[name]), (name, texts)
    assert got["line"].to_list() == expected["line"].to_list()
    # Where line_stats reads each line: its bytes, "\r" removed (those lines are copied).
    assert [spans.data[a:b].tobytes().decode() for a, b in zip(spans.start, spans.end,
                                                               strict=True)] == got["line"].to_list()


def test_line_stats_reads_the_cut_lines_in_place_as_it_reads_their_column(
        pages: pl.DataFrame) -> None:
    # Real pages, some with a "\r" inside a line, from a sliced column (bytes before row 0).
    crlf = pages.head(30).with_columns(pl.col("text").str.replace_all("\n", "\r\n x\ry "))
    base = pl.concat([crlf, pages]).slice(5, 200).with_columns(
        pl.int_range(200, dtype=pl.UInt32).alias("_row"))
    lines, spans = explode_lines_with_bytes(base)
    assert spans.end.max() > kernels.utf8_buffer(base["text"])[0].size  # lines were copied
    args = (lines["_row"].to_numpy(), base.height, sorted(load_words("stopwords")),
            list(GOPHER_STOP_WORDS), NGRAM_WORD_CAP, line_automaton())
    from_bytes = kernels.line_stats(spans, *args)
    from_column = kernels.line_stats(lines["line"], *args)
    for got, expected in zip(from_bytes, from_column, strict=True):
        assert got.equals(expected)


@pytest.mark.parametrize("size", [2**15 - 1, 2**15, 2**16 + 3, 200_003])
def test_char_counts_of_long_pages_match_regex_counts(size: int) -> None:
    """The four class counts share one word of 16-bit fields, emptied before any reaches
    2**15 (the top field's sign bit): a line of only numbers or only white space between two
    letters fills one field as fast as it can. The counts of 1de8fb3 came out negative here."""
    unit = "Aa1 Ⅻ\u00e9\u0416\t٣x"
    text = pl.Series("text", [(unit * (size // len(unit) + 1))[:size], "B2 c", "",
                              "1" * size, "a" + " " * size + "a", "\u0663" * size])
    counts = _char_counts(text)
    assert np.array_equal(counts, _regex_char_counts(text))
    assert size < 2**17 or counts[0, 1] > 2**16  # letters beyond one 16-bit field


def test_text_counts_refuses_line_classes_of_other_pages() -> None:
    text = pl.Series("text", ["one page", "two"])
    with pytest.raises(ValueError, match="one row of LINE_CLASS_COLUMNS per page"):
        kernels.text_counts(text, line_classes=np.zeros((1, len(kernels.LINE_CLASS_COLUMNS)),
                                                        dtype=np.int64))


def test_utf8_buffer_reads_an_arrow_column_in_place_and_others_alike() -> None:
    """A pyarrow large_string array without nulls (the JSONL scan's text) is read where it
    is; polars columns, lists and arrays with nulls give the same bytes and offsets, nulls as
    empty strings."""
    import pyarrow as pa

    values = ["a", "", "héllo wörld\n", "日本語", "x" * 300]
    whole = pa.array(values, type=pa.large_string())
    sliced = whole.slice(1, 3)  # an offset into the same buffers
    for arrow, expected in ((whole, values), (sliced, values[1:4])):
        data_buf, offsets = kernels.utf8_buffer(arrow)
        assert data_buf.address == arrow.buffers()[2].address  # no copy
        data = bytes(data_buf)
        assert [data[a:b].decode() for a, b in zip(offsets, offsets[1:], strict=False)] == expected
    with_null = [*values[:2], None, *values[2:]]
    for column in (pl.Series(with_null, dtype=pl.String), with_null,
                   pa.array(with_null, type=pa.large_string()), pa.array(with_null)):
        data_buf, offsets = kernels.utf8_buffer(column)
        data = bytes(data_buf)
        got = [data[a:b].decode() for a, b in zip(offsets, offsets[1:], strict=False)]
        assert got == [v or "" for v in with_null]


def test_scan_lines_refuses_buffers_of_a_frame_out_of_row_order(pages: pl.DataFrame) -> None:
    from features.compute import scan_lines

    base = pages.head(20).with_columns(pl.lit("").alias("title"))
    shuffled = base.reverse()
    with pytest.raises(ValueError, match="_row order"):
        scan_lines(shuffled, kernels.utf8_buffer(shuffled["text"]))
    in_order, _, _ = scan_lines(base, kernels.utf8_buffer(base["text"]))
    assert in_order.equals(scan_lines(shuffled)[0])  # without buffers it sorts

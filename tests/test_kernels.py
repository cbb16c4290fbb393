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
from features.lines import LINE_PHRASE_LISTS, explode_lines, line_automaton
from features.phrases import load_phrases, load_words
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


def test_shipped_unicode_table_matches_installed_polars() -> None:
    shipped_classes, shipped_lower = load_table()
    classes, lower = build_table()
    assert np.array_equal(shipped_classes, classes), "rerun features.unicode_table.write_table()"
    assert np.array_equal(shipped_lower, lower), "rerun features.unicode_table.write_table()"


def test_char_counts_match_regex_counts(pages: pl.DataFrame) -> None:
    counts = kernels.char_counts(pages["text"])
    text = pl.col("text")
    expected = pages.select(
        text.str.len_chars().alias("chars"),
        *(text.str.count_matches(p).alias(p) for p in (r"\p{L}", r"\p{Lu}", r"\p{Nd}",
                                                      r"[\p{N}\s]")),
    ).to_numpy()
    assert np.array_equal(counts, expected)


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

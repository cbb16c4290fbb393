"""Gopher repetition features (Rae et al. 2021, Table A1), pinned definitions.

- Paragraphs: blocks split on blank lines, stripped; empty ones dropped. A paragraph is a
  duplicate when the same paragraph occurred earlier on the page.
- Words: ``features.tokens.WORD_PATTERN``; n-grams compare lower-cased words.
- Top n-gram (n = 2, 3, 4): characters of all occurrences of the most frequent n-gram (ties: the
  longer one) / characters of all words, capped at 1 (overlapping occurrences of a periodic
  n-gram can count a character twice). 0 when no n-gram occurs twice.
- Duplicate n-gram (n = 5..10): characters of the words covered by any n-gram that occurs more
  than once (every occurrence, overlapping words counted once) / characters of all words. This is
  the RedPajama-V2 reading of Gopher's definition (datatrove counts only non-first occurrences).
- N-gram features read a page's first ``NGRAM_WORD_CAP`` words (100,000: about 600 KB of
  English). This bounds the time of a pathological page; no page of the corpus comes near it.

Paragraphs are polars expressions here; words and n-grams are counted by
``features.kernels.line_stats`` (an n-gram can only repeat where its (n-1)-word prefix repeats,
so each n is tested only at the starts where n-1 repeated).
"""

from __future__ import annotations

import polars as pl

from features.tokens import PARAGRAPH_BREAK, PARAGRAPH_SEP, row_key

TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
NGRAM_WORD_CAP = 100_000
_MUL = 0x100000001B3  # FNV prime: spreads the previous hash before adding the next word's
_ROW_MIX = 0x9E3779B97F4A7C15  # same constant as tokens.row_key: keys unique per page


def paragraph_features(base: pl.DataFrame) -> pl.DataFrame:
    paras = (
        base.select(
            "_row",
            pl.col("text")
            .str.replace_all(PARAGRAPH_BREAK, PARAGRAPH_SEP)
            .str.split(PARAGRAPH_SEP)
            .alias("para"),
        )
        .explode("para")
        .with_columns(pl.col("para").str.strip_chars())
        .filter(pl.col("para") != "")
    )
    paras = paras.with_columns(
        pl.col("para").str.len_chars().alias("nchars"),
        (~row_key(pl.col("para").hash(11), pl.col("_row")).is_first_distinct()).alias("dup"),
    )
    return paras.group_by("_row").agg(
        (pl.col("dup").sum() / pl.len()).alias("dup_para_frac"),
        (pl.col("nchars").filter(pl.col("dup")).sum() / pl.col("nchars").sum()).alias(
            "dup_para_char_frac"
        ),
    )

"""Word-level statistics (Gopher quality filter and RedPajama-V2 natural-language signals)."""

from __future__ import annotations

import polars as pl

from features.phrases import load_words
from features.tokens import row_key

GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


def explode_words(lines: pl.DataFrame) -> pl.DataFrame:
    """One row per word, in page order, from the marked lines (which carry ``words``)."""
    words = lines.select("_row", pl.col("words").alias("word")).explode("word").drop_nulls("word")
    counts = words.group_by("_row").agg(pl.len().alias("nwords_page"))
    words = words.join(counts, on="_row", how="left", maintain_order="left")
    low = pl.col("word").str.to_lowercase()
    return words.with_columns(
        low.alias("lower"),
        pl.col("word").str.len_chars().cast(pl.Int64).alias("wlen"),
        low.hash(3).alias("wh"),
        pl.int_range(pl.len(), dtype=pl.Int64).over("_row").alias("pos"),
    )


def word_features(words: pl.DataFrame) -> pl.DataFrame:
    stop = sorted(load_words("stopwords"))
    n = pl.len()
    return words.group_by("_row").agg(
        n.alias("_nwords"),
        pl.col("wlen").mean().alias("mean_word_length"),
        (pl.col("word").str.contains(r"\p{L}").sum() / n).alias("alpha_word_frac"),
        (pl.col("lower").is_in(stop).sum() / n).alias("stop_word_frac"),
        pl.col("lower")
        .filter(pl.col("lower").is_in(GOPHER_STOP_WORDS))
        .n_unique()
        .cast(pl.Float64)
        .alias("gopher_stop_words"),
        (row_key(pl.col("wh"), pl.col("_row")).n_unique() / n).alias("unique_word_frac"),
        (
            (pl.col("word").str.count_matches("#", literal=True).sum()
             + pl.col("word").str.count_matches(r"\.\.\.|…").sum())
            / n
        ).alias("symbol_word_ratio"),
    )


"""Word-level statistics (Gopher quality filter and RedPajama-V2 natural-language signals), from
the per-page word counts of ``features.kernels.line_stats``."""

from __future__ import annotations

import polars as pl

GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


def word_features(page_words: pl.DataFrame) -> pl.DataFrame:
    """``page_words`` has ``_row`` and ``features.kernels.PAGE_WORD_COLUMNS``; a page without
    words gets nulls (filled with 0 by ``compute``)."""
    n = pl.col("_nwords")
    per_word = pl.when(n > 0)
    return page_words.select(
        "_row",
        "_nwords",
        per_word.then(pl.col("_word_chars") / n).alias("mean_word_length"),
        per_word.then(pl.col("_alpha_words") / n).alias("alpha_word_frac"),
        per_word.then(pl.col("_stop_words") / n).alias("stop_word_frac"),
        pl.col("_gopher_words").cast(pl.Float64).alias("gopher_stop_words"),
        per_word.then(pl.col("_unique_words") / n).alias("unique_word_frac"),
        per_word.then(pl.col("_symbols") / n).alias("symbol_word_ratio"),
        pl.col("^(top|dup)_.*gram_char_frac$"),
    )

"""Pages -> one row of declared features per page, in input order."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from features.chars import char_features
from features.extract import HTML_FEATURE_DEFAULTS
from features.kernels import (
    LINE_CLASS_COLUMNS,
    line_stats,
    newline_positions,
    text_counts,
    utf8_buffer,
)
from features.lines import (
    explode_lines_with_bytes,
    line_automaton,
    line_features,
    mark_lines,
)
from features.phrases import load_words
from features.repetition import NGRAM_WORD_CAP, paragraph_features
from features.schema import FEATURE_NAMES
from features.words import GOPHER_STOP_WORDS, word_features


def compute_features(pages: pl.DataFrame) -> pl.DataFrame:
    """Return one row per input row with exactly ``FEATURE_NAMES`` as Float64 columns.

    ``pages`` needs ``text`` (str; null means empty) and may have ``title`` and the HTML
    columns of ``features.extract.HTML_FEATURE_DEFAULTS``. Every value is finite and inside its declared range.
    """
    return marked_features(pages)[0]


def scan_lines(base: pl.DataFrame, text_bytes: tuple[Any, np.ndarray] | None = None,
               newlines: np.ndarray | None = None
               ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Marked non-blank lines, title phrase hits and per-page word statistics of ``base``
    (``_row``, ``text``, ``title``): the one way lines are marked, for features and for the
    report's page view alike. ``text_bytes``: the ``utf8_buffer`` of ``base``'s text, if
    taken already (then ``base`` must be in ``_row`` order already: it is checked, not
    sorted), and ``newlines`` their ``features.kernels.newline_positions``, if found already
    (ignored without ``text_bytes``)."""
    if text_bytes is None:
        base = base.sort("_row")
    elif not base.get_column("_row").is_sorted():
        # The buffers hold the text in the frame's order: lines would go to the wrong pages.
        raise ValueError("scan_lines: text_bytes given for a frame not in _row order")
    n = int(base.get_column("_row").max()) + 1 if base.height else 0
    lines, line_bytes = explode_lines_with_bytes(base, text_bytes, newlines)
    per_line, per_page = line_stats(
        line_bytes, lines.get_column("_row").to_numpy(), n,
        sorted(load_words("stopwords")), list(GOPHER_STOP_WORDS), NGRAM_WORD_CAP,
        line_automaton())
    lines, head_hits = mark_lines(lines.hstack(per_line), base.select("_row", "title"))
    per_page = per_page.with_columns(pl.int_range(n, dtype=pl.UInt32).alias("_row"))
    return lines, head_hits, per_page


def scan_text(base: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame,
                                           np.ndarray]:
    """``scan_lines`` of ``base`` (``_row``, ``text``, ``title``, in ``_row`` order) and the
    ``features.kernels.text_counts`` of its text, which reads the character classes the line
    scan counted."""
    # One Arrow copy of the text and one search for its newlines for both kernels that read
    # them (a copy costs about 2-7 ms per 4,000 pages, the search about 7 ms).
    text = base.get_column("text")
    text_bytes = utf8_buffer(text)
    newlines = newline_positions(text_bytes)
    lines, head_hits, per_page = scan_lines(base, text_bytes, newlines)
    counts = text_counts(text, text_bytes, per_page.select(LINE_CLASS_COLUMNS).to_numpy(),
                         newlines)
    return lines, head_hits, per_page, counts


def marked_features(pages: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Features plus the marked non-blank lines (used to explain and highlight)."""
    n = pages.height
    base = pages.select(
        pl.int_range(n, dtype=pl.UInt32).alias("_row"),
        pl.col("text").cast(pl.String).fill_null(""),
        (pl.col("title").cast(pl.String) if "title" in pages.columns else pl.lit(None, pl.String))
        .fill_null("")
        .alias("title"),
    )
    lines, head_hits, per_page, counts = scan_text(base)
    parts = [
        line_features(lines, head_hits),
        paragraph_features(base, counts),
        word_features(per_page),
        char_features(base, counts),
    ]
    # Every part has one row per page, in ``_row`` order (nulls where a page has no lines,
    # paragraphs or words): side by side, not joined.
    out = pl.concat([base.select("_row"), *(part.drop("_row") for part in parts)],
                    how="horizontal")
    out = out.with_columns(
        (pages.get_column(c).cast(pl.Float64).fill_null(v) if c in pages.columns
         else pl.lit(v, pl.Float64)).alias(c)
        for c, v in HTML_FEATURE_DEFAULTS.items()
    )
    nwords = pl.col("_nwords").fill_null(0)
    out = out.with_columns(
        (nwords.cast(pl.Float64) + 1).log10().alias("log_word_count"),
        (pl.col("_nonblank_lines").fill_null(0) / pl.max_horizontal(nwords, 1)).alias(
            "newline_word_ratio"
        ),
    )
    feats = out.select(
        pl.col(name).cast(pl.Float64).fill_nan(0.0).fill_null(0.0).alias(name)
        for name in FEATURE_NAMES
    )
    return feats, lines


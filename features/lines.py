"""Line-level features: duplication of lines, error/wall/boilerplate text, promo blocks, and
the Gopher/C4/FineWeb line statistics. One exploded frame of lines, one group_by.

The per-line work is native (``features.kernels``): the counts, the literal phrases and the
duplicate lines in one pass (``line_stats``), headlines and promotional runs in another
(``line_flags``).
Polars runs the phrase lists' regular expressions (only on the
lines that pass each one's ``features.phrases.line_filter``, which the first pass tests) and
aggregates."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import polars as pl

from features.kernels import LineBytes, cut_lines, line_flags, phrase_automaton
from features.phrases import line_filter, load_phrases

HEAD_LINES = 5
PROMO_MIN_RUN = 3
PROMO_TAIL_SLACK = 3
PROMO_MIN_WORDS, PROMO_MAX_WORDS = 4, 25
SHORT_LINE_CHARS = 30
PROSE_MIN_WORDS = 10
# Phrase lists matched against every line; bit g of the kernel's ``phrase_bits`` is list g.
LINE_PHRASE_LISTS = ("error", "wall", "boilerplate")


@cache
def line_patterns() -> tuple[tuple[int, str], ...]:
    """``(list, pattern)`` for each regular expression of ``LINE_PHRASE_LISTS``, in the order
    of the line filters of ``line_automaton``."""
    return tuple((g, p) for g, name in enumerate(LINE_PHRASE_LISTS)
                 for p in load_phrases(name).patterns)


@cache
def line_automaton() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Aho-Corasick automaton of the literal phrases of ``LINE_PHRASE_LISTS``, with the
    ``line_filter`` of each of ``line_patterns``."""
    return phrase_automaton(tuple(load_phrases(name).literals for name in LINE_PHRASE_LISTS),
                            tuple(line_filter(p) for _, p in line_patterns()))


def split_lines(base: pl.DataFrame) -> pl.DataFrame:
    """Every line of every page, blank ones included, in order: ``_row``, ``raw`` (as written,
    CR removed) and ``line`` (stripped). The one place that says what a line is."""
    return (
        base.select(
            "_row",
            pl.col("text").str.replace_all("\r", "", literal=True).str.split("\n").alias("raw"),
        )
        .explode("raw")
        .with_columns(pl.col("raw").str.strip_chars().alias("line"))
    )


def explode_lines(base: pl.DataFrame, text_bytes: tuple[Any, np.ndarray] | None = None
                  ) -> pl.DataFrame:
    """One row per non-blank line: ``_row``, ``line`` (stripped), ``nb_idx`` (index among the
    page's non-blank lines), ``para`` (paragraph number: the blank lines before it, counted
    over all pages of ``base``, so it tells a page's paragraphs apart but does not start at 0
    on each page). The non-blank lines of ``split_lines``, cut natively
    (``features.kernels.cut_lines``, checked against it by ``tests/test_kernels.py``).
    ``text_bytes``: the ``utf8_buffer`` of ``base``'s text, if taken already."""
    return explode_lines_with_bytes(base, text_bytes)[0]


def explode_lines_with_bytes(base: pl.DataFrame,
                             text_bytes: tuple[Any, np.ndarray] | None = None,
                             newlines: np.ndarray | None = None
                             ) -> tuple[pl.DataFrame, LineBytes]:
    """``explode_lines`` and where its lines' bytes are, for ``features.kernels.line_stats``
    (``text_bytes`` and ``newlines``: as ``features.kernels.cut_lines`` takes them)."""
    return cut_lines(base.get_column("text"), base.get_column("_row").to_numpy(), text_bytes,
                     newlines)


def mark_lines(lines: pl.DataFrame, titles: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Add per-line booleans used by features and, later, by explanations; and the title hits.

    ``lines`` (a page's lines consecutive) carries the per-line columns of
    ``features.kernels.line_stats`` run with ``line_automaton``: ``phrase_bits`` say which
    lists' literal phrases the line holds, ``_filter_bits`` which patterns it may match."""
    phrase_bits = lines.get_column("phrase_bits").to_numpy()
    filter_bits = lines.get_column("_filter_bits").to_numpy()
    hits = [(phrase_bits & (1 << g)) != 0 for g in range(len(LINE_PHRASE_LISTS))]
    for f, (g, pattern) in enumerate(line_patterns()):
        # Lines a literal or an earlier pattern of the list already marks need no regex.
        rows = np.flatnonzero(((filter_bits >> f) & 1).astype(bool) & ~hits[g])
        if rows.size:
            low = lines.get_column("line").gather(rows).str.to_lowercase()
            hits[g][rows[low.str.contains(pattern).to_numpy()]] = True
    is_error, is_wall, is_boiler = hits
    per_line = {c: lines.get_column(c).to_numpy()
                for c in ("nwords", "ends_terminal", "starts_lower", "ends_colon")}
    headline, is_promo = line_flags(
        lines.get_column("_row").to_numpy(), per_line, is_boiler,
        (PROMO_MIN_WORDS, PROMO_MAX_WORDS), PROMO_MIN_RUN, PROMO_TAIL_SLACK)
    is_dup = lines.get_column("_is_dup")
    lines = lines.drop("starts_lower", "ends_colon", "phrase_bits", "_filter_bits",
                       "_is_dup").with_columns(
        *(pl.col(c).cast(pl.Boolean) for c in ("ends_terminal", "ends_ellipsis",
                                                "starts_bullet")),
        pl.Series("is_error", is_error),
        pl.Series("is_wall", is_wall),
        pl.Series("is_boiler", is_boiler),
        is_dup.alias("is_dup"),
        pl.Series("headline", headline),
        pl.Series("is_promo", is_promo),
    )
    error, wall = load_phrases("error"), load_phrases("wall")
    title_low = pl.col("title").str.to_lowercase()
    head_hits = titles.select(
        "_row",
        error.matches(title_low).alias("title_error"),
        wall.matches(title_low).alias("title_wall"),
    )
    return lines, head_hits


def line_features(lines: pl.DataFrame, head_hits: pl.DataFrame) -> pl.DataFrame:
    """Aggregate marked lines to one row per page of ``head_hits``, in its order (nulls for a
    page without lines): per-page sums of the line columns by ``np.bincount`` (exact: counts
    far below 2**53), divided as polars divides them."""
    pages = head_hits.get_column("_row").to_numpy()
    row = lines.get_column("_row").to_numpy()
    size = max(int(pages.max(initial=0)), int(row.max(initial=0))) + 1

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(row[mask], minlength=size)[pages]

    def chars_where(mask: np.ndarray) -> np.ndarray:
        return np.bincount(row[mask], weights=nchars[mask], minlength=size)[pages]

    col = {c: lines.get_column(c).to_numpy() for c in (
        "nchars", "nwords", "nb_idx", "is_dup", "is_error", "is_wall", "is_promo", "is_boiler",
        "starts_bullet", "ends_ellipsis", "ends_terminal")}
    nchars = col["nchars"]
    n = np.bincount(row, minlength=size)[pages]
    chars = np.bincount(row, weights=nchars, minlength=size)[pages]
    in_head = col["nb_idx"] < HEAD_LINES
    prose = col["ends_terminal"] & (col["nwords"] >= PROSE_MIN_WORDS)
    with np.errstate(invalid="ignore"):  # 0 / 0 for a page without lines: null below
        per_line = {
            "dup_line_frac": count(col["is_dup"]) / n,
            "dup_line_char_frac": chars_where(col["is_dup"]) / chars,
            "error_line_share": count(col["is_error"]) / n,
            "wall_line_share": count(col["is_wall"]) / n,
            "promo_line_share": count(col["is_promo"]) / n,
            "boilerplate_line_share": count(col["is_boiler"]) / n,
            "boilerplate_char_share": chars_where(col["is_boiler"]) / chars,
            "bullet_line_frac": count(col["starts_bullet"]) / n,
            "ellipsis_line_frac": count(col["ends_ellipsis"]) / n,
            "terminal_punct_line_frac": count(col["ends_terminal"]) / n,
            "short_line_frac": count(nchars <= SHORT_LINE_CHARS) / n,
            "prose_char_share": chars_where(prose) / chars,
        }
    error_head = count(col["is_error"] & in_head) > 0
    wall_head = count(col["is_wall"] & in_head) > 0
    return pl.DataFrame({
        "_row": head_hits.get_column("_row"),
        **{name: pl.Series(name, values, nan_to_null=True) for name, values in per_line.items()},
        "_nonblank_lines": pl.Series("_nonblank_lines", n, dtype=pl.UInt32).set(
            pl.Series(n == 0), None),
        "error_in_head": pl.Series(error_head | head_hits.get_column("title_error").to_numpy())
        .cast(pl.Float64),
        "wall_in_head": pl.Series(wall_head | head_hits.get_column("title_wall").to_numpy())
        .cast(pl.Float64),
    })

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

import numpy as np
import polars as pl

from features.kernels import line_flags, nonblank_lines, phrase_automaton
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


def explode_lines(base: pl.DataFrame) -> pl.DataFrame:
    """One row per non-blank line: ``_row``, ``line`` (stripped), ``nb_idx`` (index among the
    page's non-blank lines), ``para`` (paragraph number: the blank lines before it, counted
    over all pages of ``base``, so it tells a page's paragraphs apart but does not start at 0
    on each page). The non-blank lines of ``split_lines``, cut natively
    (``features.kernels.nonblank_lines``, checked against it by ``tests/test_kernels.py``)."""
    return nonblank_lines(base.get_column("text"), base.get_column("_row").to_numpy())


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
    """Aggregate marked lines to one row per page (pages without lines are filled later)."""
    n = pl.len()
    chars = pl.col("nchars").sum()
    in_head = pl.col("nb_idx") < HEAD_LINES
    agg = lines.group_by("_row").agg(
        (pl.col("is_dup").sum() / n).alias("dup_line_frac"),
        (pl.col("nchars").filter(pl.col("is_dup")).sum() / chars).alias("dup_line_char_frac"),
        (pl.col("is_error").sum() / n).alias("error_line_share"),
        (pl.col("is_error") & in_head).any().alias("_error_head"),
        (pl.col("is_wall").sum() / n).alias("wall_line_share"),
        (pl.col("is_wall") & in_head).any().alias("_wall_head"),
        (pl.col("is_promo").sum() / n).alias("promo_line_share"),
        (pl.col("is_boiler").sum() / n).alias("boilerplate_line_share"),
        (pl.col("nchars").filter(pl.col("is_boiler")).sum() / chars).alias(
            "boilerplate_char_share"
        ),
        (pl.col("starts_bullet").sum() / n).alias("bullet_line_frac"),
        (pl.col("ends_ellipsis").sum() / n).alias("ellipsis_line_frac"),
        (pl.col("ends_terminal").sum() / n).alias("terminal_punct_line_frac"),
        ((pl.col("nchars") <= SHORT_LINE_CHARS).sum() / n).alias("short_line_frac"),
        (pl.col("nchars").filter(pl.col("ends_terminal") & (pl.col("nwords") >= PROSE_MIN_WORDS))
         .sum() / chars).alias("prose_char_share"),
        n.alias("_nonblank_lines"),
    )
    agg = head_hits.join(agg, on="_row", how="left")
    return agg.with_columns(
        (pl.col("_error_head").fill_null(False) | pl.col("title_error"))
        .cast(pl.Float64)
        .alias("error_in_head"),
        (pl.col("_wall_head").fill_null(False) | pl.col("title_wall"))
        .cast(pl.Float64)
        .alias("wall_in_head"),
    ).drop("_error_head", "_wall_head", "title_error", "title_wall")

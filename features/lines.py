"""Line-level features: duplication of lines, error/wall/boilerplate text, promo blocks, and
the Gopher/C4/FineWeb line statistics. One exploded frame of lines, one group_by."""

from __future__ import annotations

from functools import cache

import numpy as np
import polars as pl

from features.kernels import phrase_automaton
from features.phrases import load_phrases
from features.tokens import row_key

HEAD_LINES = 5
PROMO_MIN_RUN = 3
PROMO_TAIL_SLACK = 3
PROMO_MIN_WORDS, PROMO_MAX_WORDS = 4, 25
SHORT_LINE_CHARS = 30
PROSE_MIN_WORDS = 10
# Phrase lists matched against every line; bit g of the kernel's ``phrase_bits`` is list g.
LINE_PHRASE_LISTS = ("error", "wall", "boilerplate")


@cache
def line_automaton() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Aho-Corasick automaton of the literal phrases of ``LINE_PHRASE_LISTS``."""
    return phrase_automaton(tuple(load_phrases(name).literals for name in LINE_PHRASE_LISTS))


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
    page's non-blank lines), ``para`` (paragraph number within the page)."""
    lines = split_lines(base).drop("raw")
    blank = pl.col("line") == ""
    lines = lines.with_columns(blank.cum_sum().alias("para")).filter(~blank)
    return lines.with_columns(
        (pl.int_range(pl.len(), dtype=pl.UInt32).over("_row")).alias("nb_idx"),
    )


def mark_lines(lines: pl.DataFrame, titles: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Add per-line booleans used by features and, later, by explanations; and the title hits.

    ``lines`` carries the kernel's per-line counts (``features.kernels.LINE_COLUMNS``), whose
    ``phrase_bits`` say which lists' literal phrases the line holds."""
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
    # A headline starts like a title: not with a lower-case letter (that is a wrapped line).
    headline = (
        pl.col("nwords").is_between(PROMO_MIN_WORDS, PROMO_MAX_WORDS)
        & ~pl.col("ends_terminal")
        & (pl.col("starts_lower") == 0)
        & ~pl.col("is_boiler")
        & (pl.col("ends_colon") == 0)
    )
    # Runs of consecutive headline-like lines; 3 or more make a promotional link block.
    run_start = (headline != headline.shift(1)) | (pl.col("_row") != pl.col("_row").shift(1))
    lines = lines.with_columns(headline.alias("headline"), run_start.fill_null(True).cum_sum()
                               .alias("_run"))
    # A promotional block is such a run that ends the page (up to PROMO_TAIL_SLACK trailing
    # lines, e.g. "Comments"); runs of sub-headings inside an article do not count.
    last_line = pl.col("nb_idx").max().over("_row")
    lines = lines.with_columns(
        (
            pl.col("headline")
            & (pl.len().over("_run") >= PROMO_MIN_RUN)
            & (pl.col("nb_idx").max().over("_run") >= last_line - PROMO_TAIL_SLACK)
        ).alias("is_promo")
    ).drop("_run", "starts_lower", "ends_colon", "phrase_bits")
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

"""Rules-only baseline: the published Gopher, C4 and FineWeb thresholds on pagescore's features.

A page "passes" (would be published) when no rule fires. This is what a heuristic stack such as
datatrove's would decide, expressed on the same feature columns, so it can be evaluated on the
same folds as the classifier.
"""

from __future__ import annotations

import polars as pl

GOPHER_TOP = {2: 0.20, 3: 0.18, 4: 0.16}
GOPHER_DUP = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}


def rule_failures(feats: pl.DataFrame) -> pl.DataFrame:
    """One boolean column per rule: True when the rule rejects the page."""
    words = (10 ** pl.col("log_word_count")) - 1
    rules = {
        "gopher_dup_lines": pl.col("dup_line_frac") > 0.30,
        "gopher_dup_paras": pl.col("dup_para_frac") > 0.30,
        "gopher_dup_line_chars": pl.col("dup_line_char_frac") > 0.20,
        "gopher_dup_para_chars": pl.col("dup_para_char_frac") > 0.20,
        **{f"gopher_top_{n}gram": pl.col(f"top_{n}gram_char_frac") > t
           for n, t in GOPHER_TOP.items()},
        **{f"gopher_dup_{n}gram": pl.col(f"dup_{n}gram_char_frac") > t
           for n, t in GOPHER_DUP.items()},
        "gopher_word_count": (words < 50) | (words > 100_000),
        "gopher_mean_word_length": (pl.col("mean_word_length") < 3)
        | (pl.col("mean_word_length") > 10),
        "gopher_symbol_ratio": pl.col("symbol_word_ratio") > 0.1,
        "gopher_bullets": pl.col("bullet_line_frac") > 0.9,
        "gopher_ellipsis": pl.col("ellipsis_line_frac") > 0.3,
        "gopher_alpha_words": pl.col("alpha_word_frac") < 0.8,
        "c4_lorem_or_braces": pl.col("has_lorem_or_braces") > 0,
        "fineweb_line_punct": pl.col("terminal_punct_line_frac") < 0.12,
        "fineweb_short_lines": pl.col("short_line_frac") > 0.67,
        "fineweb_char_dup": pl.col("dup_line_char_frac") > 0.01,
        "fineweb_list_ratio": pl.col("newline_word_ratio") > 0.3,
    }
    return feats.select(expr.alias(name) for name, expr in rules.items())


def rules_pass(feats: pl.DataFrame) -> pl.Series:
    """True where the rules baseline would publish the page."""
    fails = rule_failures(feats)
    return fails.select((~pl.any_horizontal(pl.all())).alias("rules_pass")).to_series()

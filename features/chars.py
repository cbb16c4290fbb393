"""Character-level statistics over the whole text (one regex pass each)."""

from __future__ import annotations

import polars as pl

# U+FFFD and the commonest UTF-8-read-as-Latin-1/cp1252 sequences (Ã©, â€™, Ð¾, ...).
MOJIBAKE = r"\x{FFFD}|Ã[\x{80}-\x{BF}\x{A0}-\x{FF}]|â€|Ð[\x{80}-\x{BF}]|Ñ[\x{80}-\x{8F}]"
URL = r"https?://\S+"


def char_features(base: pl.DataFrame) -> pl.DataFrame:
    text = pl.col("text")
    nchars = text.str.len_chars()
    letters = text.str.count_matches(r"\p{L}")
    denom = pl.max_horizontal(nchars, pl.lit(1))
    return base.select(
        "_row",
        (text.str.count_matches(r"\p{Lu}") / pl.max_horizontal(letters, pl.lit(1))).alias(
            "uppercase_char_frac"
        ),
        (text.str.count_matches(r"\p{Nd}") / denom).alias("digit_char_frac"),
        (
            (nchars - letters - text.str.count_matches(r"[\p{N}\s]"))
            / denom
        ).alias("non_alnum_char_frac"),
        ((nchars - text.str.replace_all(URL, "").str.len_chars()) / denom).alias("url_char_frac"),
        (
            text.str.contains("{", literal=True)
            | text.str.contains_any(["lorem ipsum"], ascii_case_insensitive=True)
        )
        .cast(pl.Float64)
        .alias("has_lorem_or_braces"),
        (text.str.count_matches(MOJIBAKE) / denom).alias("replacement_char_frac"),
        nchars.alias("_nchars"),
    )

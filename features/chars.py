"""Character-level statistics over the whole text: class counts from one native pass
(``features.kernels.text_counts``), the rest one polars expression each."""

from __future__ import annotations

import numpy as np
import polars as pl

from features.kernels import CHAR_COLUMNS

# U+FFFD and the commonest UTF-8-read-as-Latin-1/cp1252 sequences (Ã©, â€™, Ð¾, ...).
MOJIBAKE = r"\x{FFFD}|Ã[\x{80}-\x{BF}\x{A0}-\x{FF}]|â€|Ð[\x{80}-\x{BF}]|Ñ[\x{80}-\x{8F}]"
URL = r"https?://\S+"
# "lorem ipsum" in any ASCII case, as a regex: its literal prefixes let polars' regex engine
# skip through the text (0.8 ms per 5 MB) where an ASCII-case-insensitive ``contains_any``
# scanned every byte (2.3 ms). Same matches: each class is a letter's two ASCII cases.
LOREM_IPSUM = "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in "lorem ipsum")


def char_features(base: pl.DataFrame, counts: np.ndarray) -> pl.DataFrame:
    """``counts``: ``features.kernels.text_counts`` of ``base``'s text."""
    text = pl.col("text")
    nchars, letters = pl.col("_nchars"), pl.col("_letters")
    denom = pl.max_horizontal(nchars, pl.lit(1))
    return base.with_columns(
        pl.Series(name, counts[:, k]) for k, name in enumerate(CHAR_COLUMNS)
    ).select(
        "_row",
        (pl.col("_upper") / pl.max_horizontal(letters, pl.lit(1))).alias("uppercase_char_frac"),
        (pl.col("_digits") / denom).alias("digit_char_frac"),
        ((nchars - letters - pl.col("_number_or_space")) / denom).alias("non_alnum_char_frac"),
        # The characters of the URL matches, summed (not the text with them replaced by
        # nothing, which copied every page: 1.7 against 3.0 ms per 5 MB).
        (text.str.extract_all(URL).list.eval(pl.element().str.len_chars()).list.sum()
         / denom).alias("url_char_frac"),
        (text.str.contains("{", literal=True) | text.str.contains(LOREM_IPSUM))
        .cast(pl.Float64)
        .alias("has_lorem_or_braces"),
        (text.str.count_matches(MOJIBAKE) / denom).alias("replacement_char_frac"),
        nchars,
    )

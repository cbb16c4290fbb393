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
"""

from __future__ import annotations

import polars as pl

from features.tokens import PARAGRAPH_BREAK, PARAGRAPH_SEP, row_key

TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
NGRAM_WORD_CAP = 100_000
_MUL = 0x100000001B3  # FNV prime: spreads the previous hash before adding the next word's


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


def ngram_features(words: pl.DataFrame) -> pl.DataFrame:
    """``words`` has one row per word in page order: ``_row``, ``wlen`` (characters), ``wh``
    (hash of the lower-cased word), ``pos`` (index in page), ``nwords_page``."""
    h = pl.col("wh")
    frame = words.filter(pl.col("pos") < NGRAM_WORD_CAP).select(
        "_row", "wlen", "pos", pl.col("nwords_page").clip(upper_bound=NGRAM_WORD_CAP), "wh")
    # Characters of the n-gram starting here: a difference of a running sum of word lengths.
    cum = pl.col("wlen").cum_sum()
    exprs: list[pl.Expr] = []
    hashes: dict[int, pl.Expr] = {1: h}
    for n in range(2, max(DUP_NGRAMS) + 1):
        hashes[n] = hashes[n - 1] * pl.lit(_MUL, dtype=pl.UInt64) + h.shift(-(n - 1))
    for n in (*TOP_NGRAMS, *DUP_NGRAMS):
        valid = pl.col("pos") + n <= pl.col("nwords_page")
        exprs.append(
            pl.when(valid).then(row_key(hashes[n], pl.col("_row"))).otherwise(None).alias(f"k{n}")
        )
        if n in TOP_NGRAMS:
            exprs.append((cum.shift(-(n - 1)) - cum + pl.col("wlen")).alias(f"c{n}"))
    frame = frame.with_columns(exprs)

    out = frame.select("_row").unique(maintain_order=True)
    for n in TOP_NGRAMS:
        key = pl.col(f"k{n}")
        top = (
            frame.filter(key.is_not_null() & key.is_duplicated())
            .group_by(f"k{n}")
            .agg(pl.col("_row").first(), pl.len().alias("cnt"), pl.col(f"c{n}").first())
            .sort("_row", "cnt", f"c{n}")
            .group_by("_row")
            .agg((pl.col("cnt") * pl.col(f"c{n}")).last().alias(f"_top{n}"))
        )
        out = out.join(top, on="_row", how="left")

    covered = []
    for n in DUP_NGRAMS:
        key = pl.col(f"k{n}")
        dup = (key.is_not_null() & key.is_duplicated()).cast(pl.UInt8)
        covered.append(dup.rolling_max(window_size=n, min_samples=1).alias(f"cov{n}"))
    frame = frame.with_columns(covered)
    total = pl.col("wlen").sum()
    dup_aggs = [
        ((pl.col("wlen") * pl.col(f"cov{n}")).sum() / total).alias(f"dup_{n}gram_char_frac")
        for n in DUP_NGRAMS
    ]
    agg = frame.group_by("_row").agg(total.alias("_wchars"), *dup_aggs)
    out = out.join(agg, on="_row", how="left")
    return out.with_columns(
        (pl.col(f"_top{n}").fill_null(0) / pl.col("_wchars"))
        .clip(0.0, 1.0)
        .alias(f"top_{n}gram_char_frac")
        for n in TOP_NGRAMS
    ).drop([f"_top{n}" for n in TOP_NGRAMS] + ["_wchars"])

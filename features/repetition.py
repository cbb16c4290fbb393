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

import numpy as np
import polars as pl

from features.tokens import PARAGRAPH_BREAK, PARAGRAPH_SEP, row_key

TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
NGRAM_WORD_CAP = 100_000
_MUL = 0x100000001B3  # FNV prime: spreads the previous hash before adding the next word's
_ROW_MIX = 0x9E3779B97F4A7C15  # same constant as tokens.row_key: keys unique per page


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


def ngram_features(words: pl.DataFrame, n_pages: int) -> pl.DataFrame:
    """``words`` has one row per word in page order: ``_row``, ``wlen`` (characters), ``wh``
    (hash of the lower-cased word), ``pos`` (index in page), ``nwords_page``.

    An n-gram can only repeat where its (n-1)-word prefix repeats, so each n is tested only at
    the starts where n-1 repeated: after n = 2 the candidate set shrinks to a small fraction,
    which makes all nine n-gram sizes cost little more than one pass.
    """
    frame = words.filter(pl.col("pos") < NGRAM_WORD_CAP)
    row = frame["_row"].to_numpy().astype(np.int64)
    pos = frame["pos"].to_numpy()
    end = np.minimum(frame["nwords_page"].to_numpy(), NGRAM_WORD_CAP)
    wlen = frame["wlen"].to_numpy().astype(np.int64)
    wh = frame["wh"].to_numpy()
    cum = np.concatenate(([0], np.cumsum(wlen)))
    row_mix = row.astype(np.uint64) * np.uint64(_ROW_MIX)

    cand = np.arange(len(wh))
    key = wh.copy()
    dup_starts: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    with np.errstate(over="ignore"):
        for n in range(2, max(DUP_NGRAMS) + 1):
            valid = pos[cand] + n <= end[cand]
            cand, key = cand[valid], key[valid]
            key = key * np.uint64(_MUL) + wh[cand + n - 1]
            mixed = key ^ row_mix[cand]
            is_dup = pl.Series(mixed).is_duplicated().to_numpy()
            cand, key = cand[is_dup], key[is_dup]
            dup_starts[n] = (cand, key ^ row_mix[cand])

    word_chars = np.bincount(row, weights=wlen, minlength=n_pages)
    denom = np.maximum(word_chars, 1)
    cols: dict[str, np.ndarray] = {}
    for n in TOP_NGRAMS:
        starts, keys = dup_starts[n]
        top = np.zeros(n_pages)
        if len(starts):
            counted = (
                pl.DataFrame({"k": keys, "r": row[starts], "c": cum[starts + n] - cum[starts]})
                .group_by("k")
                .agg(pl.col("r").first(), pl.len().alias("cnt"), pl.col("c").first())
                .sort("r", "cnt", "c")
                .group_by("r")
                .agg((pl.col("cnt") * pl.col("c")).last().alias("v"))
            )
            top[counted["r"].to_numpy()] = counted["v"].to_numpy()
        cols[f"top_{n}gram_char_frac"] = np.clip(top / denom, 0.0, 1.0)
    size = len(wh) + max(DUP_NGRAMS)
    for n in DUP_NGRAMS:
        starts, _ = dup_starts[n]
        # Words covered by a repeated n-gram: +1 at each start, -1 n words later, running sum.
        depth = np.cumsum(np.bincount(starts, minlength=size) - np.bincount(starts + n,
                                                                           minlength=size))
        covered = depth[: len(wh)] > 0
        chars = np.bincount(row, weights=wlen * covered, minlength=n_pages)
        cols[f"dup_{n}gram_char_frac"] = chars / denom
    return pl.DataFrame({"_row": np.arange(n_pages, dtype=np.uint32), **cols})

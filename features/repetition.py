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

Paragraphs are counted by ``features.kernels.text_counts``, words and n-grams by
``features.kernels.line_stats`` (an n-gram can only repeat where its (n-1)-word prefix repeats,
so each n is tested only at the starts where n-1 repeated).
"""

from __future__ import annotations

import numpy as np
import polars as pl

TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)
NGRAM_WORD_CAP = 100_000


def paragraph_features(base: pl.DataFrame, counts: np.ndarray) -> pl.DataFrame:
    """``dup_para_frac`` and ``dup_para_char_frac`` of each page of ``base`` (``_row``), in its
    order; null for a page without paragraphs. ``counts``: ``features.kernels.text_counts`` of
    its text."""
    from features.kernels import CHAR_COLUMNS, PARAGRAPH_COLUMNS  # kernels reads TOP_NGRAMS

    n, dup, chars, dup_chars = (pl.col(c) for c in PARAGRAPH_COLUMNS)
    has = pl.when(n > 0)
    return pl.DataFrame(
        {"_row": base.get_column("_row"),
         **{c: counts[:, len(CHAR_COLUMNS) + k] for k, c in enumerate(PARAGRAPH_COLUMNS)}},
    ).select("_row", has.then(dup / n).alias("dup_para_frac"),
             has.then(dup_chars / chars).alias("dup_para_char_frac"))

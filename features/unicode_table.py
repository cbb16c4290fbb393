"""Per-codepoint character classes and lower-case mapping for the native feature kernels.

The classes are those of the regular expressions the features are defined by (Rust ``regex``
as used by polars: ``\\s``, ``\\p{L}``, ``\\p{Lu}``, ``\\p{Ll}``, ``\\p{Nd}``, ``\\p{N}``, and the
Han/Hiragana/Katakana scripts of ``features.tokens.WORD_PATTERN``), and the lower-case mapping is
polars' ``str.to_lowercase``. They are read off polars itself by ``build_table`` so that the
kernels and the expressions agree codepoint for codepoint; ``unicode_table.npz`` ships the result
because building it costs about half a second per process. ``tests/test_kernels.py`` rebuilds it
and fails if the shipped file differs from what the installed polars says.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from features.tokens import CJK_CLASS

TABLE_PATH = Path(__file__).with_name("unicode_table.npz")
MAX_CODEPOINT = 0x10FFFF
DOTTED_CAPITAL_I, COMBINING_DOT_ABOVE = 0x130, 0x307
CAPITAL_SIGMA, FINAL_SIGMA = 0x3A3, 0x3C2

# Bits of the class table; the kernels test them with ``&``.
WHITESPACE, CJK, LETTER, UPPER, LOWER, DIGIT, NUMBER = 1, 2, 4, 8, 16, 32, 64
_CLASS_PATTERNS = (
    (WHITESPACE, r"^\s$"),
    (CJK, rf"^[{CJK_CLASS}]$"),
    (LETTER, r"^\p{L}$"),
    (UPPER, r"^\p{Lu}$"),
    (LOWER, r"^\p{Ll}$"),
    (DIGIT, r"^\p{Nd}$"),
    (NUMBER, r"^\p{N}$"),
)


def build_table() -> tuple[np.ndarray, np.ndarray]:
    """``(classes, lower)``: uint8 class bits and int32 lower-case codepoint, per codepoint.

    Two codepoints need context, which a table has not: U+0130 lower-cases to two codepoints
    (the table holds the first, "i"; the kernels add U+0307 after it), and Greek capital sigma
    lower-cases to a final or a medial sigma depending on its neighbours. The table folds both
    sigmas to the medial one, so words compare as after polars' ``str.to_lowercase``, except two
    spellings that differ only in where a final sigma stands. Surrogates, which no string holds,
    map to themselves with no class.
    """
    import polars as pl

    codepoints = np.arange(MAX_CODEPOINT + 1, dtype=np.int64)
    valid = (codepoints < 0xD800) | (codepoints > 0xDFFF)
    chars = pl.Series("c", [chr(c) for c in codepoints[valid].tolist()])
    frame = pl.DataFrame({"c": chars})
    bits = frame.select(
        pl.sum_horizontal(
            pl.col("c").str.contains(pattern).cast(pl.UInt8) * bit
            for bit, pattern in _CLASS_PATTERNS
        ).cast(pl.UInt8).alias("bits"),
        pl.col("c").str.to_lowercase().str.slice(0, 1).alias("low"),
    )
    classes = np.zeros(MAX_CODEPOINT + 1, dtype=np.uint8)
    classes[valid] = bits["bits"].to_numpy()
    lower = codepoints.astype(np.int32)
    lower[valid] = np.array([ord(c) for c in bits["low"].to_list()], dtype=np.int32)
    lower[FINAL_SIGMA] = lower[CAPITAL_SIGMA]
    return classes, lower


def write_table(path: Path = TABLE_PATH) -> None:
    classes, lower = build_table()
    # Stored as offsets from the codepoint: mostly zeros, so the file stays small.
    delta = lower - np.arange(lower.size, dtype=np.int32)
    np.savez_compressed(path, classes=classes, lower_delta=delta)


@cache
def load_table() -> tuple[np.ndarray, np.ndarray]:
    """The shipped table (built and not saved when the file is missing)."""
    if TABLE_PATH.exists():
        with np.load(TABLE_PATH) as saved:
            delta = saved["lower_delta"]
            return saved["classes"], delta + np.arange(delta.size, dtype=np.int32)
    return build_table()

"""How pagescore cuts text into lines, paragraphs and words (pinned: features depend on it)."""

from __future__ import annotations

import re

# A word is a run of non-space characters, except that each Han/Hiragana/Katakana character is a
# word of its own: CJK text has no spaces, and without this a Chinese article would look "thin".
CJK_CLASS = r"\p{Han}\p{Hiragana}\p{Katakana}"
WORD_PATTERN = rf"[{CJK_CLASS}]|[^\s{CJK_CLASS}]+"

# Paragraphs are blocks separated by one or more blank (whitespace-only) lines.
PARAGRAPH_BREAK = r"\n[ \t\r\f\v]*\n\s*"
PARAGRAPH_SEP = "\u2029"

BULLET_CHARS = "•-*·▪‣●◦–"
TERMINAL_PUNCT = ('.', '!', '?', '"', "'", '。', '！', '？', '”', '»', '」')
ELLIPSES = ("...", "…")


# Python-side word count for the per-page HTML ratios (the stdlib ``re`` has no \p{Han}, so
# the CJK blocks are spelled out).
PY_CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{PY_CJK_RANGES}]")


def count_words(text: str) -> int:
    """Words of ``[CJK]|[^\\s CJK]+`` over PY_CJK_RANGES, without a Python-level loop.

    ``str.split()`` and the regex's ``\\s`` use the same whitespace test
    (``Py_UNICODE_ISSPACE``), so ASCII text needs only the split; otherwise every CJK character
    is replaced by a space (and counted) before splitting.
    """
    if text.isascii():
        return len(text.split())
    rest, n_cjk = _CJK_CHAR.subn(" ", text)
    return n_cjk + len(rest.split())

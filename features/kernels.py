"""Native (numba) passes over the UTF-8 bytes of a text column: the features that would
otherwise need a row per word.

Exploding pages into one polars row per word and grouping them back cost about 80% of the
feature time (``bench/README.md``); these kernels read the Arrow buffers of the column once, in
compiled loops, and return one number per line or per page:

- ``line_stats``: one pass over the lines' codepoints gives the per-line counts, the literal
  phrases of ``features.lines`` and the line filters of its regular expressions (one
  Aho-Corasick automaton, ``phrase_automaton``), each line's hash and each word's, and each
  page's character classes; a pass per page counts words, stop words and distinct words and
  the n-gram repetition fractions.
- ``line_flags``: headlines and promotional runs of ``features.lines`` (duplicate lines are
  found by ``line_stats``).
- ``text_counts``: character classes (from ``line_stats``) and duplicate paragraphs of whole
  pages (``features.chars``, ``features.repetition``), without decoding every character.

Their definitions are the same as the polars expressions they replace (``features.tokens``,
``features.repetition``, ``features.lines``): ``tests/test_kernels.py`` checks them against
those expressions on real pages.

Words are ``features.tokens.WORD_PATTERN``: runs of non-space characters, each Han/Hiragana/
Katakana character a word of its own. Words are compared lower-cased, through 64-bit FNV-1a
hashes of their lower-case codepoints (a collision merges two words with odds of about 1e-19 a
pair). Lower-casing is per codepoint (``features.unicode_table``, which says how U+0130 and the
Greek sigmas are handled).
"""

from __future__ import annotations

from functools import cache
from typing import Any, NamedTuple

import numpy as np
import polars as pl
from numba import njit

from features.phrases import LineFilter
from features.repetition import DUP_NGRAMS, TOP_NGRAMS
from features.tokens import BULLET_CHARS, PARAGRAPH_BREAK, PARAGRAPH_SEP, TERMINAL_PUNCT
from features.unicode_table import (
    CJK,
    COMBINING_DOT_ABOVE,
    DIGIT,
    DOTTED_CAPITAL_I,
    LETTER,
    LOWER,
    NUMBER,
    UPPER,
    WHITESPACE,
    load_table,
)

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)

TERMINAL_CODEPOINTS = np.array([ord(c) for c in TERMINAL_PUNCT], dtype=np.int64)
BULLET_CODEPOINTS = np.array([ord(c) for c in BULLET_CHARS], dtype=np.int64)
# tokens.ELLIPSES ("...", "…") is tested through these two, as is "#" (symbol words).
_DOT, _ELLIPSIS, _HASH, _COLON, _FULLWIDTH_COLON = ord("."), ord("…"), ord("#"), ord(":"), 0xFF1A
# A class bit no character of ``unicode_table`` has: ``_scan_lines`` sets it on the ASCII that
# counts to ``symbols``, so other characters pass with one test.
_SYMBOL_BIT = 128
# ``_paragraphs`` finds paragraphs as PARAGRAPH_BREAK and PARAGRAPH_SEP split them, written
# out in its loop as bytes (and frozen into numba's cache): it must not drift from them.
_PARAGRAPH_SEP = 0x2029
if PARAGRAPH_BREAK != r"\n[ \t\r\f\v]*\n\s*" or chr(_PARAGRAPH_SEP) != PARAGRAPH_SEP:
    raise ImportError("text_counts splits paragraphs as the PARAGRAPH_BREAK it was written for")

# Per-line outputs of ``line_stats`` (columns of its first result).
LINE_COLUMNS = ("nchars", "nwords", "ends_terminal", "ends_ellipsis", "starts_bullet",
                "starts_lower", "ends_colon", "phrase_bits")
# Per-page outputs of ``line_stats`` (columns of its second result).
PAGE_WORD_COLUMNS = ("_nwords", "_word_chars", "_alpha_words", "_stop_words", "_gopher_words",
                     "_unique_words", "_symbols")
# The kernel computes n = 2.._MAX_N, "top" fractions up to _TOP_MAX_N and "dup" ones above it.
# They are passed as arguments, not read as globals: numba freezes globals into its on-disk
# cache, which it renews only when this file changes. (The class bits of unicode_table are
# frozen that way: change them only with the kernels' cache cleared.)
_TOP_MAX_N, _MAX_N = max(TOP_NGRAMS), max(DUP_NGRAMS)
if tuple(range(2, _MAX_N + 1)) != TOP_NGRAMS + DUP_NGRAMS:
    raise ImportError("the n-gram kernel needs TOP_NGRAMS and DUP_NGRAMS to be 2..N in order")
# Bits of a line's phrase matches: bit g for phrase list g, bit FILTER_SHIFT + f for line
# filter f (``phrase_automaton``).
FILTER_SHIFT = 32
# UNSIGNED_INDEX: numba wraps a negative index around (Python's a[-1]), which takes a shift
# and a mask on every load through a signed one; where the next load waits for that address
# (the phrase automaton's state, a hash table's probe), ``a[np.uint64(i)]`` leaves them out:
# 166 -> 151 ms for ``_scan_lines`` and 172 -> 160 ms for ``_page_words`` on 4,000 crawl pages.
# The byte class that marks the start of a line, before its first byte.
_LINE_START = 256
# Per-page outputs of ``line_stats`` that ``text_counts`` reads: characters of the page's
# stripped non-blank lines, and of those its letters, upper-case letters, digits and numbers or
# white space (``packed_classes``).
LINE_CLASS_COLUMNS = ("_line_chars", "_line_letters", "_line_upper", "_line_digits",
                      "_line_number_or_space")
# Per-page outputs of ``text_counts``.
CHAR_COLUMNS = ("_nchars", "_letters", "_upper", "_digits", "_number_or_space")
PARAGRAPH_COLUMNS = ("_paragraphs", "_dup_paragraphs", "_paragraph_chars", "_dup_paragraph_chars")


def utf8_buffer(column: Any) -> tuple[Any, np.ndarray]:
    """``(buffer, offsets)``: the Arrow buffer of a string column's UTF-8 bytes (empty when it
    has none) and each row's start in it, without copying where Arrow allows. Nulls read as
    empty strings. ``column``: a polars Series or anything it is made from; a pyarrow
    large_string array without nulls is read in place (a polars column is copied out of its
    string views)."""
    import pyarrow as pa

    if (isinstance(column, pa.Array) and column.type == pa.large_string()
            and column.null_count == 0):
        arrow = column
    else:
        if not isinstance(column, pl.Series):
            column = pl.Series(column, dtype=pl.String)
        arrow = column.fill_null("").rechunk().to_arrow(compat_level=pl.CompatLevel.oldest())
    _, offsets_buf, data_buf = arrow.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[
        arrow.offset: arrow.offset + len(arrow) + 1]
    return (data_buf if data_buf is not None else pa.py_buffer(b"")), offsets


def string_buffers(column: pl.Series, text_bytes: tuple[Any, np.ndarray] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(data, offsets)``: ``utf8_buffer`` (or ``text_bytes``, the column's, if taken
    already) with the bytes as a numpy array."""
    data_buf, offsets = text_bytes if text_bytes is not None else utf8_buffer(column)
    return _byte_array(data_buf), offsets


def _byte_array(data_buf: Any) -> np.ndarray:
    """An Arrow buffer's bytes as a numpy array, in place (a new empty one for an empty
    buffer)."""
    return (np.frombuffer(data_buf, dtype=np.uint8) if data_buf.size
            else np.zeros(0, dtype=np.uint8))


@njit(cache=True, inline="always")
def _decode(data: np.ndarray, i: int) -> tuple[int, int]:
    """Codepoint at byte ``i`` and the index of the next one (input is valid UTF-8)."""
    b = np.int64(data[i])
    if b < 0x80:
        return b, i + 1
    if b < 0xE0:
        return ((b & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), i + 2
    if b < 0xF0:
        return (((b & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6)
                | (np.int64(data[i + 2]) & 0x3F)), i + 3
    return (((b & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12)
            | ((np.int64(data[i + 2]) & 0x3F) << 6) | (np.int64(data[i + 3]) & 0x3F)), i + 4


@njit(cache=True, inline="always")
def _finish(h):
    """MurmurHash3's 64-bit finaliser: FNV-1a alone leaves similar words (CJK characters, which
    differ in a few low bits) with hashes whose n-gram combinations can collide."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


@njit(cache=True, inline="always")
def _home(h, mask):
    return np.int64((h ^ (h >> np.uint64(29))) & np.uint64(mask))


@njit(cache=True)
def _lookup(table_keys, table_values, h):
    """Value of ``h`` in a table built by ``vocabulary_table`` (0 when absent)."""
    mask = table_keys.size - 1
    j = _home(h, mask)
    while table_keys[j] != 0:
        if table_keys[j] == h:
            return table_values[j]
        j = (j + 1) & mask
    return 0


@njit(cache=True, inline="always")
def _hash_step(h, cp, lc):
    """Add codepoint ``cp``, lower-cased to ``lc``, to a word's FNV-1a hash (U+0130 lower-cases
    to two)."""
    h = (h ^ np.uint64(lc)) * FNV_PRIME
    if cp == DOTTED_CAPITAL_I:
        h = (h ^ np.uint64(COMBINING_DOT_ABOVE)) * FNV_PRIME
    return h


@njit(cache=True, inline="always")
def _emit_word(word_hash, word_len, nw, h, length):
    # Finished after the scan, in a loop of its own (``_scan_lines``' end).
    word_hash[nw] = h
    word_len[nw] = length
    return nw + 1


@njit(cache=True, inline="always")
def _last_codepoint(data, a, b):
    """Codepoint that ends bytes ``a:b`` (-1 when empty)."""
    if a == b:
        return -1
    j = b - 1
    while data[j] & 0xC0 == 0x80:  # back to the last character's first byte
        j -= 1
    return _decode(data, j)[0]


@njit(cache=True)
def _scan_lines(data, starts, ends, line_page, n_pages, classes, lower, packed, terminal,
                bullets, ac_delta, ac_class, ac_out, ac_shift):
    """Per line: LINE_COLUMNS (``phrase_bits`` with the line-filter bits above FILTER_SHIFT) and
    a hash of its codepoints; per word: lower-case hash and length; per page: alphabetic words,
    symbols, LINE_CLASS_COLUMNS (``packed`` is ``packed_classes``) and first word. The
    automaton is ``_flat_automaton``'s: a state is the offset of its row in ``ac_delta``
    (``ac_out`` indexed by the offset shifted right by ``ac_shift``)."""
    n_lines = starts.size
    line_out = np.zeros((8, n_lines), dtype=np.int64)
    line_hash = np.empty(n_lines, dtype=np.uint64)
    page_out = np.zeros((n_pages, 7), dtype=np.int64)
    # A word needs at least one byte and one byte of separation, so this bounds the count.
    cap = (data.size + n_lines) // 2 + 1
    word_hash = np.empty(cap, dtype=np.uint64)
    word_len = np.empty(cap, dtype=np.int64)
    page_first_word = np.zeros(n_pages + 1, dtype=np.int64)
    # ASCII (most of the text) is read through 128-entry tables, without decoding: its class
    # (with _SYMBOL_BIT on "." and "#", the only ASCII that ``symbols`` counts), its lower case
    # and the automaton's class of that lower-case byte.
    ascii_class = np.empty(128, dtype=np.int64)
    ascii_lower = np.empty(128, dtype=np.uint64)
    ascii_ac = np.empty(128, dtype=np.int64)
    ascii_packed = np.empty(128, dtype=np.int64)
    for b in range(128):
        ascii_class[b] = classes[b] | (_SYMBOL_BIT if b in (_DOT, _HASH) else 0)
        ascii_lower[b] = lower[b]
        ascii_ac[b] = ac_class[lower[b]]
        ascii_packed[b] = packed[classes[b]]
    nw = 0
    prev_page = -1
    # Phrases anchored at the line start follow a class no byte has (index 256).
    start = np.int64(ac_delta[ac_class[256]])
    for ln in range(n_lines):
        page = line_page[ln]
        while prev_page < page:
            prev_page += 1
            page_first_word[prev_page] = nw
        i, end = starts[ln], ends[ln]
        line_start = i
        chars = words = alpha_words = symbols = 0
        in_word = False
        h = FNV_OFFSET
        wlen = 0
        alpha = 0
        # A run of dots counts a symbol every third dot: ``dots`` in the run ending at
        # character ``dot_at``.
        dots = 0
        dot_at = -2
        state = start
        bits = ac_out[start >> ac_shift]
        lh = FNV_OFFSET
        acc = np.int64(0)  # four 16-bit class counts (``packed_classes``)
        while i < end:
            # At most 0x7FFF bytes (so characters) between two emptyings of ``acc``: no field
            # reaches 0x8000, the sign bit of the top one.
            stop = min(end, i + 0x7FFF)
            while i < stop:
                b = data[i]
                if b < 0x80:
                    i += 1
                    # Unsigned indices on the automaton's chain of loads: UNSIGNED_INDEX.
                    state = np.int64(ac_delta[np.uint64(state + ascii_ac[b])])
                    bits |= ac_out[np.uint64(state >> ac_shift)]
                    c = ascii_class[b]
                    acc += ascii_packed[b]
                    lh = (lh ^ np.uint64(b)) * FNV_PRIME
                    if c & _SYMBOL_BIT:
                        if b == _DOT:
                            dots = dots + 1 if dot_at == chars - 1 else 1
                            dot_at = chars
                            if dots == 3:
                                symbols += 1
                                dots = 0
                        else:
                            symbols += 1
                    chars += 1
                    if c & WHITESPACE:
                        if in_word:
                            nw = _emit_word(word_hash, word_len, nw, h, wlen)
                            words += 1
                            alpha_words += alpha
                            in_word = False
                        continue
                    if not in_word:
                        in_word, h, wlen, alpha = True, FNV_OFFSET, 0, 0
                    h = (h ^ ascii_lower[b]) * FNV_PRIME
                    wlen += 1
                    alpha |= (c & LETTER) != 0
                    continue
                # The phrase automaton reads the UTF-8 bytes of the lower-cased line: the text's
                # own bytes where the character is its own lower case (most are), else
                # re-encoded.
                at = i
                cp, i = _decode(data, i)
                lc = np.int64(lower[cp])
                if lc == cp:
                    for t in range(at, i):
                        state = np.int64(ac_delta[np.uint64(state + ac_class[data[t]])])
                        bits |= ac_out[np.uint64(state >> ac_shift)]
                else:
                    if lc < 0x80:  # e.g. the Kelvin sign
                        nb, lead = 1, lc
                    elif lc < 0x800:
                        nb, lead = 2, 0xC0 | (lc >> 6)
                    elif lc < 0x10000:
                        nb, lead = 3, 0xE0 | (lc >> 12)
                    else:
                        nb, lead = 4, 0xF0 | (lc >> 18)
                    state = np.int64(ac_delta[np.uint64(state + ac_class[lead])])
                    bits |= ac_out[np.uint64(state >> ac_shift)]
                    for k in range(nb - 2, -1, -1):
                        cont = ac_class[0x80 | ((lc >> (6 * k)) & 0x3F)]
                        state = np.int64(ac_delta[np.uint64(state + cont)])
                        bits |= ac_out[np.uint64(state >> ac_shift)]
                    if cp == DOTTED_CAPITAL_I:  # lower-cases to "i" + U+0307 (UTF-8 CC 87)
                        state = np.int64(ac_delta[np.uint64(state + ac_class[0xCC])])
                        bits |= ac_out[np.uint64(state >> ac_shift)]
                        state = np.int64(ac_delta[np.uint64(state + ac_class[0x87])])
                        bits |= ac_out[np.uint64(state >> ac_shift)]
                c = classes[cp]
                acc += packed[c]
                lh = (lh ^ np.uint64(cp)) * FNV_PRIME
                symbols += cp == _ELLIPSIS
                chars += 1
                if c & (WHITESPACE | CJK):
                    if in_word:
                        nw = _emit_word(word_hash, word_len, nw, h, wlen)
                        words += 1
                        alpha_words += alpha
                        in_word = False
                    if c & CJK:
                        nw = _emit_word(word_hash, word_len, nw, _hash_step(FNV_OFFSET, cp, lc), 1)
                        words += 1
                        alpha_words += (c & LETTER) != 0
                    continue
                if not in_word:
                    in_word, h, wlen, alpha = True, FNV_OFFSET, 0, 0
                h = _hash_step(h, cp, lc)
                wlen += 1
                alpha |= (c & LETTER) != 0
            page_out[page, 3] += acc & 0xFFFF
            page_out[page, 4] += (acc >> 16) & 0xFFFF
            page_out[page, 5] += (acc >> 32) & 0xFFFF
            page_out[page, 6] += acc >> 48
            acc = 0
        if in_word:
            nw = _emit_word(word_hash, word_len, nw, h, wlen)
            words += 1
            alpha_words += alpha
        page_out[page, 0] += alpha_words
        page_out[page, 1] += symbols
        page_out[page, 2] += chars
        line_hash[ln] = _finish(lh)
        line_out[0, ln] = chars
        line_out[1, ln] = words
        # The first and last characters, read off the line's ends.
        last = _last_codepoint(data, line_start, end)
        first = _decode(data, line_start)[0] if line_start < end else -1
        for t in terminal:
            if last == t:
                line_out[2, ln] = 1
        # "..." : "." is one byte, never part of another character's UTF-8.
        line_out[3, ln] = (last == _ELLIPSIS) or (
            end - line_start >= 3 and data[end - 1] == _DOT and data[end - 2] == _DOT
            and data[end - 3] == _DOT)
        for b in bullets:
            if first == b:
                line_out[4, ln] = 1
        line_out[5, ln] = first >= 0 and (classes[first] & LOWER) != 0
        line_out[6, ln] = last in (_COLON, _FULLWIDTH_COLON)
        line_out[7, ln] = bits
    while prev_page < n_pages:
        prev_page += 1
        page_first_word[prev_page] = nw
    # The words' finaliser, out of the byte loop: there its multiplies cost registers the loop
    # needs (about 138 -> 130 ms per 4,000 crawl pages, the finishing included).
    for k in range(nw):
        word_hash[k] = _finish(word_hash[k])
    return line_out, line_hash, page_out, word_hash[:nw], word_len[:nw], page_first_word


@njit(cache=True, inline="always")
def _table_mask(n):
    """Mask of an open-addressing table for ``n`` keys (at most half full)."""
    size = 16
    while size < 2 * n:
        size *= 2
    return size - 1


@njit(cache=True)
def _word_ids(keys, m, table_key, table_id, mask, wid, id_count, id_first):
    """Dense ids of a page's equal word hashes, in order of first occurrence: ``wid`` per word;
    per id its number of occurrences and its first word. The table (``table_id`` -1 where empty)
    is left empty again. Returns the number of distinct words."""
    distinct = 0
    umask = np.uint64(mask)  # unsigned slots: see UNSIGNED_INDEX
    for k in range(m):
        h = keys[k]
        j = np.uint64(_home(h, mask))
        while table_id[j] >= 0 and table_key[j] != h:
            j = (j + np.uint64(1)) & umask
        if table_id[j] < 0:
            table_key[j] = h
            table_id[j] = distinct
            id_count[distinct] = 0
            id_first[distinct] = k
            distinct += 1
        i = table_id[j]
        id_count[np.uint64(i)] += 1
        wid[k] = i
    for i in range(distinct):  # each distinct word's home chain, from its first word
        h = keys[id_first[i]]
        j = _home(h, mask)
        while table_id[j] != i:
            j = (j + 1) & mask
        table_id[j] = -1
    return distinct


@njit(cache=True, inline="always")
def _sort_starts(wid, src, dst, n, shift, n_ids, pos):
    """Stable counting sort of the starts ``src[:n]`` into ``dst`` by the id of the word
    ``shift`` after each."""
    for i in range(n_ids):
        pos[i] = 0
    for t in range(n):
        pos[wid[src[t] + shift]] += 1
    at = 0
    for i in range(n_ids):
        c = pos[i]
        pos[i] = at
        at += c
    for t in range(n):
        s = src[t]
        w = wid[s + shift]
        dst[pos[w]] = s
        pos[w] += 1


@njit(cache=True)
def _ngram_page(wid, wl, n_ids, m, out_top, out_dup, top_max_n, max_n, token, work, stamp):
    """Gopher repetition fractions of a page's first ``m`` words (see ``features.repetition``),
    from their word ids (``_word_ids``).

    The starts of each repeated k-gram form a group (ascending); splitting a group by the word
    that follows gives the repeated (k+1)-grams, so no n-gram is hashed and words compare by
    id. The bigram groups come from sorting the starts; from there groups are taken depth
    first: a group that does not split (a repeated passage goes on) steps to the next k with
    one comparison per start, and each start ends with the longest n (at most ``max_n``) for
    which its n-gram repeats, which is all the "dup" fractions need.
    ``work`` is 10 int64 rows of work space at least ``m + 1`` long; ``stamp`` (per word id)
    keeps ``token``'s meaning across pages; returns the last ``token`` used."""
    cum, cand, tmp, longest, seg_lo, seg_hi, seg_k, cnt, head, order = (
        work[0], work[1], work[2], work[3], work[4], work[5], work[6], work[7], work[8], work[9])
    cum[0] = 0
    for k in range(m):
        cum[k + 1] = cum[k] + wl[k]
        longest[k] = 0
    denom = max(cum[m], 1)
    # Bigram groups, without a branch per word (which word repeats is a coin toss): the starts
    # whose two words both repeat, sorted by (first word, second word, start) by two stable
    # counting sorts; each run of equal bigrams is a group.
    for i in range(n_ids):
        cnt[i] = 0
    for s in range(m):
        cnt[wid[s]] += 1
    for s in range(m):
        longest[s] = cnt[wid[s]] > 1
    nc = 0
    for s in range(m - 1):
        order[nc] = s
        nc += (cnt[wid[s]] > 1) & (cnt[wid[s + 1]] > 1)
    _sort_starts(wid, order, tmp, nc, 1, n_ids, head)
    _sort_starts(wid, tmp, cand, nc, 0, n_ids, head)
    sp = 0  # groups to split: cand[seg_lo:seg_hi] share a repeated seg_k-gram
    t = 0
    while t < nc:
        s = cand[t]
        u = t + 1
        while u < nc and wid[cand[u]] == wid[s] and wid[cand[u] + 1] == wid[s + 1]:
            u += 1
        if u - t > 1:
            seg_lo[sp], seg_hi[sp], seg_k[sp] = t, u, 2
            sp += 1
        t = u
    # Per n <= top_max_n: the most frequent n-gram's count and characters (ties: the longer).
    best_cnt = np.zeros(top_max_n + 1, dtype=np.int64)
    best_chars = np.zeros(top_max_n + 1, dtype=np.int64)
    while sp > 0:
        sp -= 1
        g0, g1, k = seg_lo[sp], seg_hi[sp], seg_k[sp]
        c = g1 - g0
        while True:
            if 2 <= k <= top_max_n:
                first = cand[g0]  # groups ascend: the k-gram's first occurrence
                chars = cum[first + k] - cum[first]
                if c > best_cnt[k] or (c == best_cnt[k] and chars > best_chars[k]):
                    best_cnt[k], best_chars[k] = c, chars
            if k == max_n:
                for t in range(g0, g1):
                    longest[cand[t]] = k
                break
            # Does every start go on with the same word?
            s = cand[g0]
            w = wid[s + k] if s + k < m else -1
            same = w >= 0
            for t in range(g0 + 1, g1):
                s = cand[t]
                if s + k >= m or wid[s + k] != w:
                    same = False
                    break
            if same:
                k += 1
                continue
            if c == 2:  # the commonest group: it splits into two single starts
                longest[cand[g0]] = longest[cand[g0 + 1]] = k
                break
            # Split by the next word (first seen first), keeping the starts ascending; starts
            # whose next word follows no other start's end here.
            token += 1
            n_next = 0
            for t in range(g0, g1):
                s = cand[t]
                if s + k >= m:
                    continue
                w = wid[s + k]
                if stamp[w] != token:
                    stamp[w] = token
                    cnt[w] = 0
                    order[n_next] = w
                    n_next += 1
                cnt[w] += 1
            at = g0
            for o in range(n_next):
                w = order[o]
                if cnt[w] > 1:
                    head[w] = at - g0
                    seg_lo[sp], seg_hi[sp], seg_k[sp] = at, at + cnt[w], k + 1
                    sp += 1
                    at += cnt[w]
                else:
                    head[w] = -1
            for t in range(g0, g1):
                s = cand[t]
                if s + k < m and head[wid[s + k]] >= 0:
                    w = wid[s + k]
                    tmp[head[w]] = s
                    head[w] += 1
                else:
                    longest[s] = k
            for t in range(at - g0):
                cand[g0 + t] = tmp[t]
            break
    for n in range(2, top_max_n + 1):
        out_top[n - 2] = min(best_cnt[n] * best_chars[n] / denom, 1.0)
    # "dup" n: the words covered by a start whose n-gram repeats (longest >= n), each start
    # covering its n words; ``last[n]`` is the latest such start so far.
    last = np.full(max_n + 1, -max_n - 1, dtype=np.int64)
    covered = np.zeros(max_n + 1, dtype=np.int64)
    for j in range(m):
        r = longest[j]
        for n in range(top_max_n + 1, r + 1):
            last[n] = j
        if last[top_max_n + 1] + max_n <= j:
            continue  # no repeated n-gram reaches word j (last[n] <= last[top_max_n + 1])
        for n in range(top_max_n + 1, max_n + 1):
            if last[n] > j - n:
                covered[n] += wl[j]
    for n in range(top_max_n + 1, max_n + 1):
        out_dup[n - top_max_n - 1] = covered[n] / denom
    return token


@njit(cache=True)
def _page_words(word_hash, word_len, page_first_word, vocab_keys, vocab_values, cap,
                top_max_n, max_n):
    """Per page: words, their characters, stop words, Gopher stop words seen and distinct words
    (all words), and the n-gram fractions (first ``cap`` words)."""
    n_pages = page_first_word.size - 1
    out = np.zeros((n_pages, 5), dtype=np.int64)
    top = np.zeros((n_pages, top_max_n - 1))
    dup = np.zeros((n_pages, max_n - top_max_n))
    big = 1
    for p in range(n_pages):
        big = max(big, page_first_word[p + 1] - page_first_word[p])
    # One set of tables for all pages, sized for the largest, left empty after each use.
    size = _table_mask(big) + 1
    table_key = np.empty(size, dtype=np.uint64)
    table_id = np.full(size, -1, dtype=np.int64)
    wid = np.empty(big, dtype=np.int64)
    id_count = np.empty(big, dtype=np.int64)
    id_first = np.empty(big, dtype=np.int64)
    work = np.empty((10, big + 1), dtype=np.int64)
    stamp = np.full(big + 1, -1, dtype=np.int64)
    token = 0
    for p in range(n_pages):
        a, b = page_first_word[p], page_first_word[p + 1]
        m = b - a
        if m == 0:
            continue
        wh = word_hash[a:b]
        wl = word_len[a:b]
        out[p, 0] = m
        total = 0
        for k in range(m):
            total += wl[k]
        out[p, 1] = total
        n_ids = _word_ids(wh, m, table_key, table_id, _table_mask(m), wid, id_count, id_first)
        out[p, 4] = n_ids
        stop = 0
        gopher_seen = 0
        for i in range(n_ids):  # a distinct word is looked up once, counted as often as it occurs
            value = _lookup(vocab_keys, vocab_values, wh[id_first[i]])
            stop += (value & 1) * id_count[i]
            gopher_seen |= value >> 1
        out[p, 2] = stop
        n_gopher = 0
        while gopher_seen:
            n_gopher += gopher_seen & 1
            gopher_seen >>= 1
        out[p, 3] = n_gopher
        token = _ngram_page(wid, wl, n_ids, min(m, cap), top[p], dup[p], top_max_n, max_n,
                            token, work, stamp)
    return out, top, dup


@njit(cache=True)
def _same_bytes(data, i, end, j, j_end):
    """Whether bytes ``i:end`` and ``j:j_end`` are the same."""
    if end - i != j_end - j:
        return False
    while i < end:
        if data[i] != data[j]:
            return False
        i += 1
        j += 1
    return True


@njit(cache=True)
def _line_dups(data, starts, ends, line_page, line_hash):
    """Whether each line (bytes ``starts[i]:ends[i]``) is the same text (compared byte for
    byte) as an earlier line of its page (``line_page``: a page's lines consecutive)."""
    n = line_hash.size
    is_dup = np.zeros(n, dtype=np.bool_)
    big = 1
    a = 0
    while a < n:
        b = a + 1
        while b < n and line_page[b] == line_page[a]:
            b += 1
        big = max(big, b - a)
        a = b
    owner = np.full(_table_mask(big) + 1, -1, dtype=np.int64)
    slot = np.empty(big, dtype=np.int64)
    a = 0
    while a < n:
        b = a + 1
        while b < n and line_page[b] == line_page[a]:
            b += 1
        mask = _table_mask(b - a)
        for ln in range(a, b):
            h = line_hash[ln]
            j = _home(h, mask)
            while owner[j] >= 0 and not (line_hash[owner[j]] == h and _same_bytes(
                    data, starts[owner[j]], ends[owner[j]], starts[ln], ends[ln])):
                j = (j + 1) & mask
            if owner[j] < 0:
                owner[j] = ln
            else:
                is_dup[ln] = True
            slot[ln - a] = j
        owner[slot[:b - a]] = -1
        a = b
    return is_dup


@njit(cache=True)
def _line_flags(line_page, nwords, ends_terminal, starts_lower, ends_colon, is_boiler,
                min_words, max_words, min_run, tail_slack):
    n = line_page.size
    headline = np.zeros(n, dtype=np.bool_)
    promo = np.zeros(n, dtype=np.bool_)
    for ln in range(n):
        headline[ln] = (min_words <= nwords[ln] <= max_words and not ends_terminal[ln]
                        and not starts_lower[ln] and not is_boiler[ln] and not ends_colon[ln])
    a = 0
    while a < n:
        b = a + 1
        while b < n and line_page[b] == line_page[a]:
            b += 1
        # Runs of headlines; a long enough run near the page's end is a promotional block.
        # The end is tested as the UInt32 expression this replaces did (nb_idx >= last line -
        # slack, wrapping below 0): a page of at most tail_slack + 1 lines never qualifies.
        threshold = (b - a - 1 - tail_slack) & 0xFFFFFFFF
        s = a
        while s < b:
            if not headline[s]:
                s += 1
                continue
            e = s
            while e + 1 < b and headline[e + 1]:
                e += 1
            if e - s + 1 >= min_run and e - a >= threshold:
                promo[s:e + 1] = True
            s = e + 1
        a = b
    return headline, promo


def line_flags(line_page: np.ndarray, per_line: dict[str, np.ndarray], is_boiler: np.ndarray,
               words: tuple[int, int], min_run: int, tail_slack: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(headline, is_promo)`` of the non-blank stripped lines of ``line_stats`` (``per_line``
    holds its ``nwords``, ``ends_terminal``, ``starts_lower`` and ``ends_colon``), a page's
    lines consecutive (``line_page``). (Duplicates are ``line_stats``'s ``_is_dup``.)

    A headline has ``words[0]..words[1]`` words, does not end a sentence nor with a colon,
    does not start lower-case and is not boilerplate; a promotional line is in a run of at
    least ``min_run`` headlines that ends at most ``tail_slack`` lines before the page's last
    line."""
    return _line_flags(line_page.astype(np.int64), per_line["nwords"],
                       per_line["ends_terminal"], per_line["starts_lower"],
                       per_line["ends_colon"], is_boiler, words[0], words[1], min_run,
                       tail_slack)


@njit(cache=True, inline="always")
def _strip(data, a, b, classes):
    """Bytes ``a:b`` without the white space at either end: ``(start, end)``."""
    while a < b:
        cp, nxt = _decode(data, a)
        if not classes[cp] & WHITESPACE:
            break
        a = nxt
    while b > a:
        j = b - 1
        while data[j] & 0xC0 == 0x80:  # back to the last character's first byte
            j -= 1
        cp, _ = _decode(data, j)
        if not classes[cp] & WHITESPACE:
            break
        b = j
    return a, b


@njit(cache=True, inline="always")
def _put_le32(v, at, x):
    for t in range(4):
        v[at + t] = (x >> (8 * t)) & 0xFF


@njit(cache=True)
def _split_views(data, offsets, row_ids, classes, newlines, returns):
    """Arrow string views of the stripped non-blank lines of each row of ``data``/``offsets``
    (``newlines`` and ``returns``: where its "\n" and "\r" bytes are): into ``data`` (buffer 0) where the line holds no "\r", else into a
    copy without it (buffer 1, returned); per line its row id, paragraph number (blank lines
    before it, over all rows), index among its row's non-blank lines, and where its bytes are
    in ``data`` followed by buffer 1 (start, end)."""
    n = offsets.size - 1
    cap = newlines.size + n  # a line ends at "\n" or at its row's end
    views = np.zeros(16 * cap, dtype=np.uint8)
    copied = np.empty(0, dtype=np.uint8)
    row = np.empty(cap, dtype=np.uint32)
    para = np.empty(cap, dtype=np.uint32)
    nb_idx = np.empty(cap, dtype=np.uint32)
    span = np.empty((2, cap), dtype=np.int64)
    blanks = 0
    n_lines = 0
    w = 0
    p = q = 0  # next "\n", next "\r"
    for r in range(n):
        i, end = offsets[r], offsets[r + 1]
        while p < newlines.size and newlines[p] < i:  # bytes before the first row
            p += 1
        k = 0
        while True:
            j = end
            if p < newlines.size and newlines[p] < end:
                j = newlines[p]
                p += 1
            while q < returns.size and returns[q] < i:
                q += 1
            any_cr = q < returns.size and returns[q] < j
            # "\r" is white space: stripped at the ends like the rest, dropped inside.
            a, b = _strip(data, i, j, classes)
            if a == b:
                blanks += 1
            else:
                src = data
                buf = 0
                shift = 0
                if any_cr and np.any(data[a:b] == 0x0D):
                    if copied.size == 0:
                        copied = np.empty(data.size, dtype=np.uint8)
                    start = w
                    for t in range(a, b):
                        if data[t] != 0x0D:
                            copied[w] = data[t]
                            w += 1
                    src, buf, a, b = copied, 1, start, w
                    shift = data.size
                v = 16 * n_lines
                _put_le32(views, v, b - a)
                if b - a <= 12:  # short strings live in the view itself
                    for t in range(b - a):
                        views[v + 4 + t] = src[a + t]
                else:
                    for t in range(4):
                        views[v + 4 + t] = src[a + t]
                    _put_le32(views, v + 8, buf)
                    _put_le32(views, v + 12, a)
                row[n_lines] = row_ids[r]
                span[0, n_lines] = a + shift
                span[1, n_lines] = b + shift
                para[n_lines] = blanks
                nb_idx[n_lines] = k
                k += 1
                n_lines += 1
            if j >= end:
                break
            i = j + 1
    return (views[:16 * n_lines], copied[:w], row[:n_lines], para[:n_lines], nb_idx[:n_lines],
            span[:, :n_lines])


class LineBytes(NamedTuple):
    """Where each line of a ``cut_lines`` frame is in one byte array: ``data[start[i]:end[i]]``
    (what ``line_stats`` reads, instead of copying the line column out of its views)."""

    data: np.ndarray
    start: np.ndarray
    end: np.ndarray


def newline_positions(text_bytes: tuple[Any, np.ndarray]) -> np.ndarray:
    """Where the "\\n" bytes of a ``utf8_buffer`` are, ascending: what ``cut_lines`` and
    ``text_counts`` both read (found once: about 7 ms per 4,000 crawl pages)."""
    return np.flatnonzero(_byte_array(text_bytes[0]) == 0x0A)


def cut_lines(text: pl.Series, row_ids: np.ndarray,
              text_bytes: tuple[Any, np.ndarray] | None = None,
              newlines: np.ndarray | None = None) -> tuple[pl.DataFrame, LineBytes]:
    """The frame of ``features.lines.explode_lines`` (``_row`` from ``row_ids``, ``line``,
    ``para``, ``nb_idx``), cut in one pass, and the ``LineBytes`` of its lines. ``line`` is a
    column of views into the text's bytes (no line is copied but those with a "\r" inside).
    ``text_bytes``: the text's ``utf8_buffer``, if taken already, and ``newlines`` its
    ``newline_positions``, if found already (ignored without ``text_bytes``)."""
    import pyarrow as pa

    if text_bytes is None:
        text_bytes, newlines = utf8_buffer(text), None
    data_buf, offsets = text_bytes
    if data_buf.size >= 2**31:
        raise ValueError("string views address at most 2 GiB of text: split the batch")
    if newlines is None:
        newlines = newline_positions(text_bytes)
    data = _byte_array(data_buf)
    classes, _ = load_table()
    views, copied, row, para, nb_idx, span = _split_views(
        data, offsets, row_ids.astype(np.uint32), classes, newlines,
        np.flatnonzero(data == 0x0D))
    line = pa.StringViewArray.from_buffers(
        pa.string_view(), row.size, [None, pa.py_buffer(views), data_buf, pa.py_buffer(copied)])
    frame = pl.DataFrame([pl.Series("_row", row), pl.Series("line", line),
                          pl.Series("para", para), pl.Series("nb_idx", nb_idx)])
    # Lines with a "\r" inside were copied without it: then one array holds both (rare).
    all_bytes = np.concatenate((data, copied)) if copied.size else data
    return frame, LineBytes(all_bytes, span[0], span[1])


@njit(cache=True)
def _paragraph(data, a, b, classes, k, para_hash, para_start, para_end, para_chars):
    """Record the paragraph of bytes ``a:b`` (not yet stripped) as the ``k``-th of its page;
    returns the paragraph count after it (``k`` when it is empty) and the characters of
    ``a:b``, white space at its ends included."""
    a0, b0 = a, b
    a, b = _strip(data, a, b, classes)
    edge = 0  # characters of the white space stripped (the whole range when it is blank)
    for t in range(a0, a):
        edge += (data[t] & 0xC0) != 0x80
    for t in range(b, b0):
        edge += (data[t] & 0xC0) != 0x80
    if a == b:
        return k, edge
    # Four interleaved FNV-1a lanes: one multiply chain a byte would set the pace.
    h0 = h1 = h2 = h3 = FNV_OFFSET
    chars = 0
    i = a
    while i + 4 <= b:
        c0, c1, c2, c3 = data[i], data[i + 1], data[i + 2], data[i + 3]
        h0 = (h0 ^ np.uint64(c0)) * FNV_PRIME
        h1 = (h1 ^ np.uint64(c1)) * FNV_PRIME
        h2 = (h2 ^ np.uint64(c2)) * FNV_PRIME
        h3 = (h3 ^ np.uint64(c3)) * FNV_PRIME
        chars += ((c0 & 0xC0) != 0x80) + ((c1 & 0xC0) != 0x80) + ((c2 & 0xC0) != 0x80) + (
            (c3 & 0xC0) != 0x80)
        i += 4
    while i < b:
        h0 = (h0 ^ np.uint64(data[i])) * FNV_PRIME
        chars += (data[i] & 0xC0) != 0x80
        i += 1
    h = ((((h0 ^ h1) * FNV_PRIME ^ h2) * FNV_PRIME ^ h3) * FNV_PRIME) ^ np.uint64(b - a)
    para_hash[k] = _finish(h)
    para_start[k] = a
    para_end[k] = b
    para_chars[k] = chars
    return k + 1, chars + edge


@cache
def packed_classes() -> np.ndarray:
    """Per character class of ``unicode_table``: 1 in bits 0, 16, 32 and 48 when a character of
    the class is a letter, an upper-case letter, a digit, a number or white space (the
    ``CHAR_COLUMNS`` after the first), so one addition counts all four."""
    c = np.arange(256, dtype=np.int64)
    return (((c & LETTER) != 0).astype(np.int64)
            | (((c & (LETTER | UPPER)) == (LETTER | UPPER)).astype(np.int64) << 16)
            | (((c & DIGIT) != 0).astype(np.int64) << 32)
            | (((c & (NUMBER | WHITESPACE)) != 0).astype(np.int64) << 48))


@njit(cache=True, inline="always")
def _blank_between(data, a, b):
    """Whether bytes ``a:b`` are only " ", "\\t", "\\v", "\\f", "\\r" (and "\\n", which a
    caller never has there) and PARAGRAPH_SEP: what may stand between the two "\\n" of a
    PARAGRAPH_BREAK (a PARAGRAPH_SEP there breaks, too, but does not stop the "\\n" after it
    from breaking)."""
    while a < b:
        c = data[a]
        if c == 0x20 or (c >= 0x09 and c <= 0x0D):
            a += 1
        elif c == 0xE2 and a + 2 < b and data[a + 1] == 0x80 and data[a + 2] == 0xA9:
            a += 3
        else:
            return False
    return True


@njit(cache=True)
def _paragraphs(data, offsets, newlines, leads, classes):
    """Per page: its characters, then PARAGRAPH_COLUMNS. ``newlines`` and ``leads``: where the
    "\\n" and the 0xE2 bytes (PARAGRAPH_SEP's first) of ``data`` are, ascending: the only
    places a paragraph can end, so the bytes in between are only read to strip and hash
    paragraphs and to check the white space between two "\\n"."""
    n = offsets.size - 1
    out = np.zeros((n, 5), dtype=np.int64)
    # Per paragraph of a page: hash, byte range, characters. A paragraph takes a byte and a
    # break two more.
    cap = 1
    for r in range(n):
        cap = max(cap, (offsets[r + 1] - offsets[r]) // 3 + 1)
    para_hash = np.empty(cap, dtype=np.uint64)
    para_start = np.empty(cap, dtype=np.int64)
    para_end = np.empty(cap, dtype=np.int64)
    para_chars = np.empty(cap, dtype=np.int64)
    para_slot = np.empty(cap, dtype=np.int64)
    owner = np.full(16, -1, dtype=np.int64)  # grown to the most paragraphs a page has
    p = q = 0  # next "\n", next 0xE2
    for r in range(n):
        i, end = offsets[r], offsets[r + 1]
        # The page's characters: its paragraphs' (white space at their ends included) and
        # one per break between them.
        chars = 0
        while p < newlines.size and newlines[p] < i:
            p += 1
        while q < leads.size and leads[q] < i:
            q += 1
        # Breaks: PARAGRAPH_SEP, and a "\n" after a "\n" and only [ \t\r\f\v] (and
        # PARAGRAPH_SEP): the text between two breaks (stripped) is a paragraph, as the
        # regex's matches would have left it. Extra breaks inside one run of white space
        # only cut out empty paragraphs.
        n_para = 0
        start = i
        newline = -1  # the page's last "\n" so far
        while True:
            # The next "\n" or 0xE2 of the page, whichever comes first.
            x = newlines[p] if p < newlines.size and newlines[p] < end else end
            y = leads[q] if q < leads.size and leads[q] < end else end
            if x == end and y == end:
                break
            if x < y:
                p += 1
                if newline >= 0 and _blank_between(data, newline + 1, x):
                    n_para, c = _paragraph(data, start, x, classes, n_para, para_hash,
                                           para_start, para_end, para_chars)
                    chars += c + 1
                    start = x + 1
                newline = x
                continue
            q += 1
            if y + 2 < end and data[y + 1] == 0x80 and data[y + 2] == 0xA9:
                n_para, c = _paragraph(data, start, y, classes, n_para, para_hash, para_start,
                                       para_end, para_chars)
                chars += c + 1
                start = y + 3
        n_para, c = _paragraph(data, start, end, classes, n_para, para_hash, para_start,
                               para_end, para_chars)
        out[r, 0] = chars + c
        # A paragraph is a duplicate when the same text (byte for byte) came before it.
        mask = _table_mask(n_para)
        if mask >= owner.size:
            owner = np.full(mask + 1, -1, dtype=np.int64)
        dup = dup_chars = total = 0
        for k in range(n_para):
            hk = para_hash[k]
            j = _home(hk, mask)
            while owner[j] >= 0 and not (para_hash[owner[j]] == hk and _same_bytes(
                    data, para_start[owner[j]], para_end[owner[j]], para_start[k], para_end[k])):
                j = (j + 1) & mask
            if owner[j] < 0:
                owner[j] = k
            else:
                dup += 1
                dup_chars += para_chars[k]
            para_slot[k] = j
            total += para_chars[k]
        owner[para_slot[:n_para]] = -1
        out[r, 1] = n_para
        out[r, 2] = dup
        out[r, 3] = total
        out[r, 4] = dup_chars
    return out


def text_counts(text: pl.Series, text_bytes: tuple[Any, np.ndarray] | None = None,
                line_classes: np.ndarray | None = None, newlines: np.ndarray | None = None
                ) -> np.ndarray:
    """Per row: ``CHAR_COLUMNS`` (characters, letters (``\\p{L}``), upper-case letters
    (``\\p{Lu}``), decimal digits (``\\p{Nd}``) and characters that are numbers or white space
    (``[\\p{N}\\s]``)), then ``PARAGRAPH_COLUMNS`` (paragraphs, split by
    ``features.tokens.PARAGRAPH_BREAK`` and by ``PARAGRAPH_SEP`` itself, stripped, empty ones
    dropped; duplicate paragraphs, whose text came before on the page; characters of all
    paragraphs and of the duplicates). ``text_bytes``: the text's ``utf8_buffer``, if taken
    already, and ``newlines`` their ``newline_positions``, if found already (ignored without
    ``text_bytes``); ``line_classes``: the ``LINE_CLASS_COLUMNS`` of ``line_stats`` on the
    text's lines, if computed already (else the lines are cut and scanned here: ``cut_lines``
    takes at most 2 GiB of text).

    The classes are counted by the line scan, which reads every character of the lines
    anyway (a pass of its own cost 44 ms per 4,000 crawl pages); what lies outside the
    stripped non-blank lines is white space, so it adds to the characters and to "numbers or
    white space" only."""
    classes, _ = load_table()
    if text_bytes is None:
        text_bytes, newlines = utf8_buffer(text), None
    data, offsets = string_buffers(text, text_bytes)
    if newlines is None:
        newlines = newline_positions(text_bytes)
    if line_classes is None:
        line_classes = _line_classes(text, text_bytes, newlines)
    if line_classes.shape != (offsets.size - 1, len(LINE_CLASS_COLUMNS)):
        raise ValueError(f"line_classes of shape {line_classes.shape} for {offsets.size - 1} "
                         f"pages: one row of LINE_CLASS_COLUMNS per page")
    # Two searches, not one for either byte: 11.5 against 15.5 ms per 4,000 crawl pages.
    paragraphs = _paragraphs(data, offsets, newlines, np.flatnonzero(data == 0xE2), classes)
    out = np.empty((offsets.size - 1, len(CHAR_COLUMNS) + len(PARAGRAPH_COLUMNS)),
                   dtype=np.int64)
    out[:, 0] = paragraphs[:, 0]
    out[:, 1:4] = line_classes[:, 1:4]
    out[:, 4] = line_classes[:, 4] + paragraphs[:, 0] - line_classes[:, 0]
    out[:, len(CHAR_COLUMNS):] = paragraphs[:, 1:]
    return out


def _line_classes(text: pl.Series, text_bytes: tuple[Any, np.ndarray], newlines: np.ndarray
                  ) -> np.ndarray:
    """``LINE_CLASS_COLUMNS`` of the text's lines, for ``text_counts`` called without them."""
    n = text_bytes[1].size - 1
    frame, lines = cut_lines(text, np.arange(n), text_bytes, newlines)
    _, per_page = line_stats(lines, frame.get_column("_row").to_numpy(), n, [], [], 0,
                             phrase_automaton(()))
    return per_page.select(LINE_CLASS_COLUMNS).to_numpy()


@njit(cache=True)
def _hash_strings(data, offsets, lower):
    out = np.empty(offsets.size - 1, dtype=np.uint64)
    for r in range(offsets.size - 1):
        h = FNV_OFFSET
        i, end = offsets[r], offsets[r + 1]
        while i < end:
            cp, i = _decode(data, i)
            h = _hash_step(h, cp, lower[cp])
        out[r] = _finish(h)
    return out


def hash_words(words: tuple[str, ...]) -> np.ndarray:
    """The kernels' hash of each word (as ``_scan_lines`` hashes a word), in order."""
    _, lower = load_table()
    return _hash_strings(*string_buffers(pl.Series(words, dtype=pl.String)), lower)


@cache
def vocabulary_table(stop_words: tuple[str, ...], gopher_words: tuple[str, ...]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """An open-addressing table of word hashes: value bit 0 marks a stop word, bit g+1 the
    g-th Gopher stop word (0 is the empty key: a word hashing to 0 would be missed)."""
    values: dict[int, int] = {}
    for h in hash_words(stop_words).tolist():
        values[h] = values.get(h, 0) | 1
    for g, h in enumerate(hash_words(gopher_words).tolist()):
        values[h] = values.get(h, 0) | (2 << g)
    size = 16
    while size < 4 * len(values):
        size *= 2
    keys = np.zeros(size, dtype=np.uint64)
    vals = np.zeros(size, dtype=np.int64)
    for h, v in values.items():
        j = int(_home(np.uint64(h), size - 1))
        while keys[j] != 0:
            j = (j + 1) & (size - 1)
        keys[j], vals[j] = h, v
    return keys, vals


def phrase_automaton(phrase_lists: tuple[tuple[str, ...], ...],
                     filters: tuple[LineFilter, ...] = ()) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    """Aho-Corasick automaton over the UTF-8 bytes of lower-case lines: ``(delta, byte_class,
    out)``; ``out[state]`` has bit g set when state ends a phrase of ``phrase_lists[g]``, and bit
    ``FILTER_SHIFT + f`` when it ends a substring of ``filters[f]`` or one of its prefixes read
    from the line's start (a filter with neither passes every line).

    Bytes that occur in no phrase share class 0 (they send every state back to the root), so the
    transition table stays small; states are numbered breadth first, so the shallow states, where
    the text keeps the automaton, share the first rows of the table."""
    if len(filters) > 63 - FILTER_SHIFT:
        raise ValueError("too many line filters for the 64-bit phrase bits")

    def fold(p: str) -> tuple[int, ...]:  # lower-cased like the text, one sigma (unicode_table)
        return tuple(p.replace("\u03c2", "\u03c3").encode("utf-8"))

    phrases = [(fold(p), 1 << g) for g, lst in enumerate(phrase_lists) for p in lst if p]
    for f, line_filter in enumerate(filters):
        bit = 1 << (FILTER_SHIFT + f)
        phrases += [(fold(p), bit) for p in line_filter.substrings if p]
        phrases += [((_LINE_START, *fold(p)), bit) for p in line_filter.prefixes]
        if not line_filter.prefixes and not line_filter.substrings:
            phrases.append(((_LINE_START,), bit))
    used = sorted({b for p, _ in phrases for b in p})
    byte_class = np.zeros(_LINE_START + 1, dtype=np.int64)
    byte_class[used] = np.arange(1, len(used) + 1)
    goto: list[dict[int, int]] = [{}]
    trie_out = [0]
    for phrase, bit in phrases:
        state = 0
        for b in phrase:
            cls = int(byte_class[b])
            if cls not in goto[state]:
                goto.append({})
                trie_out.append(0)
                goto[state][cls] = len(goto) - 1
            state = goto[state][cls]
        trie_out[state] |= bit
    order = [0]  # breadth first: a state's fail link is complete before its children
    for state in order:
        order.extend(goto[state].values())
    new_id = {old: new for new, old in enumerate(order)}
    # Half the bytes of int32 when the states allow: the table is read once per text byte.
    delta = np.zeros((len(goto), len(used) + 1),
                     dtype=np.int16 if len(goto) < 2**15 else np.int32)
    out = [0] * len(goto)
    fail = [0] * len(goto)
    for old in order:
        state = new_id[old]
        out[state] = trie_out[old] | out[fail[state]]
        if state:
            delta[state] = delta[fail[state]]  # missing edges: where the fail state goes
        for cls, nxt in goto[old].items():
            child = new_id[nxt]
            fail[child] = int(delta[fail[state], cls]) if state else 0
            delta[state, cls] = child
    return delta, byte_class, np.array(out, dtype=np.int64)


_FLAT_AUTOMATA: dict[int, tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, int]]] = {}


def _flat_automaton(automaton: tuple[np.ndarray, np.ndarray, np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``phrase_automaton``'s tables as ``_scan_lines`` reads them: each state stands for the
    offset of its row in the flattened transition table (rows padded to a power of two), so a
    step is one load with no multiply. Kept per automaton (the line automaton is cached)."""
    delta, byte_class, out = automaton
    kept = _FLAT_AUTOMATA.get(id(delta))
    if kept is not None and kept[0] is delta:
        return kept[1]
    shift = max(int(delta.shape[1] - 1).bit_length(), 0)
    padded = np.zeros((delta.shape[0], 1 << shift), dtype=np.int32)
    padded[:, :delta.shape[1]] = delta.astype(np.int32) << shift
    flat = (padded.ravel(), byte_class, out, shift)
    if len(_FLAT_AUTOMATA) > 8:
        _FLAT_AUTOMATA.clear()
    _FLAT_AUTOMATA[id(delta)] = (delta, flat)
    return flat


def line_stats(lines: pl.Series | LineBytes, line_page: np.ndarray, n_pages: int,
               stop_words: list[str], gopher_words: list[str], ngram_cap: int,
               automaton: tuple[np.ndarray, np.ndarray, np.ndarray]
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per line (LINE_COLUMNS, then ``_filter_bits`` and ``_is_dup``: the same text as an earlier
    line of its page) and per page (PAGE_WORD_COLUMNS and the n-gram fractions) of non-blank
    stripped ``lines`` (a string column, or the ``LineBytes`` of ``cut_lines``, read in place:
    copying a batch's line column out of its views took 18 ms per 4,000 pages);
    ``line_page`` (non-decreasing) gives each line's page; the ``automaton`` of
    ``phrase_automaton`` sets each line's ``phrase_bits`` (``_filter_bits``: its filters)."""
    classes, lower = load_table()
    if isinstance(lines, LineBytes):
        data, starts, ends = lines
    else:
        data, offsets = string_buffers(lines)
        starts, ends = offsets[:-1], offsets[1:]
    vocab_keys, vocab_values = vocabulary_table(tuple(stop_words), tuple(gopher_words))
    line_page = line_page.astype(np.int64)
    line_out, line_hash, page_out, word_hash, word_len, first = _scan_lines(
        data, starts, ends, line_page, n_pages, classes, lower, packed_classes(),
        TERMINAL_CODEPOINTS, BULLET_CODEPOINTS, *_flat_automaton(automaton))
    words, top, dup = _page_words(word_hash, word_len, first, vocab_keys, vocab_values,
                                  ngram_cap, _TOP_MAX_N, _MAX_N)
    # One row per column (contiguous: polars takes each without gathering a strided column).
    filter_bits = line_out[7] >> FILTER_SHIFT
    line_out[7] &= (1 << FILTER_SHIFT) - 1
    per_line = pl.DataFrame({**{name: line_out[k] for k, name in enumerate(LINE_COLUMNS)},
                             "_filter_bits": filter_bits,
                             "_is_dup": _line_dups(data, starts, ends, line_page, line_hash)})
    # PAGE_WORD_COLUMNS: _nwords, _word_chars, _alpha_words, _stop_words, _gopher_words,
    # _unique_words, _symbols.
    page_columns = (words[:, 0], words[:, 1], page_out[:, 0], words[:, 2], words[:, 3],
                    words[:, 4], page_out[:, 1])
    per_page = pl.DataFrame(
        {**dict(zip(PAGE_WORD_COLUMNS, page_columns, strict=True)),
         **{f"top_{n}gram_char_frac": top[:, k] for k, n in enumerate(TOP_NGRAMS)},
         **{f"dup_{n}gram_char_frac": dup[:, k] for k, n in enumerate(DUP_NGRAMS)},
         **{name: page_out[:, 2 + k] for k, name in enumerate(LINE_CLASS_COLUMNS)}})
    return per_line, per_page

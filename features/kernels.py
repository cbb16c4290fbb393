"""Native (numba) passes over the UTF-8 bytes of a text column: the features that would
otherwise need a row per word.

Exploding pages into one polars row per word and grouping them back cost about 80% of the
feature time (``bench/README.md``); these kernels read the Arrow buffers of the column once, in
compiled loops, and return one number per line or per page. Their definitions are the same as
the polars expressions they replace (``features.tokens``, ``features.repetition``):
``tests/test_kernels.py`` checks them against those expressions on real pages.

Words are ``features.tokens.WORD_PATTERN``: runs of non-space characters, each Han/Hiragana/
Katakana character a word of its own. Words are compared lower-cased, through 64-bit FNV-1a
hashes of their lower-case codepoints (a collision merges two words with odds of about 1e-19 a
pair). Lower-casing is per codepoint (``features.unicode_table``, which says how U+0130 and the
Greek sigmas are handled).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import polars as pl
from numba import njit

from features.repetition import DUP_NGRAMS, TOP_NGRAMS
from features.tokens import BULLET_CHARS, TERMINAL_PUNCT
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
NGRAM_MUL = np.uint64(0x100000001B3)  # spreads an n-gram's hash before adding the next word

TERMINAL_CODEPOINTS = np.array([ord(c) for c in TERMINAL_PUNCT], dtype=np.int64)
BULLET_CODEPOINTS = np.array([ord(c) for c in BULLET_CHARS], dtype=np.int64)
# tokens.ELLIPSES ("...", "…") is tested through these two, as is "#" (symbol words).
_DOT, _ELLIPSIS, _HASH, _COLON, _FULLWIDTH_COLON = ord("."), ord("…"), ord("#"), ord(":"), 0xFF1A

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
# Per-page outputs of ``char_counts``.
CHAR_COLUMNS = ("_nchars", "_letters", "_upper", "_digits", "_number_or_space")


def string_buffers(column: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(data, offsets)``: the UTF-8 bytes of a string column and each row's start (zero copy
    where Arrow allows). Nulls read as empty strings."""
    arrow = column.fill_null("").rechunk().to_arrow(compat_level=pl.CompatLevel.oldest())
    n = len(arrow)
    _, offsets_buf, data_buf = arrow.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arrow.offset: arrow.offset + n + 1]
    data = (np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None and data_buf.size
            else np.zeros(0, dtype=np.uint8))
    return data, offsets


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


@njit(cache=True)
def _char_counts(data, offsets, classes):
    n = offsets.size - 1
    out = np.zeros((n, 5), dtype=np.int64)
    for r in range(n):
        i, end = offsets[r], offsets[r + 1]
        chars = letters = upper = digits = number_or_space = 0
        while i < end:
            cp, i = _decode(data, i)
            c = classes[cp]
            chars += 1
            if c & LETTER:
                letters += 1
                if c & UPPER:
                    upper += 1
            if c & DIGIT:
                digits += 1
            if c & (NUMBER | WHITESPACE):
                number_or_space += 1
        out[r, 0] = chars
        out[r, 1] = letters
        out[r, 2] = upper
        out[r, 3] = digits
        out[r, 4] = number_or_space
    return out


def char_counts(text: pl.Series) -> np.ndarray:
    """Per row: characters, letters (``\\p{L}``), upper-case letters (``\\p{Lu}``), decimal digits
    (``\\p{Nd}``) and characters that are numbers or white space (``[\\p{N}\\s]``)."""
    classes, _ = load_table()
    data, offsets = string_buffers(text)
    return _char_counts(data, offsets, classes)


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
def _group(keys):
    """Open-addressing count of equal keys: ``slot`` per key, and per slot the index of the
    key's first occurrence (``owner``, -1 if empty) and its number of occurrences."""
    size = 16
    while size < 2 * keys.size:
        size *= 2
    mask = size - 1
    owner = np.full(size, -1, dtype=np.int64)
    count = np.zeros(size, dtype=np.int64)
    slot = np.empty(keys.size, dtype=np.int64)
    for k in range(keys.size):
        h = keys[k]
        j = _home(h, mask)
        while owner[j] >= 0 and keys[owner[j]] != h:
            j = (j + 1) & mask
        if owner[j] < 0:
            owner[j] = k
        count[j] += 1
        slot[k] = j
    return slot, owner, count


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
def _hash_step(h, cp, lower):
    """Add one codepoint, lower-cased, to a word's FNV-1a hash (U+0130 lower-cases to two)."""
    h = (h ^ np.uint64(lower[cp])) * FNV_PRIME
    if cp == DOTTED_CAPITAL_I:
        h = (h ^ np.uint64(COMBINING_DOT_ABOVE)) * FNV_PRIME
    return h


@njit(cache=True, inline="always")
def _emit_word(word_hash, word_len, nw, h, length):
    word_hash[nw] = _finish(h)
    word_len[nw] = length
    return nw + 1


@njit(cache=True)
def _scan_lines(data, offsets, line_page, n_pages, classes, lower, vocab_keys, vocab_values,
               terminal, bullets, ac_delta, ac_class, ac_out):
    """Per line: LINE_COLUMNS; per word: lower-case hash and length; per page: first word."""
    n_lines = offsets.size - 1
    line_out = np.zeros((n_lines, 8), dtype=np.int64)
    page_out = np.zeros((n_pages, 7), dtype=np.int64)
    # A word needs at least one byte and one byte of separation, so this bounds the count.
    cap = (data.size + n_lines) // 2 + 1
    word_hash = np.empty(cap, dtype=np.uint64)
    word_len = np.empty(cap, dtype=np.int64)
    page_first_word = np.zeros(n_pages + 1, dtype=np.int64)
    nw = 0
    prev_page = -1
    for ln in range(n_lines):
        page = line_page[ln]
        while prev_page < page:
            prev_page += 1
            page_first_word[prev_page] = nw
        i, end = offsets[ln], offsets[ln + 1]
        chars = words = 0
        first_cp = -1
        last1 = last2 = last3 = -1
        in_word = False
        h = FNV_OFFSET
        wlen = 0
        alpha = False
        dots = 0
        symbols = 0
        state = 0
        bits = 0
        while i < end:
            cp, i = _decode(data, i)
            c = classes[cp]
            chars += 1
            # The phrase automaton reads the UTF-8 bytes of the lower-cased line.
            lc = np.int64(lower[cp])
            if lc < 0x80:
                state = ac_delta[state, ac_class[lc]]
                bits |= ac_out[state]
            else:
                if lc < 0x800:
                    nb = 2
                    state = ac_delta[state, ac_class[0xC0 | (lc >> 6)]]
                elif lc < 0x10000:
                    nb = 3
                    state = ac_delta[state, ac_class[0xE0 | (lc >> 12)]]
                else:
                    nb = 4
                    state = ac_delta[state, ac_class[0xF0 | (lc >> 18)]]
                bits |= ac_out[state]
                for k in range(nb - 2, -1, -1):
                    state = ac_delta[state, ac_class[0x80 | ((lc >> (6 * k)) & 0x3F)]]
                    bits |= ac_out[state]
            if cp == DOTTED_CAPITAL_I:  # lower-cases to "i" + U+0307 (UTF-8 CC 87)
                state = ac_delta[state, ac_class[0xCC]]
                bits |= ac_out[state]
                state = ac_delta[state, ac_class[0x87]]
                bits |= ac_out[state]
            if first_cp < 0:
                first_cp = cp
            last3, last2, last1 = last2, last1, cp
            if cp == _DOT:
                dots += 1
            else:
                symbols += dots // 3
                dots = 0
                if cp in (_ELLIPSIS, _HASH):
                    symbols += 1
            if c & WHITESPACE or c & CJK:
                if in_word:
                    nw = _emit_word(word_hash, word_len, nw, h, wlen)
                    words += 1
                    page_out[page, 2] += alpha
                    in_word = False
                if c & CJK:
                    nw = _emit_word(word_hash, word_len, nw, _hash_step(FNV_OFFSET, cp, lower), 1)
                    words += 1
                    page_out[page, 2] += (c & LETTER) != 0
                continue
            if not in_word:
                in_word = True
                h = FNV_OFFSET
                wlen = 0
                alpha = False
            h = _hash_step(h, cp, lower)
            wlen += 1
            alpha = alpha or (c & LETTER) != 0
        if in_word:
            nw = _emit_word(word_hash, word_len, nw, h, wlen)
            words += 1
            page_out[page, 2] += alpha
        symbols += dots // 3
        page_out[page, 6] += symbols
        line_out[ln, 0] = chars
        line_out[ln, 1] = words
        for t in terminal:
            if last1 == t:
                line_out[ln, 2] = 1
        line_out[ln, 3] = (last1 == _ELLIPSIS) or (last1 == _DOT and last2 == _DOT
                                                   and last3 == _DOT)
        for b in bullets:
            if first_cp == b:
                line_out[ln, 4] = 1
        line_out[ln, 5] = first_cp >= 0 and (classes[first_cp] & LOWER) != 0
        line_out[ln, 6] = last1 in (_COLON, _FULLWIDTH_COLON)
        line_out[ln, 7] = bits
    while prev_page < n_pages:
        prev_page += 1
        page_first_word[prev_page] = nw
    for p in range(n_pages):
        a, b = page_first_word[p], page_first_word[p + 1]
        page_out[p, 0] = b - a
        total = 0
        stop = 0
        gopher_seen = 0
        for w in range(a, b):
            total += word_len[w]
            value = _lookup(vocab_keys, vocab_values, word_hash[w])
            stop += value & 1
            gopher_seen |= value >> 1
        page_out[p, 1] = total
        page_out[p, 3] = stop
        count = 0
        while gopher_seen:
            count += gopher_seen & 1
            gopher_seen >>= 1
        page_out[p, 4] = count
        if b > a:
            _, owner, _ = _group(word_hash[a:b])
            page_out[p, 5] = np.sum(owner >= 0)
    return line_out, page_out, word_hash[:nw], word_len[:nw], page_first_word


@njit(cache=True)
def _ngram_page(wh, wl, out_top, out_dup, top_max_n, max_n):
    """Gopher repetition fractions of one page's words (see ``features.repetition``)."""
    m = wh.size
    cum = np.zeros(m + 1, dtype=np.int64)
    for k in range(m):
        cum[k + 1] = cum[k] + wl[k]
    denom = max(cum[m], 1)
    cand = np.arange(m)
    key = wh.copy()
    for n in range(2, max_n + 1):
        # Only starts whose (n-1)-gram repeated can start a repeated n-gram.
        keep = cand + n <= m
        cand = cand[keep]
        key = key[keep] * NGRAM_MUL + wh[cand + n - 1]
        slot, owner, count = _group(key)
        dup = count[slot] > 1
        best_cnt = 0
        best_chars = 0
        if n <= top_max_n:
            for j in range(owner.size):
                cnt = count[j]
                if cnt > 1:
                    # owner is the first occurrence on the page: candidates are in page order.
                    first = cand[owner[j]]
                    c = cum[first + n] - cum[first]
                    if cnt > best_cnt or (cnt == best_cnt and c > best_chars):
                        best_cnt, best_chars = cnt, c
        cand = cand[dup]
        key = key[dup]
        if n <= top_max_n:
            out_top[n - 2] = min(best_cnt * best_chars / denom, 1.0)
        else:
            # Words covered by a repeated n-gram: +1 at each start, -1 n words later.
            depth = np.zeros(m + 1, dtype=np.int64)
            for s in cand:
                depth[s] += 1
                depth[s + n] -= 1
            level = 0
            covered = 0
            for k in range(m):
                level += depth[k]
                if level > 0:
                    covered += wl[k]
            out_dup[n - top_max_n - 1] = covered / denom


@njit(cache=True)
def _ngram_pages(word_hash, word_len, page_first_word, cap, top_max_n, max_n):
    n_pages = page_first_word.size - 1
    top = np.zeros((n_pages, top_max_n - 1))
    dup = np.zeros((n_pages, max_n - top_max_n))
    for p in range(n_pages):
        a = page_first_word[p]
        b = min(page_first_word[p + 1], a + cap)
        if b > a:
            _ngram_page(word_hash[a:b], word_len[a:b], top[p], dup[p], top_max_n, max_n)
    return top, dup


@njit(cache=True)
def _hash_strings(data, offsets, lower):
    out = np.empty(offsets.size - 1, dtype=np.uint64)
    for r in range(offsets.size - 1):
        h = FNV_OFFSET
        i, end = offsets[r], offsets[r + 1]
        while i < end:
            cp, i = _decode(data, i)
            h = _hash_step(h, cp, lower)
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


def phrase_automaton(phrase_lists: tuple[tuple[str, ...], ...]) -> tuple[np.ndarray, np.ndarray,
                                                                           np.ndarray]:
    """Aho-Corasick automaton over the UTF-8 bytes of lower-case phrases: ``(delta, byte_class,
    out)``; ``out[state]`` has bit g set when state ends a phrase of ``phrase_lists[g]``.

    Bytes that occur in no phrase share class 0 (they send every state back to the root), so the
    transition table stays small enough for the CPU cache."""
    # Phrases are folded like the text (one sigma, see features.unicode_table).
    phrases = [(p.replace("\u03c2", "\u03c3").encode("utf-8"), g)
               for g, lst in enumerate(phrase_lists) for p in lst if p]
    used = sorted({b for p, _ in phrases for b in p})
    byte_class = np.zeros(256, dtype=np.int64)
    byte_class[used] = np.arange(1, len(used) + 1)
    goto: list[dict[int, int]] = [{}]
    out = [0]
    for phrase, g in phrases:
        state = 0
        for b in phrase:
            cls = int(byte_class[b])
            if cls not in goto[state]:
                goto.append({})
                out.append(0)
                goto[state][cls] = len(goto) - 1
            state = goto[state][cls]
        out[state] |= 1 << g
    # Half the bytes of int32 when the states allow: the table is read once per text byte.
    delta = np.zeros((len(goto), len(used) + 1),
                     dtype=np.int16 if len(goto) < 2**15 else np.int32)
    fail = [0] * len(goto)
    for cls, nxt in goto[0].items():
        delta[0, cls] = nxt
    queue = list(goto[0].values())
    head = 0
    while head < len(queue):  # breadth first: a state's fail link is complete before its children
        state = queue[head]
        head += 1
        out[state] |= out[fail[state]]
        delta[state] = delta[fail[state]]  # missing edges: where the fail state goes
        for cls, nxt in goto[state].items():
            fail[nxt] = int(delta[fail[state], cls])
            delta[state, cls] = nxt
            queue.append(nxt)
    return delta, byte_class, np.array(out, dtype=np.int64)


def line_stats(lines: pl.Series, line_page: np.ndarray, n_pages: int, stop_words: list[str],
               gopher_words: list[str], ngram_cap: int,
               automaton: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[pl.DataFrame,
                                                                              pl.DataFrame]:
    """Per line (LINE_COLUMNS) and per page (PAGE_WORD_COLUMNS and the n-gram fractions) of
    non-blank stripped lines; ``line_page`` (non-decreasing) gives each line's page; the
    ``automaton`` of ``phrase_automaton`` sets each line's ``phrase_bits``."""
    classes, lower = load_table()
    data, offsets = string_buffers(lines)
    vocab_keys, vocab_values = vocabulary_table(tuple(stop_words), tuple(gopher_words))
    line_out, page_out, word_hash, word_len, first = _scan_lines(
        data, offsets, line_page.astype(np.int64), n_pages, classes, lower,
        vocab_keys, vocab_values, TERMINAL_CODEPOINTS, BULLET_CODEPOINTS, *automaton)
    top, dup = _ngram_pages(word_hash, word_len, first, ngram_cap, _TOP_MAX_N, _MAX_N)
    per_line = pl.DataFrame({name: line_out[:, k] for k, name in enumerate(LINE_COLUMNS)})
    per_page = pl.DataFrame(
        {**{name: page_out[:, k] for k, name in enumerate(PAGE_WORD_COLUMNS)},
         **{f"top_{n}gram_char_frac": top[:, k] for k, n in enumerate(TOP_NGRAMS)},
         **{f"dup_{n}gram_char_frac": dup[:, k] for k, n in enumerate(DUP_NGRAMS)}})
    return per_line, per_page

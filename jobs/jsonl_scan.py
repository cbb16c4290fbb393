"""Plain text records of a run of JSONL lines, parsed in one native pass.

A crawl's JSONL is mostly lines like ``{"id": ..., "url": ..., "text": ...}``. Parsing them
with orjson into Python strings, checking each record in Python and turning the strings back
into UTF-8 for polars costs about 23 ms per 1,000 crawl lines (5 MB; 17 ms to parse and check,
6.5 to build the text column); this pass reads the bytes once and writes the text column's
UTF-8 directly: 8-10 ms, and 3-5 ms for Arrow to check the bytes are UTF-8.

It takes only what it can read exactly as ``jobs.readers`` would: every non-blank line a
valid JSON object (strict UTF-8, no lone surrogate, no NaN, nesting under ``MAX_DEPTH``), whose
``id``/``page_id`` are strings, integers or null, ``url`` a string or null, ``text`` a string,
``html`` absent or null, none of them given twice, no line longer than the reader's limit.
Anything else (a line to quarantine, an HTML record, a record the standard library reads
differently from orjson) makes ``scan_text_records`` return None, and the caller reads the
lines the general way. ``tests/test_jsonl_scan.py`` checks both give the same pages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numba import njit

# Containers nested deeper than this are left to the general reader (Python's json stops at
# its recursion limit, orjson at 1024: what each then does is theirs to say).
MAX_DEPTH = 64
# Field numbers, in the order of ``_FIELD_NAMES``.
_ID, _PAGE_ID, _URL, _TEXT, _HTML = 0, 1, 2, 3, 4
_FIELD_NAMES = (b"id", b"page_id", b"url", b"text", b"html")
# Kinds of a field's value.
_ABSENT, _NULL, _STRING, _INT = 0, 1, 2, 3
_QUOTE, _BACKSLASH = 0x22, 0x5C
# Bytes of a JSON string that stand for themselves: all but control characters, the quote
# and the backslash.
_PLAIN = np.ones(256, dtype=np.bool_)
_PLAIN[:0x20] = _PLAIN[_QUOTE] = _PLAIN[_BACKSLASH] = False


@njit(cache=True, inline="always")
def _is_ws(b):
    """JSON white space (what Python's json and orjson skip between tokens) but the newline,
    which ends the line: lines are parsed up to it, not cut first."""
    return b == 0x20 or b == 0x09 or b == 0x0D


@njit(cache=True, inline="always")
def _hex(b):
    if 0x30 <= b <= 0x39:
        return b - 0x30
    if 0x61 <= b <= 0x66:
        return b - 0x61 + 10
    if 0x41 <= b <= 0x46:
        return b - 0x41 + 10
    return -1


@njit(cache=True, inline="always")
def _hex4(data, i, end):
    """The 4 hex digits at ``i`` as a number, -1 if they are not."""
    if i + 4 > end:
        return -1
    v = 0
    for k in range(4):
        d = _hex(np.int64(data[i + k]))
        if d < 0:
            return -1
        v = v * 16 + d
    return v


@njit(cache=True, inline="always")
def _put_utf8(out, o, cp):
    if cp < 0x80:
        out[o] = cp
        return o + 1
    if cp < 0x800:
        out[o] = 0xC0 | (cp >> 6)
        out[o + 1] = 0x80 | (cp & 0x3F)
        return o + 2
    if cp < 0x10000:
        out[o] = 0xE0 | (cp >> 12)
        out[o + 1] = 0x80 | ((cp >> 6) & 0x3F)
        out[o + 2] = 0x80 | (cp & 0x3F)
        return o + 3
    out[o] = 0xF0 | (cp >> 18)
    out[o + 1] = 0x80 | ((cp >> 12) & 0x3F)
    out[o + 2] = 0x80 | ((cp >> 6) & 0x3F)
    out[o + 3] = 0x80 | (cp & 0x3F)
    return o + 4


@njit(cache=True)
def _string(data, i, end, out, o):
    """Read the JSON string whose opening quote is at ``i - 1``, writing its UTF-8 to
    ``out[o:]`` (``out`` has room for the rest of ``data``). Returns (index after the closing
    quote, end of what was written), or (-1, 0) when the string is not one to take."""
    while i < end:
        b = data[i]
        # Bytes that stand for themselves, one at a time: copying runs of them as slices was
        # twice as slow (crawl text has an escape every 30 bytes or so). Their UTF-8 is
        # checked for the whole run of lines once the scan took it (``scan_text_records``).
        if _PLAIN[b]:
            out[o] = b
            o += 1
            i += 1
            continue
        if b == _QUOTE:
            return i + 1, o
        if b == _BACKSLASH:
            if i + 1 >= end:
                return -1, 0
            e = data[i + 1]
            i += 2
            if e == 0x75:  # \uXXXX, a surrogate pair as two
                cp = _hex4(data, i, end)
                if cp < 0:
                    return -1, 0
                i += 4
                if 0xDC00 <= cp <= 0xDFFF:
                    return -1, 0  # a low surrogate alone
                if 0xD800 <= cp <= 0xDBFF:
                    if i + 2 > end or data[i] != _BACKSLASH or data[i + 1] != 0x75:
                        return -1, 0
                    low = _hex4(data, i + 2, end)
                    if not 0xDC00 <= low <= 0xDFFF:
                        return -1, 0
                    i += 6
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
                o = _put_utf8(out, o, cp)
                continue
            if e in (_QUOTE, _BACKSLASH, 0x2F):
                c = e
            elif e == 0x62:
                c = 0x08
            elif e == 0x66:
                c = 0x0C
            elif e == 0x6E:
                c = 0x0A
            elif e == 0x72:
                c = 0x0D
            elif e == 0x74:
                c = 0x09
            else:
                return -1, 0
            out[o] = c
            o += 1
            continue
        return -1, 0  # a raw control character: not JSON
    return -1, 0


@njit(cache=True, inline="always")
def _digits(data, i, end):
    """Index after the run of at least one decimal digit at ``i``, or -1."""
    if i >= end or not 0x30 <= data[i] <= 0x39:
        return -1
    while i < end and 0x30 <= data[i] <= 0x39:
        i += 1
    return i


@njit(cache=True)
def _number(data, i, end):
    """Read a JSON number at ``i``: (index after it, whether it is an integer written as
    Python writes that integer), or (-1, False)."""
    start = i
    if i < end and data[i] == 0x2D:
        i += 1
    if i < end and data[i] == 0x30:
        i += 1
    else:
        i = _digits(data, i, end)
        if i < 0:
            return -1, False
    # "-0" is read as 0; and past 18 digits a reader may go through a float or refuse
    # (Python's int-to-str limit): both left to the general reader.
    plain = i - start <= 18 and not (data[start] == 0x2D and data[start + 1] == 0x30)
    if i < end and data[i] == 0x2E:
        i = _digits(data, i + 1, end)
        plain = False
    if i >= 0 and i < end and (data[i] == 0x65 or data[i] == 0x45):
        i += 1
        if i < end and (data[i] == 0x2B or data[i] == 0x2D):
            i += 1
        i = _digits(data, i, end)
        plain = False
    return (i, plain) if i >= 0 else (-1, False)


@njit(cache=True, inline="always")
def _literal(data, i, end, word):
    n = word.size
    if i + n > end:
        return -1
    for k in range(n):
        if data[i + k] != word[k]:
            return -1
    return i + n


@njit(cache=True, inline="always")
def _skip_ws(data, i, end):
    while i < end and _is_ws(data[i]):
        i += 1
    return i


@njit(cache=True)
def _key(data, i, end, junk):
    """Read ``"key" :`` at ``i`` and the white space after it: (index of the value, index
    after the key's opening quote, index after its closing quote), or -1 first."""
    if i >= end or data[i] != _QUOTE:
        return -1, 0, 0
    a = i + 1
    i = _string(data, a, end, junk, 0)[0]
    if i < 0:
        return -1, 0, 0
    b = i
    i = _skip_ws(data, i, end)
    if i >= end or data[i] != 0x3A:
        return -1, 0, 0
    i = _skip_ws(data, i + 1, end)
    if i >= end:
        return -1, 0, 0
    return i, a, b


@njit(cache=True)
def _scalar(data, i, end, junk, true_, false_, null_):
    """Index after the string, number or literal at ``i``, or -1."""
    b = data[i]
    if b == _QUOTE:
        return _string(data, i + 1, end, junk, 0)[0]
    if b == 0x2D or 0x30 <= b <= 0x39:
        return _number(data, i, end)[0]
    if b == 0x74:
        return _literal(data, i, end, true_)
    if b == 0x66:
        return _literal(data, i, end, false_)
    if b == 0x6E:
        return _literal(data, i, end, null_)
    return -1


@njit(cache=True)
def _skip_value(data, i, end, depth, stack, junk, true_, false_, null_):
    """Validate the JSON value at ``i`` (``i < end``, white space skipped) nested ``depth``
    deep, without keeping it: the index after it, or -1. ``stack`` holds MAX_DEPTH bytes."""
    sp = 0
    while True:
        b = data[i]
        if b == 0x7B or b == 0x5B:  # a container opens: to its first value, or its end
            if depth + sp >= MAX_DEPTH:
                return -1
            stack[sp] = b
            sp += 1
            i = _skip_ws(data, i + 1, end)
            if i >= end:
                return -1
            if data[i] == b + 2:  # "{}" / "[]": "}" and "]" are two after "{" and "["
                i += 1
                sp -= 1
            else:
                if b == 0x7B:
                    i = _key(data, i, end, junk)[0]
                    if i < 0:
                        return -1
                continue
        else:
            i = _scalar(data, i, end, junk, true_, false_, null_)
            if i < 0:
                return -1
        # After a value: the next one of its container, or the container's end.
        while True:
            if sp == 0:
                return i
            i = _skip_ws(data, i, end)
            if i >= end:
                return -1
            c = data[i]
            if c == stack[sp - 1] + 2:
                i += 1
                sp -= 1
                continue
            if c != 0x2C:
                return -1
            i = _skip_ws(data, i + 1, end)
            if i >= end:
                return -1
            if stack[sp - 1] == 0x7B:
                i = _key(data, i, end, junk)[0]
                if i < 0:
                    return -1
            break


@njit(cache=True)
def _field_of_key(data, a, b, names, name_ends):
    """The field number of the raw key bytes ``a:b``, -1 for another key (or an escaped one,
    which could spell a field name: -2)."""
    for k in range(a, b):
        if data[k] == _BACKSLASH:
            return -2
    for f in range(name_ends.size - 1):
        s, e = name_ends[f], name_ends[f + 1]
        if e - s == b - a:
            same = True
            for k in range(e - s):
                if data[a + k] != names[s + k]:
                    same = False
                    break
            if same:
                return f
    return -1


@njit(cache=True)
def _record(data, i, end, kind, start, stop, ids, oi, urls, ou, texts, ot, scratch, stack,
            junk, names, name_ends, true_, false_, null_):
    """Read the object at ``i`` (white space skipped) up to ``end`` (the line's end), keeping
    its fields: ``kind`` per field, string and integer values written at ``oi`` of ``ids``
    (id), ``scratch`` (page_id), ``ou`` of ``urls``, ``ot`` of ``texts``, their spans in
    ``start``/``stop``. Returns the index after the object and the white space after it, or
    -1 when the line is not one this module takes."""
    for f in range(5):
        kind[f] = _ABSENT
    if i >= end or data[i] != 0x7B:
        return -1
    i = _skip_ws(data, i + 1, end)
    if i < end and data[i] == 0x7D:
        i += 1
    else:
        while True:
            i, a, b = _key(data, i, end, junk)
            if i < 0:
                return -1
            f = _field_of_key(data, a, b - 1, names, name_ends)
            if f == -2:
                return -1
            if f == -1:
                i = _skip_value(data, i, end, 1, stack, junk, true_, false_, null_)
            elif kind[f] != _ABSENT:
                return -1  # a field given twice: the readers keep the last, not taken
            else:
                c = data[i]
                if c == _QUOTE:
                    if f == _TEXT:
                        buf, at = texts, ot
                    elif f == _URL:
                        buf, at = urls, ou
                    elif f == _ID:
                        buf, at = ids, oi
                    else:
                        buf, at = scratch, 0
                    i, o = _string(data, i + 1, end, buf, at)
                    start[f], stop[f] = at, o
                    kind[f] = _STRING
                elif c == 0x6E:
                    i = _literal(data, i, end, null_)
                    kind[f] = _NULL
                elif (c == 0x2D or 0x30 <= c <= 0x39) and f in (_ID, _PAGE_ID):
                    a2 = i
                    i, plain = _number(data, i, end)
                    if i < 0 or not plain:
                        return -1
                    buf, at = (ids, oi) if f == _ID else (scratch, 0)
                    for k in range(i - a2):
                        buf[at + k] = data[a2 + k]
                    start[f], stop[f] = at, at + i - a2
                    kind[f] = _INT
                else:
                    return -1
            if i < 0:
                return -1
            i = _skip_ws(data, i, end)
            if i >= end:
                return -1
            if data[i] == 0x7D:
                i += 1
                break
            if data[i] != 0x2C:
                return -1
            i = _skip_ws(data, i + 1, end)
    return _skip_ws(data, i, end)


@njit(cache=True)
def _scan(data, n_lines, max_line, names, name_ends, true_, false_, null_):
    """Per record (non-blank line): its line's index, its page id (``id_kind`` _STRING, or
    _ABSENT for the reader's ``file:line`` fallback) and url (_STRING or _NULL) as spans of
    ``ids``/``urls``, its text as a span of ``texts`` (spans end at ``*_end[k + 1]``).
    ``ok`` is False when some line is not a plain text record (the module's doc); the rest
    is then meaningless."""
    n = data.size
    cap = n_lines  # records: at most one per line
    line_idx = np.empty(cap, dtype=np.int64)
    id_kind = np.empty(cap, dtype=np.int8)
    url_kind = np.empty(cap, dtype=np.int8)
    id_end = np.zeros(cap + 1, dtype=np.int64)
    url_end = np.zeros(cap + 1, dtype=np.int64)
    text_end = np.zeros(cap + 1, dtype=np.int64)
    ids = np.empty(n, dtype=np.uint8)
    urls = np.empty(n, dtype=np.uint8)
    texts = np.empty(n, dtype=np.uint8)
    scratch = np.empty(n, dtype=np.uint8)
    stack = np.empty(MAX_DEPTH, dtype=np.uint8)
    junk = np.empty(n, dtype=np.uint8)  # where strings that are not kept are written
    kind = np.zeros(5, dtype=np.int8)
    start = np.zeros(5, dtype=np.int64)
    stop = np.zeros(5, dtype=np.int64)
    nrec = oi = ou = ot = 0
    pos = 0
    line = -1
    ok = True
    while pos < n:
        line += 1
        # A blank line (bytes.isspace: ASCII white space, "\v" and "\f" included) is skipped.
        k = pos
        while k < n and (data[k] == 0x20 or 0x09 <= data[k] <= 0x0D) and data[k] != 0x0A:
            k += 1
        if k == n or data[k] == 0x0A:
            if k - pos > max_line:
                ok = False
                break
            pos = k + 1
            continue
        end = _record(data, _skip_ws(data, pos, n), n, kind, start, stop, ids, oi, urls, ou,
                      texts, ot, scratch, stack, junk, names, name_ends, true_, false_, null_)
        if end < 0 or (end < n and data[end] != 0x0A) or end - pos > max_line or nrec >= cap:
            ok = False
            break
        # A text page: text a string, no HTML (an HTML record goes the general way).
        if kind[_TEXT] != _STRING or kind[_HTML] == _STRING:
            ok = False
            break
        # The reader's page id: "id" if the record has that key, else "page_id"; null (or
        # neither) falls back to a non-empty url, then to "file:line".
        pid = _ID if kind[_ID] != _ABSENT else _PAGE_ID
        if kind[pid] >= _STRING:
            if pid == _PAGE_ID:
                for k in range(stop[pid]):
                    ids[oi + k] = scratch[k]
            oi += stop[pid] - start[pid]
            id_kind[nrec] = _STRING
        elif kind[_URL] == _STRING and stop[_URL] > start[_URL]:
            for k in range(stop[_URL] - start[_URL]):
                ids[oi + k] = urls[start[_URL] + k]
            oi += stop[_URL] - start[_URL]
            id_kind[nrec] = _STRING
        else:
            id_kind[nrec] = _ABSENT
        url_kind[nrec] = kind[_URL] if kind[_URL] == _STRING else _NULL
        if kind[_URL] == _STRING:
            ou = stop[_URL]
        ot = stop[_TEXT]
        line_idx[nrec] = line
        id_end[nrec + 1] = oi
        url_end[nrec + 1] = ou
        text_end[nrec + 1] = ot
        nrec += 1
        pos = end + 1
    return (ok, line_idx[:nrec], id_kind[:nrec], url_kind[:nrec], id_end[:nrec + 1],
            url_end[:nrec + 1], text_end[:nrec + 1], ids[:oi], urls[:ou], texts[:ot])


_NAMES = np.frombuffer(b"".join(_FIELD_NAMES), dtype=np.uint8)
_NAME_ENDS = np.cumsum([0, *map(len, _FIELD_NAMES)]).astype(np.int64)
_TRUE, _FALSE, _NULL_WORD = (np.frombuffer(w, dtype=np.uint8) for w in (b"true", b"false",
                                                                         b"null"))


def _valid_utf8(data: bytes) -> bool:
    """Whether ``data`` is strict UTF-8 (no overlong form, surrogate or code point above
    U+10FFFF: what Python's decoder and orjson refuse). Polars' cast checks it as Rust's
    ``str::from_utf8`` does, with SIMD: 2.6 ms per 20 MiB batch against 10.9 ms for Arrow's
    ``validate(full=True)`` (``tests/test_jsonl_scan.py`` holds it to Python's decoder)."""
    try:
        pl.Series([data], dtype=pl.Binary).cast(pl.String, strict=True)
    except pl.exceptions.ComputeError:
        return False
    return True


@dataclass(frozen=True)
class TextRecords:
    """The pages of a run of lines, as the readers would make them: columns, in order."""

    page_id: list[str]
    url: Any  # pyarrow string array
    text: Any  # pyarrow string array


def scan_text_records(data: bytes, n_lines: int, source: str, first_lineno: int,
                      max_line: int) -> TextRecords | None:
    """The text pages of ``data`` (``n_lines`` whole JSONL lines, the first one line
    ``first_lineno`` of ``source``), or None when some line is not a plain text record (the
    module's doc)."""
    import pyarrow as pa

    buf = np.frombuffer(data, dtype=np.uint8)
    (ok, line_idx, id_kind, url_kind, id_end, url_end, text_end, ids, urls,
     texts) = _scan(buf, n_lines, max_line, _NAMES, _NAME_ENDS, _TRUE, _FALSE, _NULL_WORD)
    # Python reads a line as UTF-8, strictly, before the JSON; checked after the scan, which
    # stops at the first line it does not take (an HTML record: the whole run goes the
    # general way without this check).
    if not ok or not _valid_utf8(data):
        return None
    n = line_idx.size

    def strings(ends: np.ndarray, body: np.ndarray, valid: np.ndarray | None) -> Any:
        mask = None if valid is None or valid.all() else pa.py_buffer(
            np.packbits(valid, bitorder="little"))
        return pa.LargeStringArray.from_buffers(n, pa.py_buffer(ends), pa.py_buffer(body),
                                                mask)

    page_id = strings(id_end, ids, None).to_pylist()
    if not id_kind.all():  # records with neither id nor url: "<file name>:<line>"
        name = os.path.basename(source)
        for k in np.flatnonzero(id_kind == _ABSENT).tolist():
            page_id[k] = f"{name}:{first_lineno + int(line_idx[k])}"
    return TextRecords(page_id, strings(url_end, urls, url_kind == _STRING),
                       strings(text_end, texts, None))


def warm_up() -> None:
    """Load (or compile) the scan once: the fork server does, so its workers need not."""
    scan_text_records(b'{"id": "a", "text": "b"}\n', 1, "warm-up", 1, 100)

"""The native JSONL pass (``jobs.jsonl_scan``) against the general reader: wherever it takes a
run of lines, it gives exactly the pages the general reader gives; whatever it is not sure of,
it leaves to the general reader."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest
from conftest import SAMPLE

from jobs import readers
from jobs.jsonl_scan import _valid_utf8, scan_text_records
from jobs.nightly import iter_batches
from jobs.pipeline import _text_pages, text_pages_frame
from jobs.readers import detect_input, resolve_record
from jobs.worker import Batch

SOURCE = "some/dir/in.jsonl"


def general(data: bytes, first_lineno: int = 1) -> list[tuple[str, dict]]:
    """What the nightly workers make of these lines the general way."""
    return [resolve_record(r) for r in readers._jsonl_records(
        io.BytesIO(data), SOURCE, True, first_lineno - 1)]


def native(data: bytes, first_lineno: int = 1) -> list[tuple[str, dict]] | None:
    n_lines = data.count(b"\n") + (data[-1:] not in (b"\n", b""))
    scanned = scan_text_records(data, n_lines, SOURCE, first_lineno, readers.MAX_PAGE_BYTES)
    if scanned is None:
        return None
    return [("page", {"page_id": p, "url": u, "source": SOURCE, "text": t, "html": None})
            for p, u, t in zip(scanned.page_id, scanned.url.to_pylist(),
                               scanned.text.to_pylist(), strict=True)]


# --- random lines: values of every kind the readers treat differently -------------------------

TEXTS = ["plain words.", "", "caf\u00e9 \u4e2d\u6587 \U0001F600", "quote \" back \\ slash /",
         "tab\tnew\nline\r\x08\x0c", "\x00nul", "\u2028\u2029", "x" * 50]
RAW_STRINGS = [  # JSON string literals written by hand: escapes json.dumps never writes
    b'"\\u00E9\\u4E2D"', b'"pair \\ud83d\\ude00"', b'"lone \\ud800 high"', b'"lone \\udc00"',
    b'"high then text \\ud83dx"', b'"\\/slash"', b'"bad \\x escape"', b'"raw \x01 control"',
    b'"bad utf8 \xff"', b'"overlong \xc0\xaf"', b'"surrogate \xed\xa0\x80"',
    b'"cut \xe4\xb8"', b'"ok \xe4\xb8\xad"', b'"unterminated', b'"\\u12"', b'"\\u00e9\\u0000"']
NUMBERS = [b"0", b"7", b"-3", b"-0", b"123456789012345678", b"1234567890123456789",
           b"123456789012345678901234567890", b"1.5", b"1e3", b"-0.0", b"1E+2", b"01", b"1.",
           b"-", b"NaN", b"Infinity", b"-Infinity", b"1e400"]


def _value(rng: random.Random, depth: int = 0) -> bytes:
    k = rng.random()
    if k < 0.3:
        return json.dumps(rng.choice(TEXTS), ensure_ascii=rng.random() < 0.5).encode()
    if k < 0.45:
        return rng.choice(RAW_STRINGS)
    if k < 0.6:
        return rng.choice(NUMBERS)
    if k < 0.7:
        return rng.choice([b"true", b"false", b"null", b"nul", b"True"])
    if depth > 3:
        return b"[]"
    items = [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.5:
        return b"[" + b", ".join(items) + b"]"
    return b"{" + b",".join(b'"k%d": ' % i + v for i, v in enumerate(items)) + b"}"


def _field(rng: random.Random, name: str) -> bytes:
    """A value for one of the record's fields, mostly of the kind it should be."""
    if rng.random() < 0.93:
        if name in ("id", "page_id") and rng.random() < 0.3:
            return rng.choice(NUMBERS[:7])
        if name == "html":
            return b"null"
        if name == "url" and rng.random() < 0.2:
            return rng.choice([b'""', b"null"])
        return json.dumps(rng.choice(TEXTS) + name, ensure_ascii=rng.random() < 0.5).encode()
    return _value(rng)


def _line(rng: random.Random) -> bytes:
    k = rng.random()
    if k < 0.08:
        return rng.choice([b"", b"  ", b"\t\r", b" \x0b\x0c ", b"\r"])
    if k < 0.1:
        return rng.choice([b"[1, 2]", b'"str"', b"null", b"not json", b"{", b"{}",
                           b'{"text": "a",}', b"{'text': 'a'}", b"\xef\xbb\xbf{}",
                           b'{"text": "a"} x', b'{"text": "a"}{"text": "b"}',
                           b'{"text": "a"}\x0c', b"[" * 70 + b"]" * 70])
    names = [n for n in ("id", "page_id", "url", "text", "html") if rng.random() < 0.6]
    if "text" not in names and rng.random() < 0.8:
        names.append("text")
    members = [(json.dumps(n).encode(), _field(rng, n)) for n in names]
    for _ in range(rng.randint(0, 2)):  # extra fields, some nested deep
        k = rng.random()
        value = (b"[" * 70 + b"1" + b"]" * 70 if k < 0.03 else _value(rng) if k < 0.3
                 else json.dumps({"x": [1, None, True, -2.5e-3, rng.choice(TEXTS)]}).encode())
        members.append((rng.choice([b'"meta"', b'"lang"', b'"k\\u0065y"']), value))
    if rng.random() < 0.03:  # a field twice, or spelled with an escape
        members.append(rng.choice([(b'"text"', b'"again"'), (b'"te\\u0078t"', b'"escaped"'),
                                   (b'"id"', b'"second"')]))
    rng.shuffle(members)
    ws = rng.choice([b"", b" ", b"\t", b"\r"])
    body = b"," .join(ws + k + ws + b":" + ws + v + ws for k, v in members)
    return rng.choice([b"", b" ", b"\t"]) + b"{" + body + b"}" + rng.choice([b"", b" ", b"\r"])


def test_native_pass_gives_the_general_readers_pages_or_declines() -> None:
    rng = random.Random(20261124)
    taken = declined = pages = 0
    for _ in range(3000):
        lines = [_line(rng) for _ in range(rng.randint(1, 4))]
        data = b"\n".join(lines) + rng.choice([b"\n", b""])
        first = rng.randint(1, 1000)
        expected = general(data, first)
        got = native(data, first)
        if got is None:
            declined += 1
            continue
        taken += 1
        pages += len(got)
        assert got == expected, data
    # Neither vacuous way round: both outcomes happen often.
    assert taken > 300 and declined > 300 and pages > 600


def test_what_the_native_pass_takes_and_declines() -> None:
    taken = [
        b'{"id": "a", "url": "http://x/a", "text": "hello"}',
        b'{"text": "no id"}',  # "in.jsonl:<line>"
        b'{"url": "", "text": "empty url"}',  # an empty url is no id either
        b'{"id": null, "page_id": "p", "url": "u", "text": "id null: the url"}',
        b'{"page_id": 7, "text": ""}',
        b'{"id": -12, "text": "t", "html": null}', b'{"id": -5, "text": "t"}',
        b'{"id": "e", "text": "\\ud83d\\ude00 \\u00e9 \\n", "meta": {"a": [1, 2.5e3, null]}}',
    ]
    for line in taken:
        assert native(line + b"\n", 5) == general(line + b"\n", 5), line
    assert native(b"\n".join(taken) + b"\n")[1][1]["page_id"] == "in.jsonl:2"
    declined = [
        b'{"id": "h", "html": "<p>x</p>"}',  # HTML: extracted the general way
        b'{"id": "n"}',  # quarantined: neither text nor html
        b'{"id": true, "text": "t"}', b'{"id": 1.5, "text": "t"}', b'{"id": -0, "text": "t"}',
        b'{"text": "a", "text": "b"}', b'{"te\\u0078t": "a"}', b'{"text": "\\ud800"}',
        b'{"text": "\xff"}', b'{"text": 5}', b'{"text": "t", "x": NaN}', b"[1]",
        b'{"url": 3, "text": "t"}', b'{"text": "t"}\x0c',
    ]
    for line in declined:
        assert native(line + b"\n") is None, line


def test_the_utf8_check_refuses_what_pythons_decoder_refuses() -> None:
    # Short strings of the bytes where UTF-8 validators differ: lead bytes of every length,
    # continuation bytes at both ends of their range, surrogates (ED A0), overlong forms (C0,
    # E0 80) and code points past U+10FFFF (F4 90, F5, F8).
    alphabet = [0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xED, 0xEF,
                0xF0, 0xF4, 0xF5, 0xF8]
    rng = random.Random(7)
    refused = 0
    for _ in range(5000):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        try:
            data.decode("utf-8")
            expected = True
        except UnicodeDecodeError:
            expected = False
        assert _valid_utf8(data) is expected, data
        refused += not expected
    assert 0 < refused < 5000
    assert _valid_utf8(b"") and _valid_utf8("caf\u00e9 \u4e2d \U0001F600".encode())


def test_lines_over_the_size_limit_are_left_to_the_general_reader(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_PAGE_BYTES", 30)
    fits = b'{"text": "' + b"a" * 18 + b'"}'  # 30 bytes
    assert native(fits + b"\n") == general(fits + b"\n")
    assert native(fits + b"a\n") is None  # 31 bytes: quarantined by the reader
    assert general(b" " * 31 + b"\n")[0][0] == "quarantine"
    assert native(b" " * 31 + b"\n") is None
    assert native(b" " * 30 + b"\n") == general(b" " * 30 + b"\n") == []


def test_batches_of_the_shipped_crawl_take_the_native_pass(tmp_path: Path) -> None:
    """The shipped crawl sample is read natively, batch by batch, into the same frame as the
    general way (and a batch that also holds a bad line goes the general way)."""
    sample = (SAMPLE / "crawl_sample.jsonl").read_bytes()
    path = tmp_path / "crawl.jsonl"
    path.write_bytes(sample + b"\n" + sample + b'{"id": "bad", "text": 5}\n' + sample)
    inputs = [detect_input(path), detect_input(SAMPLE / "crawl_sample.jsonl")]
    native_batches = 0
    for batch in iter_batches(inputs, 7):
        columns = batch.text_columns()
        pages, quarantined = batch.resolved()
        if columns is None:
            assert quarantined or any(p["html"] is not None for p in pages)
            continue
        native_batches += 1
        assert not quarantined
        assert text_pages_frame(**columns).equals(_text_pages(pages))
    assert native_batches >= 2 * sample.count(b"\n") // 7


def test_a_batch_of_records_not_lines_is_left_to_the_general_reader(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    import gzip

    path.write_bytes(gzip.compress(b'{"id": "a", "text": "t"}\n'))
    (batch,) = iter_batches([detect_input(path)], 10)
    assert batch.text_columns() is None
    assert Batch(0, []).text_columns() is None

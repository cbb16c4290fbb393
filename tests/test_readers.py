"""Readers on every format, with bad records quarantined, never raised."""

from __future__ import annotations

import gzip
import json
import os
import random
from pathlib import Path

import polars as pl
import pytest
import zstandard

from jobs import readers
from jobs.nightly import iter_batches
from jobs.readers import (
    InputError,
    detect_input,
    expand_records,
    held_open,
    read_input,
    resolve_record,
)
from jobs.worker import Batch


def read(path: Path) -> tuple[list[dict], list[dict]]:
    pages, quarantined = [], []
    for kind, rec in read_input(detect_input(path)):
        (pages if kind == "page" else quarantined).append(rec)
    return pages, quarantined


MIXED = [
    b'{"id": "a", "url": "http://x/a", "text": "hello"}',
    b'{"url": "http://x/b", "html": "<p>hi</p>"}',
    b"not json at all",
    b'{"id": "c", "text": "bad utf8 \xff\xfe"}',
    b'{"id": "d"}',
    b'{"id": "e", "text": 42}',
    b'{"id": ["x"], "text": "t"}',
    b"[1, 2]",
    b'{"page_id": 7, "text": ""}',
]


def test_jsonl_mixed_good_and_bad(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(MIXED) + b"\n")
    pages, bad = read(path)
    assert [p["page_id"] for p in pages] == ["a", "http://x/b", "7"]
    assert pages[1]["html"] == "<p>hi</p>" and pages[1]["text"] is None
    reasons = [q["reason"] for q in bad]
    assert len(bad) == 6
    assert any("invalid JSON" in r for r in reasons)
    assert any("invalid UTF-8" in r for r in reasons)
    assert any("neither 'text' nor 'html'" in r for r in reasons)
    assert any("'text' must be a string" in r for r in reasons)
    assert any("'id' must be a string or integer" in r for r in reasons)
    assert any("expected a JSON object" in r for r in reasons)


def test_jsonl_parsed_by_the_workers_gives_the_same_records(tmp_path: Path) -> None:
    """The nightly driver leaves JSONL lines unparsed (``defer_json``) and the workers resolve
    them: same records, same order, same quarantine reasons as parsing while reading."""
    path = tmp_path / "in.jsonl.gz"
    too_big = b'{"id": "big", "text": "' + b"x" * 40 + b'"}'
    path.write_bytes(gzip.compress(b"\n".join([*MIXED, b"", too_big]) + b"\n"))
    direct = list(read_input(detect_input(path)))
    deferred = list(read_input(detect_input(path), defer_json=True))
    assert sum(kind == "json" for kind, _ in deferred) == len(MIXED) + 1
    assert [resolve_record(r) for r in deferred] == direct
    pages, quarantined = Batch(0, deferred).resolved()
    assert pages == [rec for kind, rec in direct if kind == "page"]
    assert quarantined == [rec for kind, rec in direct if kind == "quarantine"]
    assert len(pages) + len(quarantined) == len(direct) == len(MIXED) + 1


def _random_jsonl(rng: random.Random, path: Path, max_page: int) -> Path:
    """A JSONL file of MIXED lines, blank ones, CRLF ones, lines over ``max_page`` bytes,
    maybe no final newline, maybe a cut last record."""
    parts = []
    for _ in range(rng.randint(0, 40)):
        k = rng.random()
        if k < 0.15:
            parts.append(rng.choice([b"\n", b"  \t \r\n"]))
        elif k < 0.25:
            parts.append(b'{"id": "big", "text": "' + b"a" * rng.randint(max_page - 30,
                                                                       2 * max_page) + b'"}\n')
        else:
            parts.append(rng.choice(MIXED) + rng.choice([b"\n", b"\r\n"]))
    data = b"".join(parts)
    if data and rng.random() < 0.4:
        data = data[:-1]
    if rng.random() < 0.1:
        data += b'{"id": 1, "text": "' + b"z" * max_page
    path.write_bytes(data)
    return path


def _newline_lines(data: bytes) -> list[bytes]:
    """``data`` cut after each "\\n" (not at "\\r" as ``splitlines`` does)."""
    parts = data.split(b"\n")
    return [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


@pytest.mark.parametrize(("scan_bytes", "range_read_bytes"), [(1, 1 << 30), (7, 1 << 30),
                                                              (64, 200), (8 << 20, 1)])
def test_batches_of_line_ranges_read_as_the_lines_themselves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scan_bytes: int,
        range_read_bytes: int) -> None:
    """The driver cuts a plain JSONL file into runs of lines by offset and the workers read
    them: the same records in the same order as reading the file line by line, over files
    and batches of every shape, with the scan's chunks ending anywhere and runs read whole or
    line by line; every batch but the last holds batch_size lines, or fewer that reach
    batch_bytes with their last line and not without it."""
    monkeypatch.setattr(readers, "MAX_PAGE_BYTES", 100)
    monkeypatch.setattr(readers, "LINE_SCAN_BYTES", scan_bytes)
    monkeypatch.setattr(readers, "RANGE_READ_BYTES", range_read_bytes)
    rng = random.Random(scan_bytes * 31 + range_read_bytes)
    records = cut_by_bytes = 0
    for i in range(60):
        inputs = [detect_input(_random_jsonl(rng, tmp_path / f"{i}-{j}.jsonl", 100))
                  for j in range(rng.randint(1, 3))]
        lines = [line for inp in inputs for line in _newline_lines(inp.path.read_bytes())]
        line_by_line = [r for inp in inputs for r in read_input(inp, defer_json=True)]
        batch_size = rng.choice([1, 2, 3, 7, 50])
        batch_bytes = rng.choice([None, 1, 30, 100, 400])
        batches = list(iter_batches(inputs, batch_size, None, batch_bytes))
        assert [r for b in batches for r in expand_records(b.records)] == line_by_line
        assert [b.index for b in batches] == list(range(len(batches)))
        at = 0  # lines of earlier batches
        for b in batches:
            n = sum(r[1].n_lines for r in b.records)
            size = sum(r[1].end - r[1].start for r in b.records)
            assert size == sum(map(len, lines[at:at + n]))
            if b is not batches[-1]:
                assert n == batch_size or (
                    n < batch_size and size >= batch_bytes > size - len(lines[at + n - 1]))
                cut_by_bytes += n < batch_size
            at += n
        assert at == len(lines)
        records += len(line_by_line)
    assert records > 500 and cut_by_bytes > 20  # not vacuous


@pytest.mark.parametrize("range_read_bytes", [1 << 30, 1])  # read whole, line by line
def test_line_ranges_of_a_file_that_changed_are_quarantined(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, range_read_bytes: int) -> None:
    """Lines a run found that are gone or moved when a worker reads them become one
    quarantined record naming them, not wrong pages or a crash."""
    monkeypatch.setattr(readers, "RANGE_READ_BYTES", range_read_bytes)
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in MIXED))
    [batch] = iter_batches([detect_input(path)], 100)
    path.write_bytes(b"".join(line + b"\n" for line in MIXED[:3]))  # truncated
    [(kind, rec)] = list(expand_records(batch.records))
    assert kind == "quarantine" and "input changed during the run: lines 1-9" in rec["reason"]
    path.write_bytes(b"".join(line + b"\n" for line in MIXED[:3]) + b"x" * 1000)  # moved
    *_, (kind, rec) = list(expand_records(batch.records))
    assert kind == "quarantine" and "input changed" in rec["reason"]
    path.write_bytes(b"\n" * (batch.records[0][1].end))  # same size, other lines
    [(kind, rec)] = list(expand_records(batch.records))
    assert kind == "quarantine" and "input changed" in rec["reason"]
    path.unlink()
    [(kind, rec)] = list(expand_records(batch.records))
    assert kind == "quarantine" and rec["reason"].startswith("unreadable input: lines 1-9")


def test_an_input_deleted_or_replaced_mid_run_is_still_read_whole(tmp_path: Path) -> None:
    """The driver holds each JSONL input open for the run (``held_open``) and the workers read
    their lines through it: deleting the file or renaming another over it after the batches
    were cut loses nothing, as when the driver read every line itself."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in MIXED))
    inp = detect_input(path)
    line_by_line = list(read_input(inp, defer_json=True))
    for change in ("delete", "replace"):
        with held_open([inp]) as read_paths:
            batches = list(iter_batches([inp], 2, read_paths))
            if change == "delete":
                path.unlink()
            else:
                other = tmp_path / "other.jsonl"
                other.write_bytes(b'{"id": "other", "text": "t"}\n')
                os.replace(other, path)
            got = [r for b in batches for r in expand_records(b.records)]
        assert [(k, p[1], p[2]) for k, p in got] == [(k, p[1], p[2]) for k, p in line_by_line]
        path.write_bytes(b"".join(line + b"\n" for line in MIXED))
    # Without held_open (the paths themselves) the deleted lines are quarantined, not lost
    # silently.
    batches = list(iter_batches([inp], 100))
    path.unlink()
    [(kind, rec)] = list(expand_records(batches[0].records))
    assert kind == "quarantine" and rec["reason"].startswith("unreadable input: lines 1-9")


def test_batch_size_below_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": "a", "text": "t"}\n')
    with pytest.raises(ValueError, match="batch_size"):
        next(iter_batches([detect_input(path)], 0))


# Lines the fast parser (orjson) refuses and the standard library reads or explains.
STDLIB_ONLY = [
    b'{"id": "nan", "text": "t", "score": NaN}',
    b'{"id": "big", "text": "t", "n": 123456789012345678901234567890}',
    b'{"id": 123456789012345678901234567890, "text": "t"}',
    b'{"id": "lone", "text": "half \\ud800 a pair"}',
    b'{"id": "lone-url", "url": "http://x/\\udc00", "text": "t"}',
    b'{"id": "deep", "text": "t", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"id": "int-text", "text": 123456789012345678901234567890}',
    b'{"id": "unused", "page_id": "\\ud800", "text": "t"}',
]
# Lines both parsers read; the same record must come out.
BOTH = [
    b'{"id": "pair", "text": "emoji \\ud83d\\ude00 and \\u00e9"}',
    b'{"id": "dup", "text": "first", "text": "second"}',
    b'{"id": 5, "url": null, "html": "<p>x</p>", "extra": {"a": [1, 2.5, true]}}',
    b'  {"id": "spaces", "text": "t"}  ',
]


def test_fast_and_standard_json_parsing_agree(tmp_path: Path) -> None:
    import jobs.readers as readers

    lines = STDLIB_ONLY + BOTH
    fast = [readers._record_from_json_line("s.jsonl", i, line) for i, line in enumerate(lines)]
    slow = [readers._record_from_json_text("s.jsonl", i, line) for i, line in enumerate(lines)]
    assert fast == slow
    kinds = {rec["page_id"] if kind == "page" else rec["reason"]: kind for kind, rec in fast}
    assert [k for k, kind in kinds.items() if kind == "page"] == [
        "nan", "big", "123456789012345678901234567890", "unused", "pair", "dup", "5", "spaces"]
    assert fast[8][1]["text"] == "emoji \U0001F600 and \u00e9"
    assert fast[9][1]["text"] == "second"
    lone = [rec["reason"] for kind, rec in fast if kind == "quarantine"]
    assert [rec["page_id"] for kind, rec in fast if kind == "quarantine"][:2] == [
        "lone", "lone-url"]  # the record's valid id is kept
    assert lone[0] == "line 3: field 'text' holds a lone surrogate (U+D800) at character 5"
    assert lone[1].startswith("line 4: field 'url' holds a lone surrogate (U+DC00)")
    assert "invalid JSON" in lone[2] or "recursion" in lone[2].lower()
    assert lone[3] == "line 6: field 'text' must be a string, got int"


def test_compressed_jsonl(tmp_path: Path) -> None:
    lines = b"\n".join(json.dumps({"id": str(i), "text": "t"}).encode() for i in range(50))
    gz = tmp_path / "in.jsonl.gz"
    gz.write_bytes(gzip.compress(lines))
    zst = tmp_path / "in.jsonl.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(lines))
    assert len(read(gz)[0]) == 50
    assert len(read(zst)[0]) == 50


def test_truncated_gzip_is_quarantined_after_good_lines(tmp_path: Path) -> None:
    lines = b"\n".join(json.dumps({"id": str(i), "text": "x" * 200}).encode() for i in range(400))
    data = gzip.compress(lines)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    pages, bad = read(path)
    assert 0 < len(pages) < 400
    assert len(bad) == 1 and "truncated or corrupt" in bad[0]["reason"]


def test_parquet(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    pl.DataFrame({"id": ["p1", "p2", None], "url": ["u1", None, "u3"],
                  "text": ["one", None, "three"], "html": [None, None, None]}).write_parquet(path)
    pages, bad = read(path)
    assert [p["page_id"] for p in pages] == ["p1", "u3"]
    assert len(bad) == 1 and "neither" in bad[0]["reason"]


def _warc_record(uri: str, body: bytes, ctype: str = "text/html; charset=windows-1251") -> bytes:
    http = (f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)
    head = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\n"
            f"WARC-Record-ID: <urn:uuid:{abs(hash(uri)):032x}>\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
            f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}\r\n\r\n"
            ).encode()
    return head + http + b"\r\n\r\n"


def test_warc_with_legacy_encoding(tmp_path: Path) -> None:
    html = "<html><head><meta charset='windows-1251'><title>Новости</title></head><body>" \
           "<p>Страница не найдена</p></body></html>"
    data = (_warc_record("http://a/1", html.encode("cp1251"))
            + _warc_record("http://a/img", b"\x89PNG", ctype="image/png"))
    path = tmp_path / "in.warc"
    path.write_bytes(data)
    gz = tmp_path / "in.warc.gz"
    gz.write_bytes(gzip.compress(data))
    for p in (path, gz):
        pages, bad = read(p)
        assert len(pages) == 1 and "Страница не найдена" in pages[0]["html"]
        assert pages[0]["url"] == "http://a/1"
        assert len(bad) == 1 and "not an HTML" in bad[0]["reason"]


def test_folder_with_mixed_encodings(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "a.html").write_bytes("<meta charset=gbk><p>页面不存在，请返回首页</p>".encode("gbk"))
    (root / "sub" / "b.htm").write_bytes(
        "<meta charset='euc-jp'><p>ページが見つかりません</p>".encode("euc_jp"))
    (root / "c.txt").write_text("plain text page", encoding="utf-8")
    (root / "ignored.png").write_bytes(b"\x89PNG")
    pages, bad = read(root)
    assert [p["page_id"] for p in pages] == ["a.html", "c.txt", "sub/b.htm"]
    assert "页面不存在" in pages[0]["html"]
    assert "ページが見つかりません" in pages[2]["html"]
    assert pages[1]["text"] == "plain text page"
    assert bad == []


def test_missing_and_unknown_inputs_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        detect_input(tmp_path / "nope.jsonl")
    odd = tmp_path / "x.csv"
    odd.write_text("a,b")
    with pytest.raises(InputError, match="cannot tell the format"):
        detect_input(odd)


def test_batches_of_records_end_at_the_byte_budget_too(tmp_path: Path) -> None:
    """Records the driver reads (compressed JSONL, folders) count towards a batch's bytes as
    plain JSONL lines do: a batch ends with the record that brings it to batch_bytes."""
    from jobs.readers import record_bytes

    big = [json.dumps({"id": f"p{i}", "html": "<p>" + "a" * (100 * (i % 7 + 1)) + "</p>"})
           for i in range(40)]
    gz = tmp_path / "pages.jsonl.gz"
    gz.write_bytes(gzip.compress(("\n".join(big) + "\n").encode()))
    folder = tmp_path / "site"
    folder.mkdir()
    for i in range(12):
        (folder / f"{i:02d}.html").write_text("<p>" + "b" * (50 * i) + "</p>")
    inputs = [detect_input(gz), detect_input(folder), detect_input(gz)]
    everything = [r for inp in inputs for r in read_input(inp, defer_json=True)]
    batches = list(iter_batches(inputs, 1000, None, 1500))
    assert [r for b in batches for r in b.records] == everything
    for b in batches[:-1]:
        sizes = [record_bytes(r) for r in b.records]
        assert sum(sizes) >= 1500 > sum(sizes[:-1])
    assert len(batches) > 10

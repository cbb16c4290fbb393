"""Read pages from JSONL (.gz/.zst), Parquet, WARC and folders of .html/.htm/.txt files.

Every record read becomes either a page (a dict with ``page_id``, ``url``, ``source``, ``text``,
``html``) or a quarantined record (``source``, ``page_id``, ``record``, ``reason``); nothing is
dropped silently and nothing here raises on bad content. Only a path that cannot be used at all
(missing, unknown format) raises ``InputError`` before any work starts.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson

from features.extract import decode_html

MAX_PAGE_BYTES = 32 * 1024 * 1024
RAW_KEEP_CHARS = 2000
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
TEXT_SUFFIXES = (".txt",)
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
WARC_SUFFIXES = (".warc", ".warc.gz", ".arc.gz")
HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
# The fields of a record that pagescore reads (``record_from_mapping``).
RECORD_FIELDS = ("id", "page_id", "url", "text", "html")


class InputError(ValueError):
    """An input path that cannot be read at all: a usage error, reported before any work."""


@dataclass(frozen=True)
class Input:
    path: Path
    kind: str  # jsonl | parquet | warc | folder | html | text

    @property
    def source(self) -> str:
        return str(self.path)


Page = dict[str, Any]
# ("page" | "quarantine", payload); or, from ``read_input(..., defer_json=True)``,
# ("json", (source, line number, line bytes)): a JSONL line not parsed yet (``resolve_record``);
# or, from ``jsonl_line_ranges``, ("lines", LineRange): lines of a file not read yet
# (``expand_records``).
Record = tuple[str, Any]


@dataclass(frozen=True)
class LineRange:
    """Lines ``first_lineno`` .. ``first_lineno + n_lines - 1`` of an uncompressed JSONL file:
    bytes ``start`` to ``end``. The driver only finds where they are; the process that scores
    them reads them, so the lines are neither read line by line nor pickled by the driver."""

    source: str
    path: str
    start: int
    end: int
    first_lineno: int
    n_lines: int


def detect_input(path: Path) -> Input:
    """Decide an input's format from what it is (folder) or its name; raise InputError."""
    if not path.exists():
        raise InputError(f"input does not exist: {path}")
    if path.is_dir():
        return Input(path, "folder")
    if not path.is_file():
        # A FIFO, socket or device given as an input would block or never end when hashed and
        # read; refuse it up front instead of hanging the night.
        raise InputError(f"input is not a regular file or folder: {path}")
    name = path.name.lower()
    for suffix in (".gz", ".zst", ".zstd"):
        if name.endswith(suffix) and name[: -len(suffix)].endswith(JSONL_SUFFIXES):
            return Input(path, "jsonl")
    if name.endswith(JSONL_SUFFIXES):
        return Input(path, "jsonl")
    if name.endswith(".parquet"):
        return Input(path, "parquet")
    if name.endswith(WARC_SUFFIXES):
        return Input(path, "warc")
    if name.endswith(HTML_SUFFIXES):
        return Input(path, "html")
    if name.endswith(TEXT_SUFFIXES):
        return Input(path, "text")
    raise InputError(
        f"cannot tell the format of {path}: expected a folder, .jsonl[.gz|.zst], .parquet, "
        ".warc[.gz], .html or .txt"
    )


def read_input(inp: Input, defer_json: bool = False) -> Iterator[Record]:
    """Yield every record of one input, in a deterministic order.

    With ``defer_json`` a JSONL line comes as a ``"json"`` record that ``resolve_record`` turns
    into a page or a quarantined record later: the nightly driver reads lines and its worker
    processes parse them, in parallel and without pickling the parsed pages between them."""
    readers = {
        "jsonl": partial(_read_jsonl, defer_json=defer_json),
        "parquet": _read_parquet,
        "warc": _read_warc,
        "folder": _read_folder,
        "html": _read_single_file,
        "text": _read_single_file,
    }
    try:
        yield from readers[inp.kind](inp)
    except OSError as exc:  # unreadable file, vanished mid-run, truncated compressed stream
        yield _quarantine(inp.source, None, "", f"unreadable input: {type(exc).__name__}: {exc}")


def is_plain_jsonl(inp: Input) -> bool:
    """An uncompressed JSONL file: its lines can be found by offset (``jsonl_line_ranges``)."""
    return inp.kind == "jsonl" and not inp.path.name.lower().endswith((".gz", ".zst", ".zstd"))


NEWLINE = ord("\n")
LINE_SCAN_BYTES = 8 << 20  # read at a time while looking for newlines


@contextmanager
def held_open(inputs: list[Input]) -> Iterator[dict[Path, str]]:
    """Hold every plain JSONL input open while the block runs; map each to a path that reaches
    the open file (``/proc/PID/fd/N``) for ``jsonl_line_ranges``' ``read_path``.

    Workers read their lines through it, so an input deleted or renamed over during the run is
    still read whole, as when the driver read every line through one open file. Where there is
    no ``/proc/PID/fd`` (not Linux), an input's own path (an empty mapping); an input that
    cannot be opened is left to the reader, which quarantines it with the reason."""
    paths: dict[Path, str] = {}
    fds: list[int] = []
    proc_fd = Path(f"/proc/{os.getpid()}/fd")
    try:
        if proc_fd.is_dir():
            for inp in inputs:
                if is_plain_jsonl(inp) and inp.path not in paths:
                    try:
                        fd = os.open(inp.path, os.O_RDONLY | os.O_CLOEXEC)
                    except OSError:
                        continue
                    fds.append(fd)
                    paths[inp.path] = str(proc_fd / str(fd))
        yield paths
    finally:
        for fd in fds:
            os.close(fd)


def newline_offsets(data: bytes) -> np.ndarray:
    """Where the newlines of ``data`` are. numpy's compare and gather run at about 4.8 GB/s
    here and give every position at once; cutting runs with ``bytes.count`` (2.9 GB/s) went
    over each chunk twice. A chunk of nothing but newlines makes an array of 8 bytes each."""
    return np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == NEWLINE)


def newline_count(data: bytes) -> int:
    """How many newlines ``data`` holds: ``newline_offsets(data).size`` without building the
    positions (0.067 against 0.109 s per 523 MB here)."""
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == NEWLINE))


def jsonl_line_ranges(inp: Input, budgets: Iterator[tuple[int, int]],
                      read_path: str | None = None) -> Iterator[Record]:
    """``("lines", LineRange)`` records that cut a plain JSONL file into runs of lines, the
    k-th run ending after the k-th budget's number of lines or with the line that reaches its
    number of bytes, whichever comes first (``budgets``: an endless iterator of (lines,
    bytes), both at least 1), the last run maybe shorter; a quarantined record if the file
    cannot be read. Together they hold every line once. The file is read, here and by the
    workers, at ``read_path`` (``held_open``) if given, else at its own path.

    Only newlines are looked for (their offsets in each chunk, ``newline_offsets``): reading a
    line, checking its size and skipping blank ones is ``read_line_range``'s work, done by the
    process that parses the lines."""
    source, path = inp.source, read_path or str(inp.path)
    start, lineno, have = 0, 1, 0  # the run being cut: first byte, first line, lines so far
    want, max_bytes = next(budgets)
    size, last = 0, b"\n"  # bytes read; the last of them
    try:
        with open(path, "rb", buffering=0) as fh:
            while chunk := fh.read(LINE_SCAN_BYTES):
                nl = newline_offsets(chunk)
                pos, k = 0, 0  # the run goes on at chunk[pos], after the chunk's k-th newline
                while True:
                    left = nl.size - k  # newlines in the chunk after pos
                    # The line that reaches the run's byte budget ends at the chunk's newline
                    # number ``at``.
                    at = int(np.searchsorted(nl, max(pos, start + max_bytes - 1 - size)))
                    by_bytes = at - k + 1 if at < nl.size else left + 1
                    if by_bytes > left and have + left < want:
                        break  # the run goes on into the next chunk
                    n = by_bytes if have + by_bytes <= want else want - have
                    k += n
                    pos = int(nl[k - 1]) + 1
                    yield "lines", LineRange(source, path, start, size + pos, lineno, have + n)
                    start, lineno, have = size + pos, lineno + have + n, 0
                    want, max_bytes = next(budgets)
                have += nl.size - k
                size += len(chunk)
                last = chunk[-1:]
    except OSError as exc:
        yield _quarantine(source, None, "", f"unreadable input: {type(exc).__name__}: {exc}")
        return
    if size > start:  # lines short of a whole run, or a last line without its newline
        yield "lines", LineRange(source, path, start, size, lineno,
                                 have + (last != b"\n"))


# A run of lines longer than this is read line by line, as a compressed file is: a single
# huge line (a broken export) then costs MAX_PAGE_BYTES of memory, not its whole length.
# A batch is at most about 20 MiB of lines plus its last line (``jobs.nightly``).
RANGE_READ_BYTES = 64 << 20


def read_line_range(rng: LineRange, data: bytes | Record | None = None) -> Iterator[Record]:
    """The records of a ``LineRange``: what ``_read_jsonl(..., defer_json=True)`` gives for
    the same lines (a ``"json"`` record per non-blank line, a quarantined one per line over
    ``MAX_PAGE_BYTES``), or a quarantined record for lines that cannot be read or moved.
    ``data``: what ``line_range_bytes`` gave for it, when the caller read it already."""
    if data is None:
        data = line_range_bytes(rng)
    if data is None:
        yield from _read_long_line_range(rng)
    elif isinstance(data, bytes):
        yield from _jsonl_records(io.BytesIO(data), rng.source, True, rng.first_lineno - 1,
                                  rng.n_lines)
    else:
        yield data


def line_range_bytes(rng: LineRange) -> bytes | Record | None:
    """The bytes of a ``LineRange``, or the quarantined record of lines that cannot be read or
    are no longer where they were; None, and nothing read, for a range over
    ``RANGE_READ_BYTES`` (read line by line instead)."""
    if rng.end - rng.start > RANGE_READ_BYTES:
        return None
    try:
        with open(rng.path, "rb") as fh:
            fh.seek(rng.start)
            data = fh.read(rng.end - rng.start)
    except OSError as exc:
        return _quarantine(rng.source, None, "", f"unreadable input: {_lines(rng)}: "
                           f"{type(exc).__name__}: {exc}")
    if (len(data) != rng.end - rng.start
            or newline_count(data) + (data[-1:] != b"\n") != rng.n_lines):
        return _moved(rng)
    return data


def _read_long_line_range(rng: LineRange) -> Iterator[Record]:
    """``read_line_range`` of a range over ``RANGE_READ_BYTES``, read line by line."""
    try:
        with open(rng.path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size < rng.end:
                yield _moved(rng)
                return
            fh.seek(rng.start)
            yield from _jsonl_records(fh, rng.source, True, rng.first_lineno - 1, rng.n_lines)
            if fh.tell() != rng.end:  # its lines moved while they were read
                yield _moved(rng)
    except OSError as exc:
        yield _quarantine(rng.source, None, "", f"unreadable input: {_lines(rng)}: "
                          f"{type(exc).__name__}: {exc}")


def _lines(rng: LineRange) -> str:
    return f"lines {rng.first_lineno}-{rng.first_lineno + rng.n_lines - 1}"


def _moved(rng: LineRange) -> Record:
    return _quarantine(rng.source, None, "", f"input changed during the run: {_lines(rng)} "
                       "are no longer where they were")


def record_bytes(record: Record) -> int:
    """About what a record weighs in a batch: its bytes of JSONL lines, or its page's text and
    HTML (characters), or nothing (a quarantined record keeps at most RAW_KEEP_CHARS)."""
    kind, payload = record
    if kind == "lines":
        return payload.end - payload.start
    if kind == "json":
        return len(payload[2])
    if kind == "page":
        return len(payload["text"] or "") + len(payload["html"] or "")
    return 0


def expand_records(records: list[Record],
                   range_data: list[bytes | Record | None] | None = None) -> Iterator[Record]:
    """``records`` with each ``"lines"`` record replaced by the records of its lines
    (``range_data``: per record, what ``line_range_bytes`` gave for it, if it was read)."""
    for i, record in enumerate(records):
        if record[0] == "lines":
            yield from read_line_range(record[1], range_data[i] if range_data else None)
        else:
            yield record


def resolve_record(record: Record) -> Record:
    """A deferred ``"json"`` record parsed and validated; any other record as it is."""
    kind, payload = record
    if kind == "json":
        return _record_from_json_line(*payload)
    return record


def _quarantine(source: str, page_id: str | None, raw: Any, reason: str) -> Record:
    if isinstance(raw, bytes):
        raw = raw[: RAW_KEEP_CHARS * 4].decode("utf-8", errors="replace")
    elif not isinstance(raw, str):
        raw = json.dumps(raw, ensure_ascii=False, default=str)[: RAW_KEEP_CHARS * 2]
    return "quarantine", {
        "source": source,
        "page_id": page_id,
        "record": raw[:RAW_KEEP_CHARS],
        "reason": reason,
    }


def _page(source: str, page_id: str, url: str | None, text: str | None, html: str | None) -> Record:
    return "page", {"page_id": page_id, "url": url, "source": source, "text": text, "html": html}


# --- JSONL -----------------------------------------------------------------------------------

def _open_maybe_compressed(path: Path) -> BinaryIO:
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if name.endswith((".zst", ".zstd")):
        return io.BufferedReader(_StrictZstdReader(path.open("rb")), 1 << 20)
    return path.open("rb")


class _StrictZstdReader(io.RawIOBase):
    """Decompress a (multi-frame) zstd stream and raise EOFError when it ends inside a frame.

    zstandard's ``stream_reader`` reports a stream cut inside a frame as a clean end of file:
    a truncated ``.jsonl.zst`` then loses its tail (or, cut in its only frame, every record)
    without a trace. Decompressing frame by frame makes the cut visible, like gzip does.
    """

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        super().__init__()
        self._raw = raw
        self._zstd = zstandard
        self._dobj = zstandard.ZstdDecompressor().decompressobj()
        self._in_frame = False  # bytes of the current frame were fed but its end not seen
        self._pending = b""
        self._offset = 0  # read position in _pending: slicing it per read would copy it
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while self._offset >= len(self._pending) and not self._eof:
            self._fill()
        n = min(len(view), len(self._pending) - self._offset)
        view[:n] = self._pending[self._offset:self._offset + n]
        self._offset += n
        return n

    def _fill(self) -> None:
        # Small input steps bound the output of one call (zstd can turn 256 bytes into ~8 MiB)
        # so a decompression bomb costs no more memory than with stream_reader; the file
        # object buffers the reads, and speed is the same as with 64 KiB steps.
        chunk = self._raw.read(1 << 8)
        if not chunk:
            self._eof = True
            if self._in_frame:
                raise EOFError("zstd stream ended inside a frame (file truncated)")
            return
        out = []
        while chunk:
            out.append(self._dobj.decompress(chunk))
            self._in_frame = not self._dobj.eof
            if not self._dobj.eof:
                break
            # The frame ended; whatever followed it starts the next frame.
            chunk = self._dobj.unused_data
            self._dobj = self._zstd.ZstdDecompressor().decompressobj()
        self._pending, self._offset = b"".join(out), 0

    def close(self) -> None:
        self._raw.close()
        super().close()


def _read_jsonl(inp: Input, defer_json: bool = False) -> Iterator[Record]:
    with _open_maybe_compressed(inp.path) as fh:
        yield from _jsonl_records(fh, inp.source, defer_json)


def _jsonl_records(fh: BinaryIO, source: str, defer_json: bool, lineno: int = 0,
                   max_lines: int | None = None) -> Iterator[Record]:
    """The records of the lines of ``fh`` from where it is (line ``lineno + 1``), up to
    ``max_lines`` lines."""
    stop = None if max_lines is None else lineno + max_lines
    while lineno != stop:
        try:
            line = fh.readline(MAX_PAGE_BYTES + 1)
        except (EOFError, OSError, Exception) as exc:  # zstd raises its own ZstdError
            yield _quarantine(source, None, "", f"truncated or corrupt compressed stream "
                              f"after line {lineno}: {type(exc).__name__}: {exc}")
            return
        if not line:
            return
        lineno += 1
        if len(line) > MAX_PAGE_BYTES and not line.endswith(b"\n"):
            yield _quarantine(source, None, line, f"line {lineno}: record larger than "
                              f"{MAX_PAGE_BYTES // 2**20} MiB")
            _skip_rest_of_line(fh)
            continue
        if line.isspace():  # a blank line (not line.strip(), which copies every line)
            continue
        if defer_json:
            yield "json", (source, lineno, line)
        else:
            yield _record_from_json_line(source, lineno, line)


def _skip_rest_of_line(fh: BinaryIO) -> None:
    while True:
        chunk = fh.readline(1 << 20)
        if not chunk or chunk.endswith(b"\n"):
            return


def _record_from_json_line(source: str, lineno: int, line: bytes) -> Record:
    # orjson parses a crawl line in about half the time of the standard library. It accepts
    # less (invalid UTF-8, lone surrogates, NaN, integers beyond 64 bits): such a line goes
    # through the standard library, which says what is wrong with it or reads it as before.
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return _record_from_json_text(source, lineno, line)
    if not isinstance(obj, dict):
        return _quarantine(source, None, line,
                           f"line {lineno}: expected a JSON object, got {type(obj).__name__}")
    if any(isinstance(obj.get(name), float) for name in RECORD_FIELDS):
        # orjson reads an integer beyond 64 bits as a float: the standard library keeps it
        # an integer (a valid id; a wrong type named as it is).
        return _record_from_json_text(source, lineno, line)
    return record_from_mapping(source, obj, fallback_id=(source, lineno), raw=line,
                               where=f"line {lineno}")


def _record_from_json_text(source: str, lineno: int, line: bytes) -> Record:
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _quarantine(source, None, line, f"line {lineno}: invalid UTF-8 at byte {exc.start}")
    try:
        obj = json.loads(decoded)
    except (json.JSONDecodeError, RecursionError) as exc:
        return _quarantine(source, None, decoded, f"line {lineno}: invalid JSON: {exc}")
    if not isinstance(obj, dict):
        return _quarantine(source, None, decoded,
                           f"line {lineno}: expected a JSON object, got {type(obj).__name__}")
    where = f"line {lineno}"
    # JSON can escape half of a surrogate pair ("\ud800"): Python keeps it, but it is no
    # Unicode text, and no later stage (polars, hashing, parsers) can take it. Only the fields
    # a page is made of count (``record_from_mapping`` reads "page_id" only without "id");
    # text beside HTML counts too: it is the page's text when the HTML yields none.
    id_field = "id" if "id" in obj else "page_id"
    for name in (id_field, "url", "text", "html"):
        value = obj.get(name)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                page_id = obj.get(id_field) if name != id_field else None
                return _quarantine(
                    source, str(page_id) if isinstance(page_id, str | int)
                    and not isinstance(page_id, bool) else None, decoded,
                    f"{where}: field '{name}' holds a lone surrogate "
                    f"(U+{ord(value[exc.start]):04X}) at character {exc.start}")
    return record_from_mapping(source, obj, fallback_id=(source, lineno), raw=decoded,
                               where=where)


def record_from_mapping(source: str, obj: dict[str, Any], *,
                        fallback_id: tuple[str, int] | None, raw: Any, where: str) -> Record:
    """Validate one record's fields (shared by JSONL and Parquet). A record with neither id nor
    url gets the id ``<file name>:<line or row>`` from ``fallback_id`` (path, number)."""
    page_id: Any = obj.get("id", obj.get("page_id"))
    url = obj.get("url")
    if url is not None and not isinstance(url, str):
        return _quarantine(source, None, raw, f"{where}: field 'url' must be a string, "
                           f"got {type(url).__name__}")
    if page_id is None:
        page_id = url if url else (
            f"{os.path.basename(fallback_id[0])}:{fallback_id[1]}" if fallback_id else None)
    if isinstance(page_id, bool) or not isinstance(page_id, (str, int)):
        return _quarantine(source, None, raw, f"{where}: field 'id' must be a string or integer, "
                           f"got {type(page_id).__name__}")
    page_id = str(page_id)
    text, html = obj.get("text"), obj.get("html")
    for name, value in (("text", text), ("html", html)):
        if value is not None and not isinstance(value, (str, bytes)):
            return _quarantine(source, page_id, raw, f"{where}: field '{name}' must be a string, "
                               f"got {type(value).__name__}")
    if text is None and html is None:
        return _quarantine(source, page_id, raw, f"{where}: record has neither 'text' nor 'html'")
    if isinstance(html, bytes):
        html = decode_html(html)
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if len(text or "") + len(html or "") > MAX_PAGE_BYTES:
        return _quarantine(source, page_id, raw, f"{where}: page larger than "
                           f"{MAX_PAGE_BYTES // 2**20} MiB")
    return _page(source, page_id, url, text, html)


# --- Parquet ---------------------------------------------------------------------------------

def _read_parquet(inp: Input) -> Iterator[Record]:
    import pyarrow.parquet as pq

    source = inp.source
    try:
        pf = pq.ParquetFile(inp.path)
    except Exception as exc:  # pyarrow raises ArrowInvalid for a truncated/corrupt footer
        yield _quarantine(source, None, "", f"unreadable Parquet file: {exc}")
        return
    wanted = [c for c in ("id", "page_id", "url", "text", "html") if c in pf.schema_arrow.names]
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=1024, columns=wanted):
            for obj in batch.to_pylist():
                row += 1
                yield record_from_mapping(source, obj, fallback_id=(inp.source, row),
                                          raw=obj, where=f"row {row}")
    except Exception as exc:
        yield _quarantine(source, None, "", f"Parquet file unreadable after row {row}: {exc}")


# --- WARC ------------------------------------------------------------------------------------

def _read_warc(inp: Input) -> Iterator[Record]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    source = inp.source
    n = 0
    cut_seen = False  # a record already reported the truncation: no second row for the file
    try:
        records = ArchiveIterator(str(inp.path), record_types=WarcRecordType.response,
                                  parse_http=True, stream_detect=True, quirks_mode=True,
                                  fsspec_args=False)
        for rec in records:
            n += 1
            url = rec.headers.get("WARC-Target-URI")
            page_id = rec.record_id or url or f"{inp.path.name}:{n}"
            body = rec.reader.read()
            ctype = (rec.http_content_type or "").lower() if rec.http_headers else ""
            if len(body) < rec.content_length:
                # fastwarc hands out a record cut by the end of the file as if it were whole;
                # its half page must not be scored as the page.
                cut_seen = True
                yield _quarantine(source, page_id, body[:200],
                                  f"record {n}: truncated, {len(body)} of "
                                  f"{rec.content_length} bytes present")
            elif rec.http_headers is None:
                yield _quarantine(source, page_id, body,
                                  f"record {n}: response without HTTP headers")
            elif not ctype.startswith(HTML_TYPES):
                yield _quarantine(source, page_id, body[:200],
                                  f"record {n}: not an HTML or text response ({ctype or 'none'})")
            elif len(body) > MAX_PAGE_BYTES:
                yield _quarantine(source, page_id, body, f"record {n}: page larger than "
                                  f"{MAX_PAGE_BYTES // 2**20} MiB")
            elif ctype.startswith("text/plain"):
                yield _page(source, page_id, url, decode_html(body), None)
            else:
                yield _page(source, page_id, url, None, decode_html(body))
    except Exception as exc:  # fastwarc raises on some corrupt streams
        yield _quarantine(source, None, "", f"WARC unreadable after record {n}: {exc}")
        return
    if not cut_seen:
        # fastwarc also ends silently when the file is cut inside headers or a skipped
        # (request, metadata) record: check that the stream ends where a record ends.
        problem = _warc_end_problem(inp.path)
        if problem:
            yield _quarantine(source, None, "", f"WARC truncated after record {n}: {problem}")


def _warc_end_problem(path: Path) -> str | None:
    """Why ``path`` does not end like a complete WARC file (None when it does).

    Every WARC record ends with CRLF CRLF, and a .gz must end at the end of a gzip member.
    This costs one extra decompression pass, which is small next to HTML parsing.
    """
    tail = b""
    if path.name.lower().endswith(".gz"):
        dobj = zlib.decompressobj(wbits=31)
        in_member = False
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                while chunk:
                    if not in_member and not chunk.strip(b"\0"):
                        break  # zero padding after the last member, as some writers add
                    try:
                        out = dobj.decompress(chunk)
                    except zlib.error as exc:
                        return f"corrupt gzip data: {exc}"
                    tail = (tail + out[-4:])[-4:]
                    in_member = not dobj.eof
                    if in_member:
                        break
                    chunk = dobj.unused_data
                    dobj = zlib.decompressobj(wbits=31)
        if in_member:
            return "gzip stream ends inside a member"
    else:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 4))
            tail = fh.read()
    if tail and not tail.endswith((b"\r\n\r\n", b"\n\n")):
        return "the file ends inside a record"
    return None


# --- folders and single files ------------------------------------------------------------------

def _read_folder(inp: Input) -> Iterator[Record]:
    root = inp.path
    # Every page-named entry that is not a folder counts: a dangling symlink or a FIFO named
    # x.html is a page we could not read and goes to quarantine, not silently away.
    files = sorted(
        p for p in root.rglob("*")
        if p.name.lower().endswith(HTML_SUFFIXES + TEXT_SUFFIXES) and not p.is_dir()
    )
    for path in files:
        yield _read_page_file(inp.source, path, path.relative_to(root).as_posix())


def _read_single_file(inp: Input) -> Iterator[Record]:
    yield _read_page_file(inp.source, inp.path, inp.path.name)


def _read_page_file(source: str, path: Path, page_id: str) -> Record:
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            # Never open a FIFO, socket or device: reading it could block the run forever.
            return _quarantine(source, page_id, "", "unreadable file: not a regular file")
        size = st.st_size
        if size > MAX_PAGE_BYTES:
            return _quarantine(source, page_id, "", f"file larger than {MAX_PAGE_BYTES // 2**20} MiB")
        data = path.read_bytes()
    except OSError as exc:
        return _quarantine(source, page_id, "", f"unreadable file: {exc.strerror or exc}")
    if path.name.lower().endswith(TEXT_SUFFIXES):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = decode_html(data)  # same detector: plain text in a legacy charset
        return _page(source, page_id, None, text, None)
    return _page(source, page_id, None, None, decode_html(data))

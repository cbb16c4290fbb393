"""One batch of read records -> scored rows, texts and quarantined rows.

This is the unit both engines run (the local process pool and Ray Data): pure apart from the
model it is given, so the same batch always gives the same rows.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import polars as pl

from features.compute import marked_features
from features.extract import HTML_FEATURE_DEFAULTS, extract_record
from features.kernels import utf8_buffer
from features.schema import FEATURE_NAMES
from models.registry import LoadedModel
from models.rules import rules_pass
from models.scorer import score_features

QUARANTINE_SCHEMA = {"source": pl.String, "page_id": pl.String, "record": pl.String,
                     "reason": pl.String}
ID_COLUMNS = {"page_id": pl.String, "url": pl.String, "source": pl.String,
              "content_hash": pl.String, "title": pl.String, "is_html": pl.Boolean}
EXTRACTED_SCHEMA = {**ID_COLUMNS, "text": pl.String,
                    **dict.fromkeys(HTML_FEATURE_DEFAULTS, pl.Float64), "n_links": pl.Int64}


def content_hash(text: str | None, html: str | None) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update((html if html is not None else text or "").encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def text_hashes(text: Any) -> list[str]:
    """``content_hash`` of each page of a text column (what ``utf8_buffer`` takes), read off
    its UTF-8 bytes in Arrow (no per-page encoding)."""
    data_buf, offsets = utf8_buffer(text)
    data, bounds = memoryview(data_buf), offsets.tolist()
    blake2b = hashlib.blake2b
    return [blake2b(data[a:b], digest_size=16).hexdigest()
            for a, b in zip(bounds, bounds[1:], strict=False)]


def extract_pages(pages: list[dict[str, Any]]) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Extract text and links for each page; a page whose extraction fails is quarantined."""
    if all(p["html"] is None for p in pages):
        return _text_pages(pages), []
    cols: dict[str, list[Any]] = {name: [] for name in EXTRACTED_SCHEMA}
    failed: list[dict[str, Any]] = []
    for p in pages:
        text, html = p["text"], p["html"]
        try:
            ex = extract_record(text, html)
        except Exception as exc:  # a parser bug must cost one page, not the run
            failed.append({"source": p["source"], "page_id": p["page_id"],
                           "record": (html or text or "")[:2000],
                           "reason": f"extraction failed: {type(exc).__name__}: {exc}"})
            continue
        cols["page_id"].append(p["page_id"])
        cols["url"].append(p["url"])
        cols["source"].append(p["source"])
        cols["content_hash"].append(content_hash(text, html))
        cols["title"].append(ex.title)
        cols["is_html"].append(html is not None)
        cols["text"].append(ex.text)
        for name in HTML_FEATURE_DEFAULTS:
            cols[name].append(getattr(ex, name))
        cols["n_links"].append(ex.n_links)
    return pl.DataFrame(cols, schema=EXTRACTED_SCHEMA), failed


def _text_pages(pages: list[dict[str, Any]]) -> pl.DataFrame:
    """``extract_pages`` of pages without HTML (a text crawl), column by column: what
    ``extract_record`` gives such a page is its text, no title and the plain-text defaults."""
    return text_pages_frame(
        [p["page_id"] for p in pages], [p["url"] for p in pages],
        [p["source"] for p in pages],
        pl.Series("text", [p["text"] or "" for p in pages], dtype=pl.String))


def text_pages_frame(page_id: Any, url: Any, source: Any, text: Any) -> pl.DataFrame:
    """The extracted frame (``EXTRACTED_SCHEMA``) of text pages given as columns (lists,
    pyarrow arrays or polars series; ``text`` without nulls)."""
    frame = pl.DataFrame({"page_id": page_id, "url": url, "source": source},
                         schema={name: EXTRACTED_SCHEMA[name]
                                 for name in ("page_id", "url", "source")})
    # Hashed before it becomes a polars column: a pyarrow array (the JSONL scan's) is read
    # in place, where the polars column would be copied back out of its string views.
    if isinstance(text, list):
        text = pl.Series("text", text, dtype=pl.String)
    hashes = text_hashes(text)
    text = pl.Series("text", text, dtype=pl.String)
    plain = extract_record("", None)
    return frame.with_columns(
        pl.Series("content_hash", hashes, dtype=pl.String),
        pl.lit(plain.title, pl.String).alias("title"),
        pl.lit(False).alias("is_html"),
        text,
        *(pl.lit(value, EXTRACTED_SCHEMA[name]).alias(name)
          for name, value in plain.html_features().items()),
        pl.lit(plain.n_links, pl.Int64).alias("n_links"),
    ).select(list(EXTRACTED_SCHEMA))


def process_batch(pages: list[dict[str, Any]], quarantined: list[dict[str, Any]],
                  loaded: LoadedModel) -> dict[str, Any]:
    """Return ``scores``, ``texts``, ``quarantine`` frames and stage ``timings`` (seconds)."""
    t0 = time.perf_counter()
    extracted, failed = extract_pages(pages)
    return score_extracted(extracted, quarantined + failed, loaded, time.perf_counter() - t0)


def score_extracted(extracted: pl.DataFrame, quarantined: list[dict[str, Any]],
                    loaded: LoadedModel, extract_s: float) -> dict[str, Any]:
    """``process_batch`` from the extracted frame on (``extract_s``: the time extracting
    took)."""
    t1 = time.perf_counter()
    feats, lines = marked_features(extracted)
    t2 = time.perf_counter()
    scored = score_features(loaded, feats, lines)
    rules = rules_pass(feats)
    t3 = time.perf_counter()
    scores = pl.concat(
        [extracted.select(*ID_COLUMNS, "n_links"), scored, rules.to_frame(), feats],
        how="horizontal",
    ).drop("title", "is_html")
    texts = extracted.select("page_id", "source", "title", "text", "is_html")
    quarantine = pl.DataFrame(quarantined, schema=QUARANTINE_SCHEMA)
    return {
        "scores": scores,
        "texts": texts,
        "quarantine": quarantine,
        "timings": {"extract": extract_s, "features": t2 - t1, "score": t3 - t2},
    }


SCORE_COLUMNS = ("page_id", "url", "source", "content_hash", "n_links", "score", "decision",
                 "reasons", "model_version", "rules_pass", *FEATURE_NAMES)

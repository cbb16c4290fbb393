"""Page-level data for the HTML report: the lowest-scoring pages for the table, and for the
lowest of those their text with per-line flags from the project's own line marking
(``features.lines.explode_lines`` + ``mark_lines``, the code the features are computed with)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from features.compute import scan_lines
from features.lines import split_lines
from features.schema import FEATURES, Group

TABLE_ROWS = 5000
TEXT_PAGES = 200
MAX_LINES = 3000
MAX_CHARS = 60_000

# Line flags of mark_lines, in the bit order used by the report's JavaScript.
FLAGS: tuple[tuple[str, str, str], ...] = (
    ("is_dup", "dup", "duplicated line"),
    ("is_error", "error", "error text"),
    ("is_wall", "wall", "wall text"),
    ("is_promo", "promo", "promotional link block"),
    ("is_boiler", "boiler", "boilerplate"),
)
# Which line flags carry the evidence for a feature group's reasons.
GROUP_FLAGS: dict[Group, tuple[str, ...]] = {
    "duplication": ("dup",),
    "error_text": ("error", "wall"),
    "spam_links": ("promo",),
    "boilerplate": ("boiler",),
}


def flag_bit(key: str) -> int:
    """The bit of line flag ``key`` (``dup``, ``error``, ...) in the per-line bitmask."""
    return 1 << [k for _, k, _ in FLAGS].index(key)


def _reason_prefix(template: str) -> str:
    return template.split(":", 1)[0].split("{", 1)[0].strip()


def reason_flag_keys() -> dict[str, list[str]]:
    """Normalised reason text (before ':') -> line-flag keys that show its evidence, derived
    from the declared features' reason templates and groups."""
    out: dict[str, list[str]] = {}
    for f in FEATURES:
        keys = GROUP_FLAGS.get(f.group, ())
        if keys:
            merged = out.setdefault(_reason_prefix(f.reason), [])
            merged.extend(k for k in keys if k not in merged)
    return out


def lowest_pages(partition: Path, limit: int = TABLE_ROWS) -> tuple[list[dict[str, Any]], int]:
    """The ``limit`` lowest-scoring pages (score, decision, reasons, source, page_id, url),
    lowest first, and the number of scored pages."""
    scores = pl.scan_parquet(partition / "scores.parquet")
    cols = ["page_id", "url", "source", "score", "decision", "reasons"]
    rows, total = pl.collect_all([
        scores.select(cols).bottom_k(limit, by=["score", "page_id"]).sort(["score", "page_id"]),
        scores.select(pl.len()),
    ])
    return rows.to_dicts(), int(total.item())


def _split_lines(base: pl.DataFrame) -> pl.DataFrame:
    """Every line (blank ones too) with its index among the page's non-blank lines, from the
    features' own ``split_lines`` so the two line numberings agree."""
    lines = split_lines(base).with_columns((pl.col("line") != "").alias("_nb")).drop("line")
    return lines.with_columns(
        pl.when(pl.col("_nb"))
        .then(pl.col("_nb").cast(pl.UInt32).cum_sum().over("_row") - 1)
        .cast(pl.UInt32).alias("nb_idx"))


def page_texts(partition: Path, pages: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """For each page (dicts with page_id and source), its title and lines as ``[text, bits]``
    where bit ``i`` is set when line flag ``FLAGS[i]`` marks the line; None if no text."""
    if not pages:
        return []
    keys = pl.DataFrame({"page_id": [p["page_id"] for p in pages],
                         "source": [p["source"] for p in pages]},
                        schema={"page_id": pl.String, "source": pl.String})
    keys = keys.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"))
    # A plain is_in predicate is pushed into the parquet scan, so only matching rows of the
    # (large) text column are kept; the exact (page_id, source) match happens afterwards.
    texts = (pl.scan_parquet(partition / "texts.parquet")
             .select("page_id", "source", "title", "text")
             .filter(pl.col("page_id").is_in(keys.get_column("page_id").unique().implode()))
             .collect()
             .join(keys.select("page_id", "source"), on=["page_id", "source"], how="semi")
             .unique(["page_id", "source"], keep="first", maintain_order=True))
    base = keys.join(texts, on=["page_id", "source"], how="inner").select(
        "_row", pl.col("text").fill_null(""), pl.col("title").fill_null(""))
    marked, head, _ = scan_lines(base)
    bits = pl.sum_horizontal(pl.col(col).cast(pl.UInt8) * (1 << i)
                             for i, (col, _, _) in enumerate(FLAGS)).alias("bits")
    flags = marked.select("_row", "nb_idx", bits)
    lines = (_split_lines(base)
             .join(flags, on=["_row", "nb_idx"], how="left", maintain_order="left")
             .group_by("_row", maintain_order=True)
             .agg(pl.col("raw"), pl.col("bits").fill_null(0)))
    title_bits = head.select("_row", (pl.col("title_error").cast(pl.UInt8) * flag_bit("error")
                                      + pl.col("title_wall").cast(pl.UInt8) * flag_bit("wall"))
                             .alias("tb"))
    titles = dict(base.join(title_bits, on="_row").select("_row", "title", "tb")
                  .rows_by_key("_row", unique=True))
    out: list[dict[str, Any] | None] = [None] * len(pages)
    for row, raw, flag_bits in lines.iter_rows():
        kept, chars = [], 0
        for text, b in zip(raw, flag_bits, strict=True):
            if len(kept) >= MAX_LINES or chars >= MAX_CHARS:
                break
            kept.append([text.rstrip(), int(b)])
            chars += len(text)
        title, tb = titles.get(row, ("", 0))
        out[row] = {"title": title, "title_bits": int(tb or 0), "lines": kept,
                    "truncated": len(kept) < len(raw), "n_lines": len(raw)}
    return out

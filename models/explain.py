"""Per-page reasons from the model's own per-feature contributions, with evidence lines."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import polars as pl

from features.schema import BY_NAME, FEATURE_NAMES, Feature

MAX_REASONS = 5
MIN_EFFECT = 0.10  # log-odds; smaller pulls are noise, not a reason
SNIPPET_CHARS = 70

# Which marked-line flag shows the evidence for a feature group.
EVIDENCE_FLAG = {"error": "is_error", "wall": "is_wall", "spam_links": "is_promo",
                 "duplication": "is_dup", "boilerplate": "is_boiler"}


def reason_key(feature: Feature) -> str:
    """Features that tell one story share a key, so a page gets one reason per defect."""
    if feature.group == "error_text":
        return feature.name.split("_")[0]  # "error" or "wall"
    if feature.group in ("duplication", "boilerplate", "spam_links"):
        return feature.group
    return feature.name


# What Python's str.split() splits on (the characters whose str.isspace() is true, written out:
# finding them costs 0.09 s at import; tests/test_explain.py checks the list), as a regex class:
# snippets are cut the way " ".join(line.split()) cuts them, which polars' \s (Unicode
# White_Space) does not match exactly (it leaves out U+001C..U+001F).
PYTHON_SPACES = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
                 "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_SPACE_RUN = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PYTHON_SPACES) + "]+"


@dataclass(frozen=True)
class ReasonTemplates:
    """What the feature declarations say about reasons, worked out once per process."""

    feats: list[Feature]  # in FEATURE_NAMES order
    members: dict[str, list[int]]  # reason key -> its features (defects only)
    prefix: pl.Series  # per feature: its reason's text before "{value}" ...
    suffix: pl.Series  # ... and after it ("" where the reason has not exactly one)
    holes: np.ndarray  # per feature: how many "{value}" its reason has
    percent: np.ndarray  # per feature: its one value is worded as "{:.0%}"
    evidence: list[str]  # per feature: the evidence kind that shows its reasons


@cache
def reason_templates() -> ReasonTemplates:
    feats = [BY_NAME[n] for n in FEATURE_NAMES]
    # Only features declared as defects can be reasons; others ('none') shift the score but
    # say nothing a reader can act on.
    members: dict[str, list[int]] = {}
    for j, f in enumerate(feats):
        if f.direction != "none":
            members.setdefault(reason_key(f), []).append(j)
    parts = [f.reason.format(value="\x00").split("\x00") for f in feats]
    holes = np.array([len(p) - 1 for p in parts])
    return ReasonTemplates(
        feats, members,
        pl.Series([p[0] if len(p) == 2 else "" for p in parts], dtype=pl.String),
        pl.Series([p[1] if len(p) == 2 else "" for p in parts], dtype=pl.String),
        holes,
        np.array([f.fmt == "{:.0%}" and f.shown_as == "value" for f in feats]) & (holes == 1),
        [reason_key(f) if reason_key(f) in ("error", "wall") else f.group for f in feats])


def evidence_lines(lines: pl.DataFrame, n_pages: int) -> dict[str, tuple[pl.Series, np.ndarray]]:
    """Per evidence kind: each page's first flagged line (null where it has none) and its
    number of flagged lines."""
    row = lines.get_column("_row").to_numpy()
    line = lines.get_column("line")
    out: dict[str, tuple[pl.Series, np.ndarray]] = {}
    for key, flag in EVIDENCE_FLAG.items():
        flagged = np.flatnonzero(lines.get_column(flag).to_numpy())
        counts = np.bincount(row[flagged], minlength=n_pages)[:n_pages]
        # np.unique's first index of each page is its first flagged line in frame order.
        pages, first = np.unique(row[flagged], return_index=True)
        at = pl.Series(np.full(n_pages, -1, dtype=np.int64))
        at[pages] = flagged[first]
        out[key] = (line.gather(at.set(at < 0, None)), counts)
    return out


def explain(values: np.ndarray, contrib: np.ndarray,
            evidence: dict[str, tuple[pl.Series, np.ndarray]],
            rows: np.ndarray | None = None) -> pl.Series:
    """Ranked reasons (most harmful first) for each page in ``rows`` (default all): a list of
    strings per page.

    A reason is a key (``reason_key``) whose features' contributions sum to at most
    -MIN_EFFECT; it is worded by the key's most harmful feature (``Feature.reason`` with the
    page's value), then, where the page has a line flagged for that kind of defect, the first
    such line (``evidence_lines``; white space runs made one space, cut to SNIPPET_CHARS) and
    how many more there are. Built column-wise: per-pair Python formatting cost 20 ms per
    4,000 pages."""
    rows = np.arange(values.shape[0]) if rows is None else np.asarray(rows)
    tmpl = reason_templates()
    members = tmpl.members
    n_rows = len(rows)
    if n_rows == 0 or not members:
        return _lists(pl.Series([], dtype=pl.String), np.zeros(n_rows, dtype=np.int64))
    part = contrib[rows]
    totals = np.column_stack([part[:, cols].sum(axis=1) for cols in members.values()])
    worst = np.column_stack([np.asarray(cols)[np.argmin(part[:, cols], axis=1)]
                             for cols in members.values()])
    ranked = np.argsort(np.where(totals <= -MIN_EFFECT, totals, np.inf), axis=1,
                        kind="stable")[:, :MAX_REASONS]
    n_reasons = np.minimum((totals <= -MIN_EFFECT).sum(axis=1), MAX_REASONS)
    # Every (page, reason) pair in order: its page, its feature and that feature's value.
    at = np.arange(ranked.shape[1])[None, :] < n_reasons[:, None]
    pair_row = np.broadcast_to(np.arange(n_rows)[:, None], at.shape)[at]
    pair_feat = worst[pair_row, ranked[at]]
    pair_page = rows[pair_row]
    words = _worded_values(tmpl, pair_feat, values[pair_page, pair_feat])
    # The first flagged line of the pair's page and kind, from all kinds' lines end to end.
    kinds = list(evidence)
    kind = np.array([kinds.index(k) if k in kinds else -1 for k in tmpl.evidence],
                    dtype=np.int64)
    n_pages = evidence[kinds[0]][0].len() if kinds else 0
    pair_kind = kind[pair_feat]
    slot = pl.Series(np.where(pair_kind >= 0, pair_kind * n_pages + pair_page, -1))
    all_lines = (pl.concat([evidence[k][0] for k in kinds]) if kinds
                 else pl.Series([], dtype=pl.String))
    all_counts = np.concatenate([evidence[k][1] for k in kinds] + [np.zeros(1, np.int64)])
    line, one_space = pl.col("line"), pl.col("one_space")
    snippet = (pl.when(one_space.str.len_chars() <= SNIPPET_CHARS).then(one_space)
               .otherwise(one_space.str.slice(0, SNIPPET_CHARS - 1) + "\u2026"))
    more = (pl.when(pl.col("n") > 1).then(pl.format(" (+{} more)", pl.col("n") - 1))
            .otherwise(pl.lit("")))
    tail = (pl.when(line.str.len_bytes() > 0).then(pl.format(": '{}'{}", snippet, more))
            .otherwise(pl.lit("")))
    text = pl.DataFrame({
        "prefix": tmpl.prefix.gather(pair_feat),
        "words": words,
        "suffix": tmpl.suffix.gather(pair_feat),
        "line": all_lines.gather(slot.set(slot < 0, None)),
        "n": all_counts[np.where(slot >= 0, slot, all_counts.size - 1)],
    }).with_columns(  # a column of its own: the branches below would each redo the regex
        line.str.replace_all(_SPACE_RUN, " ").str.strip_chars(" ").alias("one_space"),
    ).select(pl.concat_str("prefix", "words", "suffix", tail)).to_series()
    return _lists(text, n_reasons)


def _worded_values(tmpl: ReasonTemplates, feat: np.ndarray, value: np.ndarray) -> pl.Series:
    """What takes "{value}" in ``tmpl.feats[feat[i]].reason``: ``value[i]`` as
    ``describe_value`` words it (the whole reason where it has other than one placeholder)."""
    # "{:.0%}" is 100 * value rounded half to even (np.rint does the same to the same
    # double); a negative zero, a non-finite or a huge value is left to Python's format.
    pct = value * 100
    fast = tmpl.percent[feat] & np.isfinite(pct) & ~np.signbit(pct) & (pct < 1e15)
    words = pl.Series(np.where(fast, np.rint(pct), 0).astype(np.int64)).cast(pl.String) + "%"
    slow = np.flatnonzero(~fast)
    for j in np.unique(feat[slow]).tolist():
        at = slow[feat[slow] == j]
        f = tmpl.feats[j]
        worded = f.describe_values(value[at].tolist())
        if tmpl.holes[j] != 1:
            worded = [f.reason.format(value=w) for w in worded]
        words = words.scatter(at, pl.Series(worded, dtype=pl.String))
    return words


def _lists(flat: pl.Series, lengths: np.ndarray) -> pl.Series:
    """A List(String) column: row i holds the next ``lengths[i]`` strings of ``flat``, built from
    one flat array and offsets (polars converts a Python list of lists one inner list at a
    time; ``pyarrow.array`` on one imports pandas to check it, 0.4 CPU s in each worker)."""
    import pyarrow as pa

    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    strings = flat.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(pa.large_string())
    lists = pa.LargeListArray.from_arrays(
        pa.Array.from_buffers(pa.int64(), offsets.size, [None, pa.py_buffer(offsets)]),
        strings)
    series = pl.from_arrow(lists)
    assert isinstance(series, pl.Series)
    return series.cast(pl.List(pl.String))

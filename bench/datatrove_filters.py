#!/usr/bin/env python3
"""Run datatrove's FineWeb heuristic filter stack over a JSONL file and time it.

Filters, in FineWeb's order and settings: GopherRepetitionFilter, GopherQualityFilter,
C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter. Each record's ``text`` goes
through them in one process; a page stops at its first failing filter, as in datatrove's pipeline,
and C4QualityFilter's rewrite of the text is seen by the filter after it, as there too.

Prints one JSON line: pages, mb (UTF-8 text), kept, wall_s, cpu_s (user+sys of this process over
read + filter), tokenizer, plus dropped counts by reason. Runs in bench/.venv-datatrove
(made by bench/setup_datatrove.sh), never in the pagescore venv.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.word_tokenizers import (
    SpaCyTokenizer,
    WhitespaceTokenizer,
    WordTokenizer,
    strip_strings,
)

MB = 1_000_000

# How datatrove picks a word splitter (datatrove 0.10.1): every filter above takes `language` and
# calls utils.text.split_into_words / split_into_sentences(text, language), which go through
# utils.word_tokenizers.load_word_tokenizer(language). That function maps a language code to a
# tokenizer through assets/tokenizer_assignment.csv ("en" -> SpaCyTokenizer("en"), a blank spaCy
# pipeline plus its sentencizer) and, "for custom tokenizers", returns a WordTokenizer instance
# passed in its place unchanged. The built-in choices for English offline are all spaCy: "en", or
# WhitespaceTokenizer, datatrove's fallback, whose words still come from spaCy "xx" and whose
# sentences come from a regex. NLTK needs the punkt download; Stanza downloads a model.
# So the fastest offline option goes through that documented hook: RegexWordTokenizer below
# subclasses WhitespaceTokenizer (keeping its regex sentence splitter) and replaces only
# word_tokenize, the one method that still calls spaCy. The word regex copies what spaCy's English
# tokenizer does to most prose: punctuation comes off as its own token, so "the," still counts as
# the stop word "the" and "..." as a symbol, while URLs (less trailing punctuation), "3.5", "1:00"
# and "and/or" stay one token. It differs on "don't" and "e-mail" (one token; spaCy gives two and
# three), which moved no verdict measurably. A plain split on whitespace would be simpler but
# changes the verdicts: on the 2,212 distinct corpus pages it kept 636 where spaCy keeps 490
# (this regex: 486, same keep/drop verdict as spaCy on 2,182 pages, 98.6 %), at 5x spaCy's speed.


class RegexWordTokenizer(WhitespaceTokenizer):
    """WhitespaceTokenizer whose word split is one regex instead of spaCy "xx"."""

    _word = re.compile(r"(?:https?://|www\.)\S*[\w/]|\w+(?:[-'’.,:/]\w+)*|\.{3}|[^\w\s]")

    def word_tokenize(self, text: str) -> list[str]:
        """Split words and single punctuation marks (an ellipsis stays one token)."""
        return strip_strings(self._word.findall(text))


TOKENIZERS = {
    "regex": "RegexWordTokenizer (WhitespaceTokenizer sentences, regex words)",
    "spacy": 'SpaCyTokenizer("en") (datatrove default for English)',
    "whitespace": "WhitespaceTokenizer (datatrove fallback: spaCy xx words, regex sentences)",
}


def make_tokenizer(name: str) -> WordTokenizer:
    """Return the word tokenizer that every filter gets as its `language`."""
    if name == "regex":
        return RegexWordTokenizer()
    if name == "spacy":
        return SpaCyTokenizer("en")
    if name == "whitespace":
        return WhitespaceTokenizer()
    raise ValueError(f"unknown tokenizer {name!r}")


def make_filters(tokenizer: WordTokenizer) -> list[BaseFilter]:
    """The FineWeb heuristic stack, in FineWeb's order, with FineWeb's arguments."""
    # `language` is typed str, but load_word_tokenizer takes a WordTokenizer there too (see above).
    return [
        GopherRepetitionFilter(language=tokenizer),
        GopherQualityFilter(language=tokenizer),
        C4QualityFilter(filter_no_terminal_punct=False, language=tokenizer),
        FineWebQualityFilter(language=tokenizer),
    ]


def first_failure(filters: list[BaseFilter], doc: Document) -> str | None:
    """Return the reason of the first filter that drops doc, or None if all keep it."""
    for f in filters:
        result = f.filter(doc)
        ok, why = result if isinstance(result, tuple) else (result, None)
        if not ok:
            return why or f.name
    return None


def iter_records(path: Path) -> Iterator[tuple[str, str]]:
    """Yield (id, text) for every record of a JSONL file, streaming."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            rec = json.loads(line)
            yield str(rec.get("id", n)), rec.get("text") or ""


def run(path: Path, tokenizer_name: str, decisions: Path | None) -> dict[str, object]:
    """Filter every record of path; return the summary that main prints."""
    tokenizer = make_tokenizer(tokenizer_name)
    filters = make_filters(tokenizer)
    # spaCy builds its pipeline on first use: do that before the clock starts, so the figures
    # are per-page cost (the whole process, start-up included, is what /usr/bin/time reports).
    tokenizer.word_tokenize("Warm up.")
    tokenizer.span_tokenize("Warm up.")
    pages = kept = n_bytes = 0
    dropped: Counter[str] = Counter()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with decisions.open("w", encoding="utf-8") if decisions else nullcontext() as out:
        for doc_id, text in iter_records(path):
            pages += 1
            n_bytes += len(text.encode("utf-8"))
            reason = first_failure(filters, Document(text=text, id=doc_id))
            if reason is None:
                kept += 1
            else:
                dropped[reason] += 1
            if out:
                verdict = {"id": doc_id, "kept": reason is None, "reason": reason}
                out.write(json.dumps(verdict) + "\n")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "pages": pages,
        "mb": round(n_bytes / MB, 3),
        "kept": kept,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "pages_per_s": round(pages / wall, 1) if wall else None,
        "mb_per_cpu_s": round(n_bytes / MB / cpu, 3) if cpu else None,
        "tokenizer": TOKENIZERS[tokenizer_name],
        "dropped": dict(dropped.most_common()),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the filters, print one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", type=Path, help="JSONL with a `text` field per record")
    ap.add_argument("--tokenizer", choices=sorted(TOKENIZERS), default="regex")
    ap.add_argument("--decisions", type=Path, help="also write {id, kept, reason} per page here")
    args = ap.parse_args(argv)
    print(json.dumps(run(args.input, args.tokenizer, args.decisions), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

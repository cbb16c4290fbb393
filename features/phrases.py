"""Phrase lists (data/phrases/*.txt) compiled into polars line matchers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from re import _constants as sre_c
from re import _parser as sre_parse
from typing import Any

import polars as pl

PHRASE_DIR = Path(__file__).resolve().parent.parent / "data" / "phrases"


@dataclass(frozen=True)
class PhraseList:
    """Literal phrases (one Aho-Corasick pass) plus a few anchored regular expressions."""

    name: str
    literals: tuple[str, ...]
    patterns: tuple[str, ...]
    digest: str

    def matches(self, lowered: pl.Expr) -> pl.Expr:
        """Boolean expression: the lower-cased string contains any phrase of this list."""
        hit = lowered.str.contains_any(list(self.literals)) if self.literals else pl.lit(False)
        return hit | self.pattern_matches(lowered)

    def pattern_matches(self, lowered: pl.Expr) -> pl.Expr:
        """Boolean expression for the regular expressions alone (the literals are matched by
        ``features.kernels.phrase_automaton``)."""
        if not self.patterns:
            return pl.lit(False)
        # One contains per pattern: polars runs the joined alternation slower than the parts.
        return pl.any_horizontal(lowered.str.contains(p) for p in self.patterns)

    def first_match(self, line: str) -> str | None:
        """The phrase of this list found in one line (for explanations, not the hot path)."""
        import re

        low = line.lower()
        for phrase in self.literals:
            if phrase in low:
                return phrase
        for pattern in self.patterns:
            if re.search(pattern, low):
                return pattern
        return None


@cache
def load_phrases(name: str, directory: Path = PHRASE_DIR) -> PhraseList:
    """Read ``directory/name.txt``; ``re:`` lines are regexes, ``#`` lines comments."""
    path = directory / f"{name}.txt"
    raw = path.read_bytes()
    literals: list[str] = []
    patterns: list[str] = []
    for line in raw.decode("utf-8").splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if entry.startswith("re:"):
            patterns.append(entry[3:].strip())
        else:
            literals.append(entry.lower())
    return PhraseList(name, tuple(dict.fromkeys(literals)), tuple(patterns),
                      hashlib.sha256(raw).hexdigest()[:16])


@cache
def load_words(name: str, directory: Path = PHRASE_DIR) -> frozenset[str]:
    """A word list (one lower-case word per line, ``#`` comments)."""
    text = (directory / f"{name}.txt").read_text(encoding="utf-8")
    return frozenset(w.strip().lower() for w in text.splitlines()
                     if w.strip() and not w.strip().startswith("#"))


def phrase_lists_digest() -> str:
    """One hash over every phrase file: recorded with models and runs."""
    h = hashlib.sha256()
    for path in sorted(PHRASE_DIR.glob("*.txt")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


# Prefixes of this many characters are enough to pass a line over to a pattern's regex.
PREFIX_CHARS = 5


@dataclass(frozen=True)
class LineFilter:
    """A condition every line a pattern matches meets, cheap to test before the regex: the
    stripped lower-cased line starts with one of ``prefixes``, or holds one of ``substrings``;
    neither given means every line must go to the regex."""

    prefixes: tuple[str, ...] = ()
    substrings: tuple[str, ...] = ()


def line_filter(pattern: str) -> LineFilter:
    """What a line needs for ``pattern`` (a Rust regex, read here with Python's parser, which
    agrees on the literal, group, alternation and repeat syntax this looks at) to match it.

    Only sure conclusions are drawn: anything not understood (classes, categories, flags, a
    parse error) ends a prefix where it stands. A leading ``^\\s*`` matches nothing on a
    stripped line, whose lower-cased first character is not white space either
    (``tests/test_kernels.py`` checks both on the Unicode tables)."""
    if _has_rust_class_syntax(pattern):
        return LineFilter()
    try:
        parsed = sre_parse.parse(pattern)
    except Exception:  # noqa: BLE001 - Rust syntax Python lacks: no filter, still correct
        return LineFilter()
    if parsed.state.flags & ~sre_c.SRE_FLAG_UNICODE:  # (?i), (?x), ...: literals are not literal
        return LineFilter()
    items = list(parsed)
    if items and items[0] == (sre_c.AT, sre_c.AT_BEGINNING):
        items = items[1:]
        if items and _is_any_space(items[0]):
            items = items[1:]
        prefixes = _shortest({s for s, _ in _sequence(items, PREFIX_CHARS)})
        return LineFilter(prefixes=prefixes) if "" not in prefixes else LineFilter()
    literal = _longest_literal_run(items)
    if len(literal) >= 2:
        return LineFilter(substrings=(literal,))
    # Unanchored: the match starts with one of the prefixes somewhere in the line.
    starts = _shortest({s for s, _ in _sequence(items, PREFIX_CHARS)})
    return LineFilter(substrings=starts) if "" not in starts else LineFilter()


def _shortest(prefixes: set[str]) -> tuple[str, ...]:
    """The prefixes no shorter one of the set already covers."""
    kept: list[str] = []
    for s in sorted(prefixes):  # a prefix sorts right before the strings it starts
        if not kept or not s.startswith(kept[-1]):
            kept.append(s)
    return tuple(kept)


def _has_rust_class_syntax(pattern: str) -> bool:
    """Whether a bracketed class holds a nested class (``[[:alpha:]]``, ``[a[b]]``) or a set
    operation (``&&``, ``--``, ``~~``): Rust reads those where Python sees literals."""
    in_class = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if not in_class:
            if c == "[":
                in_class = True
                i += 1
                if pattern[i:i + 1] == "^":
                    i += 1
                if pattern[i:i + 1] == "]":  # a leading ] is a member
                    i += 1
                continue
        elif c == "[" or pattern[i:i + 2] in ("&&", "--", "~~"):
            return True
        elif c == "]":
            in_class = False
        i += 1
    return False


def _is_any_space(item: tuple[Any, Any]) -> bool:
    op, av = item
    return (op is sre_c.MAX_REPEAT and av[0] == 0
            and list(av[2]) == [(sre_c.IN, [(sre_c.CATEGORY, sre_c.CATEGORY_SPACE)])])


def _longest_literal_run(items: list[tuple[Any, Any]]) -> str:
    best = run = ""
    for op, av in items:
        run = run + chr(av) if op is sre_c.LITERAL else ""
        best = max(best, run, key=len)
    return best


# A prefix set is a set of (text, closed): closed when the match is exactly ``text`` so far
# (what follows it comes from the next items), open when it only starts with ``text``.
_Prefixes = set[tuple[str, bool]]


def _concat(left: _Prefixes, right: _Prefixes, k: int) -> _Prefixes:
    out: _Prefixes = set()
    for a, closed in left:
        if not closed:
            out.add((a, False))
            continue
        for b, b_closed in right:
            s = a + b
            out.add((s[:k], False) if len(s) >= k else (s, b_closed))
    return out


def _sequence(items: Any, k: int) -> _Prefixes:
    out: _Prefixes = {("", True)}
    for item in items:
        if not any(closed for _, closed in out):
            break
        out = _concat(out, _item(item, k), k)
    return out


def _item(item: tuple[Any, Any], k: int) -> _Prefixes:
    op, av = item
    if op is sre_c.LITERAL:
        return {(chr(av), True)}
    if op is sre_c.AT:
        return {("", True)}  # zero width: dropping the condition only widens the filter
    if op is sre_c.IN and av and all(o is sre_c.LITERAL for o, _ in av):
        return {(chr(c), True) for _, c in av}
    if op is sre_c.BRANCH:
        return set().union(*(_sequence(b, k) for b in av[1]))
    if op is sre_c.SUBPATTERN and not av[1] and not av[2]:
        return _sequence(av[3], k)
    if op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT) and av[0] <= k:
        return _repeat(av[0], av[1], _sequence(av[2], k), k)
    return {("", False)}


def _repeat(lo: int, hi: int, one: _Prefixes, k: int) -> _Prefixes:
    out: _Prefixes = {("", True)} if lo == 0 else set()
    acc: _Prefixes = {("", True)}
    for r in range(1, min(hi, lo + k) + 1):
        acc = _concat(acc, one, k)
        if r >= lo:
            out |= acc
    if hi > lo + k:
        # More repeats extend what is still closed: keep those as prefixes only.
        out |= {(s, False) for s, closed in acc if closed}
    return out

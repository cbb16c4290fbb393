"""Phrase lists (data/phrases/*.txt) compiled into polars line matchers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

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
        return lowered.str.contains("|".join(f"(?:{p})" for p in self.patterns))

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

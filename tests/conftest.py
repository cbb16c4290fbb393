"""Shared fixtures. Real pages come from ../shared/corpus when present (CI has it beside the
checkout) and from the shipped data/sample otherwise."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("PAGESCORE_SHARED", REPO.parent / "shared"))
SAMPLE = REPO / "data" / "sample"
SEED = SAMPLE / "pages" / "seed_page.txt"

needs_shared = pytest.mark.skipif(not (SHARED / "corpus").is_dir(),
                                  reason="../shared/corpus is not beside the checkout")


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def sample_texts() -> list[str]:
    """The text of every shipped sample page: the crawl records, then the page files."""
    texts = [json.loads(line)["text"] for line in
             (SAMPLE / "crawl_sample.jsonl").read_text().splitlines() if line.strip()]
    return texts + [p.read_text(errors="replace") for p in sorted((SAMPLE / "pages").iterdir())]

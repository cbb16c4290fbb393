"""Shared fixtures. Real pages come from ../shared/corpus when present (CI has it beside the
checkout) and from the shipped data/sample otherwise."""

from __future__ import annotations

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

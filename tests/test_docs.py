"""The README stays true to the code it documents."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from render_feature_table import README, render  # noqa: E402


def test_readme_feature_table_matches_the_declaration() -> None:
    text = README.read_text()
    assert render(text) == text, "run: python scripts/render_feature_table.py"


def test_readme_names_every_command() -> None:
    text = README.read_text()
    for command in ("pagescore nightly", "pagescore retrain", "pagescore report",
                    "pagescore label export", "pagescore label import", "pagescore models",
                    "make sample", "make test"):
        assert command in text
    assert "make test" in (REPO / ".ci" / "run").read_text()

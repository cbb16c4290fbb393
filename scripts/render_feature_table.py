"""Rewrite the README's feature table from the declaration in features/schema.py.

    .venv/bin/python scripts/render_feature_table.py        (tests/test_docs.py checks it)
"""

from __future__ import annotations

from pathlib import Path

from features.schema import FEATURE_SCHEMA_VERSION, FEATURES

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- features:start -->", "<!-- features:end -->"


def feature_table() -> str:
    rows = [f"Feature schema {FEATURE_SCHEMA_VERSION}, {len(FEATURES)} features.", "",
            "| feature | group | meaning | range | hurts when |", "|---|---|---|---|---|"]
    hurts = {"bad_high": "high", "bad_low": "low", "none": "-"}
    for f in FEATURES:
        hi = "inf" if f.hi >= 1e7 else f"{f.hi:g}"
        rows.append(f"| `{f.name}` | {f.group} | {f.meaning} | {f.lo:g}..{hi} | "
                    f"{hurts[f.direction]} |")
    return "\n".join(rows)


def render(readme: str) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{feature_table()}\n{END}{tail}"


if __name__ == "__main__":
    README.write_text(render(README.read_text()))

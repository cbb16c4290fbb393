#!/usr/bin/env bash
# Create (or bring up to date) bench/.venv-datatrove: datatrove 0.10.1 and what its heuristic
# filters need, apart from the pagescore venv so neither pins the other's packages.
# Idempotent: a second run finds everything installed and only re-checks the imports.
#   regex  - datatrove.utils.text imports it, but datatrove lists it only under its heavy
#            "processing" extra (trafilatura, fasttext, nltk, ...), none of which the filters use.
#   spacy  - datatrove's default English word splitter; datatrove_filters.py uses a faster regex
#            splitter by default and spaCy with --tokenizer spacy, to check verdicts against it.
#            No spaCy model is downloaded: datatrove uses spacy.blank("en").
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$bench_dir/.venv-datatrove"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
requirements=("datatrove==0.10.1" "regex>=2024.4" "spacy>=3.8,<3.9")

if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv with $("$python" --version)"
    "$python" -m venv "$venv"
fi
# Exact pins already satisfied make pip a quick no-op, so this stays cheap on re-runs.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
"$venv/bin/python" - <<'EOF'
from importlib.metadata import version

from datatrove.pipeline.filters import (  # noqa: F401
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)

print("datatrove venv ready:", ", ".join(f"{p} {version(p)}" for p in ("datatrove", "regex", "spacy")))
EOF

#!/usr/bin/env bash
# Benchmark pagescore against datatrove's FineWeb heuristic filters on the same pages.
# Usage: bench/run.sh [PAGES] [HTML_SHARE]      (defaults: 100000 0.02, about 10 minutes:
#        98,000 text pages for both sides, 2,000 raw HTML pages for pagescore;
#        bench/run.sh 10000 0.2 is a one-minute run, where start-up weighs more)
# Builds a corpus from ../shared/corpus in a temp dir, runs each side once under /usr/bin/time -v
# (pagescore after an untimed 50-page run that makes sure its compiled kernels are cached),
# one after the other (never together: 2 cores, and each would slow the other), then prints the
# table from bench/summarize.py. Both sides read DIR/text.jsonl. With HTML_SHARE > 0 a third,
# pagescore-only run reads DIR/html.jsonl (raw HTML: decoding and main-content extraction
# included); datatrove would need its own extractor there, so it is not compared on HTML.
# Env: KEEP=1 keeps the work dir (corpus, logs, pagescore's runs/); BENCH_TMP sets where it goes.
set -euo pipefail

pages="${1:-100000}"
html_share="${2:-0.02}"
bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$bench_dir")"
cd "$root"

time_bin=/usr/bin/time  # GNU time: the shell keyword `time` has no -v (peak RSS)
if [ ! -x "$time_bin" ]; then
    echo "run.sh: $time_bin is missing (peak RSS and CPU come from its -v report)." >&2
    echo "        It is Debian's package 'time': apt-get update && apt-get install -y time" >&2
    exit 1
fi
# build_corpus.py and summarize.py need only the standard library.
py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python

tmp_parent="${BENCH_TMP:-${TMPDIR:-/tmp}}"
mkdir -p "$tmp_parent"
work="$(mktemp -d "$tmp_parent/pagescore-bench.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
    trap 'echo "work dir kept: $work"' EXIT
else
    trap 'rm -rf "$work"' EXIT
fi

echo "== corpus: $pages pages, html share $html_share"
"$py" bench/build_corpus.py --pages "$pages" --html-share "$html_share" --out "$work/corpus"
text="$work/corpus/text.jsonl"
# The corpus was just written: flush it to disk now, so that writing it back cannot overlap
# (and add system time to) the timed runs.
sync

echo "== pagescore"
if [ -x .venv/bin/pagescore ]; then
    # Untimed warm-up on 50 pages: the first run after an install compiles the feature
    # kernels (10-20 s, once) into numba's on-disk cache; every later nightly run loads them.
    # Without this, a fresh clone's figures would be those of the one run that compiles.
    head -n 50 "$text" >"$work/warmup.jsonl"
    .venv/bin/pagescore nightly "$work/warmup.jsonl" --out "$work/runs-warmup" \
        --date 2000-01-01 -q >"$work/warmup.log" 2>&1 ||
        { echo "pagescore warm-up failed; last lines of its log:"; tail -n 20 "$work/warmup.log"; }
    # A failing side is reported in the table, not fatal: the other side's figures still count.
    "$time_bin" -v -o "$work/pagescore.time" \
        .venv/bin/pagescore nightly "$text" --out "$work/runs" --date 2000-01-01 \
        >"$work/pagescore.log" 2>&1 ||
        { echo "pagescore failed; last lines of its log:"; tail -n 20 "$work/pagescore.log"; }
else
    msg="$root/.venv/bin/pagescore does not exist (install pagescore into the repo's .venv: .venv/bin/pip install -e .)"
    echo "SKIPPED: $msg"
    echo "$msg" >"$work/pagescore.skipped"
fi

echo "== datatrove"
if [ ! -x bench/.venv-datatrove/bin/python ]; then
    bash bench/setup_datatrove.sh
fi
"$time_bin" -v -o "$work/datatrove.time" \
    bench/.venv-datatrove/bin/python bench/datatrove_filters.py "$text" \
    >"$work/datatrove.json" 2>"$work/datatrove.log" ||
    { echo "datatrove failed; last lines of its log:"; tail -n 20 "$work/datatrove.log"; }

if [ -s "$work/corpus/html.jsonl" ] && [ -x .venv/bin/pagescore ]; then
    echo "== pagescore on HTML"
    "$time_bin" -v -o "$work/pagescore-html.time" \
        .venv/bin/pagescore nightly "$work/corpus/html.jsonl" --out "$work/runs-html" \
        --date 2000-01-01 >"$work/pagescore-html.log" 2>&1 ||
        { echo "pagescore (HTML) failed; last lines of its log:"; tail -n 20 "$work/pagescore-html.log"; }
fi

echo
"$py" bench/summarize.py "$work"

if [ -s "$work/corpus/html.jsonl" ] && [ -x .venv/bin/python ]; then
    echo
    echo "== HTML extraction floor (the parsers alone, one process; bench/html_floor.py)"
    .venv/bin/python bench/html_floor.py "$work/corpus/html.jsonl" --pages 500 ||
        echo "html_floor.py failed"
fi

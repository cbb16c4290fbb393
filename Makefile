# Two verbs do all the set-up on a fresh machine (Python 3.11, Debian):
#   make sample   install, then run the nightly job on data/sample with the shipped model
#   make test     install (with test tools and Debian's chromium), then run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
DATE ?= $(shell date +%F)

.PHONY: sample test install install-test chromium lint bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

install: $(VENV)/.installed

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,ray]'
	touch $@

install-test: $(VENV)/.installed-test chromium

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: sudo apt-get install chromium (the browser test will be skipped)"; fi; }

sample: install
	$(VENV)/bin/pagescore nightly data/sample/crawl_sample.jsonl data/sample/pages --out runs --date $(DATE)
	$(VENV)/bin/pagescore report runs/date=$(DATE)

test: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

bench: install
	bash bench/run.sh $(PAGES)

clean:
	rm -rf runs .pytest_cache .ruff_cache

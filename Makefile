# rdqn: build the book and run every test tier.
#
#   make book    create .venv if needed, install requirements.txt, execute every notebook,
#                build the HTML book into _build/html (warnings are errors)
#   make test    unit + slow learning tests, nbval on the notebooks (seed 0), the book build with every
#                notebook executed under RDQN_BOOK_SEED=1 (so each claim is checked on a second seed), then
#                a headless-browser check of every built page (installs Debian's chromium and
#                chromium-driver itself when run as root with apt; otherwise says what to run). Its notebooks
#                run on the CPU, where their stored outputs and asserted margins were measured, even on a GPU
#                machine (RDQN_DEVICE=cpu; `RDQN_DEVICE=cuda make test` runs them on the GPU instead)
#   make clean   remove build outputs and caches (keeps .venv); make distclean also removes .venv
#
# No activation needed: every tool is called from .venv/bin explicitly.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Re-install only when the requirements or the package metadata change. The stamp lives
# inside .venv, so deleting .venv also forces a re-install.
STAMP  := $(VENV)/.stamp-requirements

# --all: `execute_notebooks: force` only re-executes pages Sphinx re-reads, so without it an
# unchanged notebook would keep stale (even failed) outputs after rdqn_core changed.
# -W -n --keep-going: warnings and broken references fail the build, all reported at once.
BOOK_FLAGS := --all -W -n --keep-going

# Notebooks are named explicitly, so pytest never collects the copies under _build/.
NOTEBOOKS := $(sort $(wildcard book/*.ipynb))
# --nbval-lax: every cell must run without error (learning criteria are `assert`s in the
# notebooks); only cells tagged `nbval-check-output` have their output compared. Set
# NBVAL_MODE=--nbval to compare every cell not tagged `nbval-ignore-output`.
NBVAL_MODE ?= --nbval-lax
# --dist loadfile keeps each notebook on one worker (splitting its cells across workers fails).
NBVAL_FLAGS := $(NBVAL_MODE) --nbval-current-env --nbval-cell-timeout=600 \
               --nbval-sanitize-with book/nbval_sanitize.cfg \
               -p no:cacheprovider -n 2 --dist loadfile

.PHONY: help venv book test test-unit test-notebooks test-browser build-book browser-deps clean distclean

help:
	@echo "make book       build the book into _build/html (creates .venv on first use)"
	@echo "make test       unit tests, slow learning test, nbval on notebooks, book build with -W, browser check"
	@echo "make clean      remove _build and caches (keeps .venv)"
	@echo "make distclean  clean, and remove .venv"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -r requirements.txt
	touch $@

venv: $(STAMP)

book: build-book
	@echo "Book built: open _build/html/index.html"

# RDQN_BOOK_SEED: the one seed every notebook takes (default 0, what readers get); make test builds with 1.
build-book: $(STAMP)
	RDQN_BOOK_SEED=$${RDQN_BOOK_SEED:-0} $(BIN)/jupyter-book build . $(BOOK_FLAGS)

# Two xdist workers, one per core of the CI machine: the two slow learning tests (3-6 min each, one torch
# thread) then run side by side and the tier takes about half its one-process time. Tests that measure
# rates hold their ratios under that load (their limits are hang guards, not speed assertions).
# UNIT_WORKERS=0 runs everything in one process; --durations prints where the time went.
UNIT_WORKERS ?= 2
test-unit: $(STAMP)
	@echo "=== [1/4] unit and learning tests: pytest tests (browser tests excluded) ==="
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(UNIT_WORKERS) --durations=15 tests --ignore=tests/browser

test-notebooks: $(STAMP)
	@echo "=== [2/4] notebooks: nbval ==="
ifeq ($(strip $(NOTEBOOKS)),)
	@echo "no notebooks in book/*.ipynb yet: nbval step skipped"
else
	RDQN_DEVICE=$${RDQN_DEVICE:-cpu} $(BIN)/python -m pytest $(NBVAL_FLAGS) $(NOTEBOOKS)
endif

# In order; the first failing step stops the run with its non-zero exit code.
# (pytest's exit code 5, "no tests collected", is a failure too.)
test: $(STAMP)
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-notebooks
	@echo "=== [3/4] book build, warnings as errors, every notebook executed with RDQN_BOOK_SEED=1 ==="
	RDQN_BOOK_SEED=1 RDQN_DEVICE=$${RDQN_DEVICE:-cpu} $(MAKE) --no-print-directory build-book
	$(MAKE) --no-print-directory test-browser

# Opens every page of the built book (_build/html) in headless chromium: images, widgets, math,
# console errors, links, local-only scripts; screenshots go to _build/screenshots/. Fails (not
# skips) when _build/html or chromium/chromedriver is missing. Run `make book` first.
test-browser: $(STAMP) browser-deps
	@echo "=== [4/4] built book in a headless browser: pytest tests/browser ==="
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/browser

# Debian's chromium and chromium-driver (and an emoji font for faithful screenshots): installed here when
# they are missing and this runs as root with apt-get; otherwise one line says what to run.
BROWSER_PACKAGES := chromium chromium-driver fonts-noto-color-emoji
browser-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "chromium or chromedriver missing: installing $(BROWSER_PACKAGES) with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES); \
	else \
	    echo "error: the browser test needs chromium and chromedriver; run: sudo apt-get install -y $(BROWSER_PACKAGES)"; \
	    exit 1; \
	fi

clean:
	rm -rf _build .pytest_cache
	find . \( -path ./$(VENV) -o -path ./.git \) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints -o -name '*.egg-info' \) -print0 \
	    | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV)

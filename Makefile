# Convenience targets; the README's two commands need only Python, not make.
PY ?= .venv/bin/python
VENV := .venv/bin

.PHONY: install lock run demo test test-fast lint format typecheck contracts check bench clean

install: .venv/bin/vsm
.venv/bin/vsm: pyproject.toml requirements-dev.lock
	python3 -m venv .venv && $(VENV)/pip install -q -r requirements-dev.lock -e '.[dev]'
	@touch $@

# The one command after a change to pyproject.toml's dependencies: pins every package CI and
# the image install (existing pins are kept; add --upgrade to move them).
LOCK := $(VENV)/pip-compile -q --strip-extras --no-header --no-emit-index-url --no-emit-find-links
lock: install          ## regenerate requirements.lock and requirements-dev.lock
	$(LOCK) --output-file=requirements.lock pyproject.toml
	$(LOCK) --extra dev --output-file=requirements-dev.lock pyproject.toml

demo: install          ## start the API with the example boards imported
	$(VENV)/vsm serve --demo

run: install           ## digitize the German example board in the terminal
	$(VENV)/vsm import examples/miro-abo-workshop.json

test: install          ## the whole suite (PostgreSQL/Redis tests skip locally when absent)
	$(VENV)/pytest

test-fast: install     ## skip the end-to-end and browser tests
	$(VENV)/pytest -m "not slow and not browser"

lint: install
	$(VENV)/ruff check . && $(VENV)/ruff format --check .

format: install
	$(VENV)/ruff format . && $(VENV)/ruff check --fix .

typecheck: install
	$(VENV)/mypy service connectors workers

contracts: install
	$(VENV)/lint-imports

check: lint typecheck contracts test

bench: install
	$(VENV)/python bench/digitize.py

clean:
	rm -rf .venv var test-output .pytest_cache .mypy_cache .ruff_cache

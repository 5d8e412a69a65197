# Convenience targets; the README's two commands need only Python, not make.
PY ?= .venv/bin/python
VENV := .venv/bin

.PHONY: install run demo test test-fast lint format typecheck contracts check bench clean

install: .venv/bin/vsm
.venv/bin/vsm: pyproject.toml
	python3 -m venv .venv && $(VENV)/pip install -q -e '.[dev]'
	@touch $@

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

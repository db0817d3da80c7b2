# Two entry points: `make build` (demo gallery into output/) and `make test` (the whole suite).
# Both create .venv when it is missing. `make build` installs only what the generator needs to
# run; `make test` adds the test extras (loopback servers, Playwright, moto…) and the Debian
# packages the tests use (scripts/system-deps.sh). Each re-installs when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.runtime-installed
TEST_STAMP    := $(VENV)/.test-installed

.PHONY: build test lint install install-test clean bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@ $(RUNTIME_STAMP)

install: $(RUNTIME_STAMP)

install-test: $(TEST_STAMP)

build: $(RUNTIME_STAMP)
	$(PY) -m generator build --config site_config.yml

test: lint
	bash scripts/system-deps.sh
	$(PY) -m pytest

# The same checks as .pre-commit-config.yaml: ruff (lint and import order) and mypy --strict.
lint: $(TEST_STAMP)
	$(PY) -m ruff check generator tests benchmarks scripts demo
	$(PY) -m mypy

bench: $(TEST_STAMP)
	$(PY) scripts/bench_gif.py

clean:
	rm -rf output .pytest_cache

# Two entry points: `make build` (demo gallery into output/) and `make test` (the whole suite).
# Each creates .venv when missing and installs the project into it; re-installs when
# pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: build test install clean bench

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

build: $(STAMP)
	$(PY) -m generator build --config site_config.yml

test: $(STAMP)
	bash scripts/system-deps.sh
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) scripts/bench_gif.py

clean:
	rm -rf output .pytest_cache

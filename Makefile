# Every target bootstraps .venv on first use and re-installs only when pyproject.toml changed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
MOCK_PORT ?= 8081
PORT ?= 8000
FAULTS ?=
SERVE_CACHE ?= .cache/serve

.PHONY: help venv test lint fmt mock serve clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## create or refresh the virtual environment

test: $(STAMP) ## run the whole test suite (unit, integration, benchmarks in quick mode)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP) ## apply ruff format and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

mock: $(STAMP) ## serve the PyPI mock on 127.0.0.1:$(MOCK_PORT) (FAULTS='{"error_rate":0.1}' to start with faults)
	$(BIN)/pypi-mock --host $(HOST) --port $(MOCK_PORT) $(if $(FAULTS),--faults '$(FAULTS)')

serve: $(STAMP) ## the PyPI mock on :$(MOCK_PORT) and autodocs-mcp (HTTP) on 127.0.0.1:$(PORT) against it; Ctrl-C stops both
	@$(BIN)/pypi-mock --host $(HOST) --port $(MOCK_PORT) $(if $(FAULTS),--faults '$(FAULTS)') & mock=$$!; \
	trap 'kill $$mock 2>/dev/null; wait $$mock 2>/dev/null' EXIT INT TERM; \
	AUTODOCS_PYPI_URL=http://$(HOST):$(MOCK_PORT)/pypi AUTODOCS_CACHE_DIR=$(SERVE_CACHE) AUTODOCS_RATE_LIMIT_RPM=6000 \
	  $(BIN)/autodocs-mcp --transport http --host $(HOST) --port $(PORT)

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

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
BENCH_DIR ?= reports/bench
BENCH_QUICK ?= --benchmark-min-rounds=3 --benchmark-max-time=0.05 --benchmark-warmup=off
BENCH_FULL ?= --benchmark-min-rounds=5 --benchmark-max-time=1.0
BENCH_COMPARE_FAIL ?= min:50%
BENCH_KEEP ?= 20
BENCH_TABLE := --benchmark-sort=name --benchmark-columns=min,median,max,rounds
DURATION ?= 24h
NIGHT_DURATION ?= 2h
COMPRESS ?= 12
RUN ?=
SOAK_ARGS ?=
CALIBRATE_ARGS ?=
LOCUST_ARGS ?=
WORKERS ?= 2

.PHONY: help venv test conformance bench bench-compare stress lint fmt mock serve locust burst locust-dist soak night report verdicts calibrate calibrate-night clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## create or refresh the virtual environment

test: $(STAMP) ## the whole suite: unit, integration, reliability (fast part), benchmarks in quick mode (JSON in reports/bench/)
	@mkdir -p $(BENCH_DIR)
	$(BIN)/python -m pytest $(BENCH_QUICK) $(BENCH_TABLE) --benchmark-json=$(BENCH_DIR)/ci-latest.json $(PYTEST_ARGS)

conformance: $(STAMP) ## the official MCP conformance suite and Inspector CLI tools/list --strict against our server (needs npm; installs its own Node 22)
	$(BIN)/python -m conformance.run

bench: $(STAMP) ## benchmarks at full length; table on screen, run saved under reports/bench/ (newest $(BENCH_KEEP) kept)
	$(BIN)/python -m pytest tests/benchmarks --benchmark-only $(BENCH_FULL) $(BENCH_TABLE) --benchmark-autosave --benchmark-storage=file://$(BENCH_DIR) $(PYTEST_ARGS)
	@ls -1t $(BENCH_DIR)/*/[0-9]*.json 2>/dev/null | tail -n +$$(( $(BENCH_KEEP) + 1 )) | xargs -r rm -f --

bench-compare: $(STAMP) ## benchmarks against the last `make bench` run; fails on a regression beyond BENCH_COMPARE_FAIL
	@ls $(BENCH_DIR)/*/[0-9]*.json >/dev/null 2>&1 || { echo "no saved benchmark run in $(BENCH_DIR): run 'make bench' first"; exit 2; }
	$(BIN)/python -m pytest tests/benchmarks --benchmark-only $(BENCH_FULL) $(BENCH_TABLE) --benchmark-storage=file://$(BENCH_DIR) --benchmark-compare --benchmark-compare-fail=$(BENCH_COMPARE_FAIL) $(PYTEST_ARGS)

stress: $(STAMP) ## the slow reliability attacks (10,000 sessions, 500 concurrent calls on a pool of 10, 100,000 packages; ~30 min)
	$(BIN)/python -m pytest -m stress tests/reliability $(PYTEST_ARGS)

lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP) ## apply ruff format and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

mock: $(STAMP) ## serve the PyPI mock on 127.0.0.1:$(MOCK_PORT) (FAULTS='{"error_rate":0.1}' to start with faults)
	$(BIN)/pypi-mock --host $(HOST) --port $(MOCK_PORT) $(if $(FAULTS),--faults '$(FAULTS)')

serve: $(STAMP) ## the PyPI mock on :$(MOCK_PORT) and autodocs-mcp (HTTP) on $(HOST):$(PORT) against it, printing the MCP URL; Ctrl-C stops both
	@url=$$(mktemp); $(BIN)/pypi-mock --host $(HOST) --port $(MOCK_PORT) $(if $(FAULTS),--faults '$(FAULTS)') >$$url & mock=$$!; \
	trap 'kill $$mock 2>/dev/null; wait $$mock 2>/dev/null; rm -f $$url' EXIT; trap 'exit 0' INT TERM; \
	tries=0; until test -s $$url; do \
	  kill -0 $$mock 2>/dev/null || { echo "make serve: the PyPI mock did not start (port $(MOCK_PORT) taken? MOCK_PORT=8082 make serve)" >&2; exit 1; }; \
	  tries=$$((tries + 1)); test $$tries -le 300 || { echo "make serve: the PyPI mock printed no URL within 30 s" >&2; exit 1; }; \
	  sleep 0.1; \
	done; \
	echo "PyPI mock (the server's upstream, not an MCP endpoint): $$(cat $$url)/pypi"; \
	AUTODOCS_PYPI_URL=$$(cat $$url)/pypi AUTODOCS_CACHE_DIR=$(SERVE_CACHE) \
	  $(BIN)/autodocs-mcp --transport http --host $(HOST) --port $(PORT)

locust: $(STAMP) ## Locust web UI on 127.0.0.1:8089 against a fresh mock + server, until Ctrl-C (LOCUST_ARGS='--target-url URL')
	$(BIN)/python -m mcp_locust.launch ui $(LOCUST_ARGS)

burst: $(STAMP) ## headless burst (baseline → 10× spike → back), 60 s, report in reports/burst-*/ (LOCUST_ARGS='--run-time 120s')
	$(BIN)/python -m mcp_locust.launch burst $(LOCUST_ARGS)

locust-dist: $(STAMP) ## Locust master + $(WORKERS) local workers, headless 30 s (LOCUST_ARGS='--ui' for the web UI)
	$(BIN)/python -m mcp_locust.launch dist --workers $(WORKERS) $(LOCUST_ARGS)

soak: $(STAMP) ## soak our server under paced load and every fault, then judge it (DURATION=24h, SOAK_ARGS=...)
	$(BIN)/autodocs-soak run --duration $(DURATION) $(SOAK_ARGS)

night: $(STAMP) ## a 24-hour night played in 2 hours (NIGHT_DURATION=2h COMPRESS=12), judged on its 24-hour projection
	$(BIN)/autodocs-soak run --duration $(NIGHT_DURATION) --compress $(COMPRESS) $(SOAK_ARGS)

report: $(STAMP) ## re-render and re-judge a soak run folder (RUN=reports/<run-id>)
	@test -n "$(RUN)" || { echo "usage: make report RUN=reports/<run-id>" >&2; exit 2; }
	$(BIN)/autodocs-soak report $(RUN)

verdicts: $(STAMP) ## 6-minute soaks of leaking and healthy test servers; each leak must break its criterion, a compressed night must tell a leak per call from one per hour (~13 min)
	$(BIN)/python -m pytest -m verdicts tests/verdicts $(PYTEST_ARGS)

calibrate: $(STAMP) ## gate calibration: false alarms and detection limits on synthetic series; table in notes/gate-calibration.md
	$(BIN)/python -m soak.calibrate $(CALIBRATE_ARGS)

calibrate-night: $(STAMP) ## the night's interval on real noise: RUNS="reports/<run> ..." (2-hour soaks); exit 1 if the shipped inflation is short
	@test -n "$(RUNS)" || { echo "usage: make calibrate-night RUNS=reports/<run>" >&2; exit 2; }
	$(BIN)/python -m soak.calibrate_night $(RUNS)

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

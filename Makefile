# Two commands set everything up: `make run` and `make test`. Both create .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast test-e2e bench bench-scale lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: the embedded default: broker, OCPP connector, workers, sink and a fleet simulator
## (a two-minute demo by default; ARGS="" runs until Ctrl-C, then prints the same summary)
ARGS ?= --duration 120
# The live dashboard of the run (http://127.0.0.1:8050/); DASHBOARD_PORT= turns it off.
DASHBOARD_PORT ?= 8050
run: $(STAMP)
	$(if $(DASHBOARD_PORT),GRIDSTREAM_DASHBOARD_PORT=$(DASHBOARD_PORT)) $(BIN)/gridstream run $(ARGS)

## test: the whole suite (unit, contract and end-to-end), each part on two workers
## (pytest-xdist): every end-to-end test has its own broker, ports and data dir.
test: $(STAMP)
	$(BIN)/pytest -q -m "not e2e" -n 2
	$(BIN)/pytest -q -m e2e -n 2

test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not e2e"

test-e2e: $(STAMP)
	$(BIN)/pytest -q -m e2e

## bench: ingest and processing rates against a plain aiokafka baseline, same broker, same run;
## then the warehouse: sink rows/s, a month of one site against the whole history, and reports
## over 100 million readings beside DuckDB on one Parquet file (BENCH_ARGS=--report-readings N)
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## bench-scale: one connector process, thousands of station connections (aim: 10,000):
## connections held, memory per connection, answers/s and latency beside raw produce
SCALE_ARGS ?=
bench-scale: $(STAMP)
	$(BIN)/python -m bench.scale $(SCALE_ARGS)

## lint: ruff (lint and format) and mypy --strict on the package code
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) gridstream-data .pytest_cache .ruff_cache

# Düsseldorf open data harvesting pipeline. `make help` lists the targets.
#
# Everything the project needs is installed by these targets: uv into .tools/,
# the Python environment into .venv/ (from uv.lock), CKAN into .stack/ckan-venv/.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never

.PHONY: help setup demo down status test test-fast lint format bench bench-quick clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode
	@touch $@

setup: $(VENV)/.synced ## Install the Python environment (uv) and CKAN's own environment
	$(PY) -m devstack install

demo: setup ## Main job: start CKAN + Airflow locally, run the vornamen DAG, print where to look
	$(PY) -m devstack demo

status: ## Show what of the local stack is running
	$(PY) -m devstack status

down: ## Stop every process the local stack started
	$(PY) -m devstack down

lint: $(VENV)/.synced ## ruff (lint + format check) and mypy --strict on etl/, plugins/, devstack/, bench/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.synced ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: setup lint ## All tests: unit, contracts, DAGs, CLI and integration against the real local stack
	$(VENV)/bin/pytest

test-fast: $(VENV)/.synced ## Tests that need no running services (unit, contracts, DAGs, CLI)
	$(VENV)/bin/pytest -m "not integration"

bench: setup ## Benchmarks at the issue's sizes (about an hour; installs Debian gdal-bin for ogr2ogr if missing): bench/results.md
	$(PY) -m bench --profile full

bench-quick: setup ## The same benchmarks on small inputs, to check they run: .work/bench/results.md
	$(PY) -m bench --profile quick

clean: down ## Stop the stack and remove local state (.stack/, .work/); keeps the environments
	rm -rf .work .stack/airflow .stack/ckan .stack/postgres .stack/*.json .stack/*.log

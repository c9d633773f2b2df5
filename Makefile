# Every target sets up what it needs; each is idempotent and fast when already done.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.8
STAMP  := $(VENV)/.installed
CONFIG ?= configs/demo.yaml
RUN    ?=

.PHONY: install demo test test-fast lint format ui bench replicate lock clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/:/' | column -t -s:

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"

# Reinstalls only when the lock or the project metadata changed. With bytecode: where
# PYTHONDONTWRITEBYTECODE is set (containers, CI) every process would otherwise compile mlflow,
# polars and the rest from source again (seconds per command).
# The `challenge` command is then the C launcher of cli/launcher.c (SIGINT held back while Python
# starts, so that an early Ctrl-C is the tool's one line and exit 130); without a C compiler, the
# console script pip wrote stays.
# uv's cache pruned after (1.3 s): pyspark comes as a source archive, which uv built again on each
# fresh clone's install and kept every build of (1.2 GB each, only the last reachable; 61 GB after
# a few dozen clones).
$(STAMP): requirements.lock pyproject.toml cli/launcher.c | $(UV)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	$(UV) cache prune --quiet || true  # housekeeping: never fails the install
	@{ cc -O2 -static -D_GNU_SOURCE -o $(BIN)/challenge.launcher cli/launcher.c 2>/dev/null \
		|| cc -O2 -D_GNU_SOURCE -o $(BIN)/challenge.launcher cli/launcher.c 2>/dev/null; } \
		&& mv $(BIN)/challenge.launcher $(BIN)/challenge \
		|| echo "no C compiler (cc): 'challenge' stays a Python script; a Ctrl-C in its first 50 ms may print a traceback"
	@touch $@

install: $(STAMP)  ## create .venv and install the locked dependencies (and Java 17+ for Spark)
	@.ci/ensure-java

# The project's own modules as bytecode next to them (compileall writes it whatever
# PYTHONDONTWRITEBYTECODE says; 0.1 s when up to date; a source edited since is compiled again in
# memory, as without it). Every process that imports the tool compiled them from source otherwise:
# 0.3-0.5 CPU-s each, and the suite starts hundreds (the CLI under test, Spark's Python workers).
COMPILE := $(BIN)/python -m compileall -q challengers cli tests

demo: $(STAMP)  ## run the main job on the embedded demo data
	@$(COMPILE)
	$(BIN)/challenge run $(CONFIG)

# --dist loadgroup: the tests of one xdist_group (one expensive fixture, e.g. the local-cluster
# application of tests/engine/test_spark_cluster.py) run on one worker; the others as with load.
# --durations: the slowest tests in CI's log, to keep the suite near its 10 minutes.
test: $(STAMP)  ## run the test suite
	@$(COMPILE)
	$(BIN)/python -m pytest -n 2 --dist loadgroup --timeout 900 -q --durations=15

test-fast: $(STAMP)  ## the suite without the slow tests
	@$(COMPILE)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q -m "not slow"

lint: $(STAMP)  ## ruff (lint + format check) and mypy
	$(BIN)/ruff check challengers cli tests bench
	$(BIN)/ruff format --check challengers cli tests bench
	$(BIN)/mypy

format: $(STAMP)  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format challengers cli tests bench
	$(BIN)/ruff check --fix challengers cli tests bench

ui: $(STAMP)  ## MLflow UI on the run store, bound to 127.0.0.1
	$(BIN)/challenge ui

bench: $(STAMP)  ## benchmarks; results go to bench/RESULTS.md
	$(BIN)/python bench/run_all.py

replicate: $(STAMP)  ## make replicate RUN=<run id>  or  make replicate CONFIG=<path>
ifneq ($(RUN),)
	$(BIN)/challenge replicate $(RUN)
else
	$(BIN)/challenge replicate --config $(CONFIG)
endif

lock: $(UV)  ## re-resolve requirements.lock from pyproject.toml (then commit it)
	$(UV) pip compile pyproject.toml --extra dev --extra spark --universal --python-version 3.11 \
		--no-header -o requirements.lock

clean:  ## remove the environment and run outputs
	rm -rf $(VENV) runs mlflow.db mlruns .pytest_cache .mypy_cache .ruff_cache

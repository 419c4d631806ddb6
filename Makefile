# The two commands of the quick start: `make run` and `make test`.
# Both create .venv with the project installed when needed; nothing else must be set up by hand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lint format bench clean

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

## Start the service on the embedded PostgreSQL, with demo keys, on http://127.0.0.1:8000
run: $(INSTALLED)
	$(BIN)/consent serve --demo

## Lint, type-check and run the whole test suite against a real PostgreSQL
test: $(INSTALLED) lint
	$(BIN)/pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Benchmarks: the service under load beside a bare Litestar baseline (see docs/performance.md)
# wrk (Debian's package) drives the load from a separate process; installed here when missing.
bench: $(INSTALLED)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } \
		|| { echo "make bench needs wrk: sudo apt-get install wrk"; exit 1; }
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

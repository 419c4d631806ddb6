# The two commands of the quick start: `make run` and `make test`.
# Both create .venv with the project installed when needed; nothing else must be set up by hand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
INSTALLED := $(VENV)/.installed
# Every dependency (the dev extras, uv and the build backend included) pinned with its hashes, for
# Linux x86_64 and CPython 3.11: make run, make test and CI install exactly these versions.
LOCK := requirements.lock

.PHONY: run test lint format bench faults lock clean screenshots

# A changed lock (or pyproject.toml) reinstalls. The project itself goes in without dependencies and
# without build isolation, so nothing unpinned is fetched; `pip check` then fails if pyproject.toml
# asks for something the lock lacks (run `make lock`). Packages dropped from the lock stay installed
# until `make clean`.
$(INSTALLED): $(LOCK) pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes -r $(LOCK)
	$(PIP) install --no-deps --no-build-isolation -e .
	@$(BIN)/python -m pip check || { echo "$(LOCK) does not satisfy pyproject.toml: run make lock"; exit 1; }
	@touch $@

## Re-resolve requirements.lock to the newest versions pyproject.toml allows (then review and commit it)
# `make lock UPGRADE=` keeps the locked versions and only adds or drops what pyproject.toml changed.
# setuptools is the build backend of pyproject.toml's [build-system], locked too for the editable install.
UPGRADE ?= --upgrade
lock: $(BIN)/uv
	echo 'setuptools>=69' | $(BIN)/uv pip compile pyproject.toml - --extra dev $(UPGRADE) --generate-hashes \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
		--custom-compile-command 'make lock    # pins for Linux x86_64, CPython 3.11' --quiet --output-file $(LOCK)

# uv alone, at its locked version and hashes: a pyproject.toml that the lock does not satisfy yet can still be locked.
$(BIN)/uv: $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	sed -n '/^uv==/,/[^\\]$$/p' $(LOCK) > $(VENV)/uv-requirement.txt
	$(PIP) install --require-hashes --no-deps -r $(VENV)/uv-requirement.txt
	@touch $@

## Start the service on the embedded PostgreSQL, with demo keys, on http://127.0.0.1:8000
# Development, said explicitly: without CONSENT_ENV the service runs as production and needs configured keys.
run: $(INSTALLED)
	CONSENT_ENV=development $(BIN)/consent serve --demo

## Lint, type-check and run the whole test suite against a real PostgreSQL
# The browser tests (tests/web) drive Debian's chromium, installed here when missing (as root); Playwright
# never downloads a browser of its own.
test: $(INSTALLED) lint
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| { echo "make test needs Debian's chromium: sudo apt-get install chromium"; exit 1; }
	$(BIN)/pytest

## The long part of the fault suite: a dozen SIGKILLs during a write burst, PostgreSQL killed too (docs/reliability.md)
# `make test` runs the fast part of tests/faults; this runs all of it and prints the figures at the end.
faults: $(INSTALLED)
	$(BIN)/pytest tests/faults -m "faults or not faults" -p no:cacheprovider $(FAULTS_ARGS)

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

## Retake the banner screenshots in docs/images/ (Debian's chromium, a throwaway service)
screenshots: $(INSTALLED)
	$(BIN)/python -m tests.web.screenshots

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

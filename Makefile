# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Exact versions with their hashes (`make lock` writes them from pyproject.toml): the test extra for .venv and CI,
# the runtime dependencies alone for the Docker image. Nothing is resolved at install time.
LOCK := requirements/test.txt
RUNTIME_LOCK := requirements/runtime.txt
UV_VERSION := 0.13.8
LOCK_FLAGS ?=

.PHONY: install demo up test test-unit test-integration lint fmt compose-check compose-secrets lock audit docs openapi clean

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Cadenza needs Python 3.11 or newer; run with PYTHON=python3.12 (or similar).")'
	@echo "==> Creating $(VENV) and installing the locked dependencies of $(LOCK) (exact versions, hashes checked; first run only)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	@echo "==> Installing Cadenza itself (editable, its dependencies are the ones above)"
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

## Start the embedded stack (if not running), place one order per scenario, check them, stop.
demo: install
	$(BIN)/cadenza demo

## Run the embedded stack in the foreground (Web UI at http://localhost:8233).
up: install
	$(BIN)/cadenza up

## Every test: workflow unit tests, services, integration against a real dev server, compose validation.
## On TEST_PROCESSES processes (pytest-xdist), each with its own dev server and services on free ports: most of an
## integration test's time is spent waiting on them, so three share two cores well. TEST_PROCESSES=0 runs in this one.
## worksteal: a process that runs out of tests takes some of another's, so one slow file does not leave a long tail.
TEST_PROCESSES ?= 3
test: install
	$(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist worksteal

test-unit: install
	$(BIN)/python -m pytest tests/unit tests/services

test-integration: install
	$(BIN)/python -m pytest tests/integration

## Lint, format check and type check (pyproject.toml says which rules and where mypy is strict); CI runs it first.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Apply what the linter and the formatter can fix by themselves; `make lint` shows what is left to do by hand.
fmt: install
	$(BIN)/ruff check --fix --exit-zero --quiet .
	$(BIN)/ruff format .

## docker-compose.yml's secrets, never committed: the Temporal database password and the mutual-TLS certificates.
compose-secrets: install
	$(BIN)/cadenza compose-secrets

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"

## After editing pyproject.toml's dependencies: resolve again, keeping every pin that still fits (LOCK_FLAGS=--upgrade
## moves everything to the newest releases, LOCK_FLAGS="--upgrade-package NAME" one package). Commit requirements/.
lock: $(BIN)/uv
	@echo "==> Resolving $(RUNTIME_LOCK) (runtime, for the image), then $(LOCK) (+ the test extra, same versions)"
	@# uv echoes the whole file to stdout as well; its progress ("Resolved N packages") is on stderr.
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes $(LOCK_FLAGS) \
		-o $(RUNTIME_LOCK) >/dev/null
	$(BIN)/uv pip compile pyproject.toml --extra test --universal --python-version 3.11 --generate-hashes $(LOCK_FLAGS) \
		-c $(RUNTIME_LOCK) -o $(LOCK) >/dev/null

## Known vulnerabilities in the locked dependencies (pip-audit against PyPI's advisory data); CI runs it.
audit: install
	bash .ci/audit

## After adding or changing a setting in cadenza/settings.py: regenerate docs/operations.md's configuration table.
docs: install
	$(BIN)/python -m cadenza.settings --write

## After changing a simulated service's API: rewrite examples/sagas/openapi/*.json, the documents sagas refer to.
openapi: install
	$(BIN)/python -m services.openapi --write

clean:
	rm -rf $(VENV) .cadenza .pytest_cache .hypothesis .mypy_cache .ruff_cache

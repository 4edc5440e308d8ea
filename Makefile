# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv and install on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo up test test-unit test-integration compose-check clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Cadenza needs Python 3.11 or newer; run with PYTHON=python3.12 (or similar).")'
	@echo "==> Creating $(VENV) and installing Cadenza with its test dependencies (first run only)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## Start the embedded stack (if not running), place one order per scenario, check them, stop.
demo: install
	$(BIN)/cadenza demo

## Run the embedded stack in the foreground (Web UI at http://localhost:8233).
up: install
	$(BIN)/cadenza up

## Every test: workflow unit tests, services, integration against a real dev server, compose validation.
test: install
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest tests/unit tests/services

test-integration: install
	$(BIN)/python -m pytest tests/integration

clean:
	rm -rf $(VENV) .cadenza .pytest_cache .hypothesis

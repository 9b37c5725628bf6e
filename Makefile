# Every target installs what it needs into .venv first, so each works on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: help install test testbin lint record-fixtures demo clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/breakglass: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $@

install: $(BIN)/breakglass  ## create .venv and install breakglass with test and dev tools

lint: install  ## ruff, mypy --strict, import-linter contracts
	$(BIN)/ruff check breakglass tests bench
	$(BIN)/ruff format --check breakglass tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

testbin:  ## build (or reuse) kube-apiserver, kubectl and etcd for the end-to-end tests
	@bash tests/e2e/testbin.sh >/dev/null || [ "$${BREAKGLASS_E2E:-}" != required ]

test: lint testbin  ## the whole suite: lint, then every test (end-to-end ones when Go is available)
	$(BIN)/pytest -q

record-fixtures: install testbin  ## re-record tests/fixtures/recorded from the real API server
	rm -rf tests/fixtures/recorded
	BREAKGLASS_RECORD=1 $(BIN)/pytest -q tests/e2e

demo: install  ## run breakglass on embedded defaults (SQLite journal, self-signed TLS)
	BREAKGLASS_AUDIT_TOKEN=$${BREAKGLASS_AUDIT_TOKEN:-demo-token} $(BIN)/breakglass serve --config examples/breakglass.yaml

clean:  ## remove the virtual environment and local state
	rm -rf $(VENV) breakglass-state .mypy_cache .ruff_cache .pytest_cache

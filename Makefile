# Two entry points: `make demo` (set up + run the bikes demo) and `make test` (lint, types,
# import boundaries and every test).
# Both work on a fresh machine: uv comes from PyPI into .tools/ if it is not on PATH.

UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
DEMO_DB := sqlite:///mlflow.db

.PHONY: demo test lint unit quick clean

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet uv

$(BIN)/mlflow-gitops: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

demo: $(BIN)/mlflow-gitops
	$(BIN)/python examples/bikes/walkthrough.py --tracking-uri $(DEMO_DB)

lint: $(BIN)/mlflow-gitops
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

unit: $(BIN)/mlflow-gitops
	$(BIN)/pytest -m "not server and not e2e"

quick: $(BIN)/mlflow-gitops  # everything but the act workflow runs: the local loop
	$(BIN)/pytest -m "not e2e"

clean:
	rm -rf mlflow.db mlruns mlartifacts .pytest_cache .ruff_cache

# Two entry points: `make demo` (set up .venv-demo + run the bikes demo) and `make test` (lint, types,
# import boundaries and every test).
# Both work on a fresh machine: uv comes from PyPI into .tools/ if it is not on PATH.

UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
DEMO_DB := sqlite:///mlflow.db
# The demo's own environment: the tool, its runtime and the `embedded` extra (full MLflow, which
# brings scikit-learn for the example's models), never the development tools of `make test`.
DEMO_VENV := .venv-demo
# The PostgreSQL pass: the modules that read and write the registry through plan and apply, the
# store's own limits, and two faults whose outcome the store decides (a failed write among
# parallel ones, and two applies racing on one model). Promote, rollback, history, the output
# channels and the other HTTP-level faults do not depend on the store: they run once, on SQLite.
POSTGRES_TESTS := tests/test_server_fixture.py tests/test_reconcile.py tests/test_evidence_reads.py \
	tests/test_targets_and_import.py tests/test_backend_limits.py \
	"tests/test_faults.py::test_a_write_failing_with_a_transient_status_fails_only_its_own_change[503]" \
	tests/test_faults.py::test_a_concurrent_apply_that_recorded_first_is_a_conflict_and_keeps_its_record

# The suite runs in parallel (pytest-xdist): each worker starts its own mlflow server, and
# tests/conftest.py keeps the act runs on one worker, one at a time, and the tests sharing a
# module-scoped fixture together. More workers than cores: much of a test is waiting on a server.
WORKERS ?= 4
PARALLEL := -n $(WORKERS) --dist loadgroup
# An MLflow 2.x server in its own environment (the client stays 3.x): tests/test_mlflow2_server.py
# runs the server-backed core against it. Its server needs SQLAlchemy below 2.1.
MLFLOW2 := .tools/mlflow2/bin/mlflow

.PHONY: demo test test-postgres lint unit quick bench clean

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

$(MLFLOW2): | $(UV)
	$(UV) venv --quiet --allow-existing --python python3 .tools/mlflow2
	$(UV) pip install --quiet --compile-bytecode --python .tools/mlflow2 'mlflow==2.22.*' 'sqlalchemy<2.1'
	@touch $@

$(BIN)/mlflow-gitops: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

$(DEMO_VENV)/bin/mlflow-gitops: pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(DEMO_VENV) $(UV) sync --quiet --frozen --no-dev --extra embedded \
		--compile-bytecode
	@touch $@

demo: $(DEMO_VENV)/bin/mlflow-gitops
	$(DEMO_VENV)/bin/python examples/bikes/walkthrough.py --tracking-uri $(DEMO_DB)

lint: $(BIN)/mlflow-gitops
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint $(MLFLOW2)
	$(BIN)/pytest $(PARALLEL)
	$(MAKE) test-postgres

test-postgres: $(BIN)/mlflow-gitops  # the server-backed tests again, on a PostgreSQL store
	MLFLOW_GITOPS_TEST_BACKEND=postgres $(BIN)/pytest -n 2 --dist loadgroup -m "not e2e" \
		$(POSTGRES_TESTS)

unit: $(BIN)/mlflow-gitops  # no server, no store, no act, no package index, no browser: offline, fast
	$(BIN)/pytest -m "not server and not e2e and not network and not browser"

quick: $(BIN)/mlflow-gitops $(MLFLOW2)  # everything but the act workflow runs: the local loop
	$(BIN)/pytest $(PARALLEL) -m "not e2e"

# The tool as users install it (runtime dependencies only: MLflow as mlflow-skinny, no
# editable checkout), re-synced on every bench so it holds the code being measured.
RUNTIME_VENV := .venv-runtime

bench: $(BIN)/mlflow-gitops  # plan/apply/first apply at 1,000 models vs naive loops, plan at 10,000; a warm controller cycle -> BENCHMARKS.md
	UV_PROJECT_ENVIRONMENT=$(RUNTIME_VENV) $(UV) sync --quiet --frozen --no-dev --no-editable \
		--reinstall-package mlflow-gitops --compile-bytecode
	nice $(BIN)/python -m benchmarks.bench_scale --installed $(RUNTIME_VENV)
	nice $(BIN)/python -m benchmarks.bench_controller

clean:
	rm -rf mlflow.db mlruns mlartifacts .pytest_cache .ruff_cache $(DEMO_VENV) $(RUNTIME_VENV)

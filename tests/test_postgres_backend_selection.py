"""Without PostgreSQL the PostgreSQL pass says why it skips, and under CI it fails instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testing import postgres

ROOT = Path(__file__).resolve().parent.parent
# Runs one server test in a fresh pytest whose PostgreSQL binaries cannot be found.
WITHOUT_POSTGRES = """
import glob, shutil, sys
glob.glob = lambda pattern, **_: []
shutil.which = lambda name, **_: None
import pytest
sys.exit(pytest.main(["-q", "-rs", "-p", "no:cacheprovider",
                      "tests/test_server_fixture.py::test_alias_round_trip_via_search"]))
"""


def run_without_postgres(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_POSTGRES],
        cwd=ROOT,
        env={**clean, "MLFLOW_GITOPS_TEST_BACKEND": "postgres", **env},
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard, not a timing assertion
    )


def test_missing_postgres_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)

    with pytest.raises(postgres.PostgresUnavailable, match="apt-get install postgresql"):
        postgres.postgres_bin()


def test_postgres_pass_skips_with_the_reason_locally() -> None:
    result = run_without_postgres()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "PostgreSQL is not installed" in result.stdout


def test_postgres_pass_fails_under_ci_instead_of_skipping() -> None:
    result = run_without_postgres(CI="true")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "PostgreSQL backend unavailable under CI" in result.stdout
    assert "skipped" not in result.stdout

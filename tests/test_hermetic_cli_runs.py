"""The suite passes on GitHub's own runners: what the CI job running it sets never reaches a test
nor a CLI run, whether the run is a child process or in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testing.cli import cli_environment, hermetic_environ, invoke_cli, run_cli

ROOT = Path(__file__).resolve().parents[1]
# What GitHub sets in every step, and a registry the job might name.
OUTER = {
    "GITHUB_ACTIONS": "true",
    "CI": "true",
    "GITHUB_SHA": "0" * 40,
    "GITHUB_ACTOR": "octocat",
    "GITHUB_OUTPUT": "/outer/output",
    "RUNNER_OS": "Linux",
    "MLFLOW_TRACKING_URI": "http://outer.example:5000",
}
PRINT_ENVIRONMENT = "import json, os; print(json.dumps(dict(os.environ)))"


@pytest.fixture
def outer_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CI job's variables, set in this process after the autouse fixture cleared them."""
    for name, value in OUTER.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("outer_ci")
def test_a_cli_child_sees_only_the_allow_list_and_what_the_test_passes(tmp_path: Path) -> None:
    result = run_cli(cwd=tmp_path, entry=("-c", PRINT_ENVIRONMENT), env={"GITHUB_ACTOR": "ann"})

    seen = json.loads(result.stdout)
    assert seen["GITHUB_ACTOR"] == "ann"
    assert not (OUTER.keys() - {"GITHUB_ACTOR"}) & seen.keys(), seen
    assert seen["PATH"] == os.environ["PATH"]


@pytest.mark.usefixtures("outer_ci")
def test_an_in_process_run_sees_what_a_child_sees_and_leaves_ours_as_it_was(
    tmp_path: Path,
) -> None:
    before = dict(os.environ)
    with hermetic_environ({"MLFLOW_GITOPS_NOW": "2040-01-01T00:00:00Z"}):
        assert dict(os.environ) == cli_environment({"MLFLOW_GITOPS_NOW": "2040-01-01T00:00:00Z"})
        assert not OUTER.keys() & os.environ.keys()
    manifest = tmp_path / "registry.yaml"
    manifest.write_text("version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: 1\n")

    result = invoke_cli("validate", "-f", str(manifest))  # sets the CLI's fast-fail defaults

    assert result == (0, f"{manifest}: valid (1 model)\n", "")
    assert dict(os.environ) == before


def test_no_test_sees_the_ci_job_running_the_suite() -> None:
    """The autouse fixture in conftest.py, proven from outside: a pytest run with GitHub's
    variables set runs a test that finds none of them."""
    probe = "tests/test_hermetic_cli_runs.py::test_this_test_sees_no_outer_ci_variable"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", probe],
        cwd=ROOT,
        env={**os.environ, **OUTER},
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard, not a timing assertion
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_this_test_sees_no_outer_ci_variable() -> None:
    assert not OUTER.keys() & os.environ.keys()

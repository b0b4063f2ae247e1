"""The pre-commit hook, installed by `pre-commit try-repo` from this checkout into a scratch
repository, as an adopter's `.pre-commit-config.yaml` would install it from the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[1]
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
VALID = "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: 2\n"


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One hook environment for the module: pre-commit builds it on first use."""
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    return tmp_path


def try_repo(scratch: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """Stage everything and run the hook on it, as `git commit` would."""
    subprocess.run(["git", "add", "-A"], cwd=scratch, check=True)
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(ROOT), "mlflow-gitops-validate", "--color", "never"],
        cwd=scratch,
        env={**env, "PRE_COMMIT_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_hook_passes_a_valid_manifest(scratch: Path, pre_commit_home: Path) -> None:
    (scratch / "registry.yaml").write_text(VALID)
    result = try_repo(scratch, pre_commit_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validate registry.yaml (mlflow-gitops)" in result.stdout
    assert "Passed" in result.stdout


def test_hook_fails_an_invalid_manifest_at_its_line_and_column(
    scratch: Path, pre_commit_home: Path
) -> None:
    (scratch / "registry.yaml").write_text(VALID.replace("champion: 2", "latest: 2"))
    result = try_repo(scratch, pre_commit_home)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Failed" in result.stdout
    assert "registry.yaml:5:7: " in result.stdout


def test_hook_skips_commits_without_the_manifest(scratch: Path, pre_commit_home: Path) -> None:
    (scratch / "README.md").write_text("no manifest here\n")
    result = try_repo(scratch, pre_commit_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(no files to check)Skipped" in result.stdout

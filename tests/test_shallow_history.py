"""A shallow clone has no history to read: history and rollback refuse instead of guessing."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

from testing.cli import run_cli
from testing.repos import commit_file, make_repo

FULL_HISTORY = "fetch full history (fetch-depth: 0 in actions/checkout)"


def manifest(champion: int) -> str:
    return f"version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: {champion}\n"


@pytest.fixture
def shallow(tmp_path: Path) -> Path:
    origin = make_repo(tmp_path / "origin")
    for version in (1, 2, 3):
        commit_file(origin, "registry.yaml", manifest(version), f"champion {version}")
    clone = tmp_path / "shallow"
    git.Repo.clone_from((tmp_path / "origin").as_uri(), clone, depth=1)
    return clone


def test_history_refuses_in_a_shallow_clone(shallow: Path) -> None:
    result = run_cli("history", cwd=shallow)
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "shallow clone" in line and FULL_HISTORY in line


def test_rollback_refuses_in_a_shallow_clone_and_leaves_the_manifest(shallow: Path) -> None:
    result = run_cli("rollback", "bikes", "champion", "--offline", cwd=shallow)
    assert result.returncode == 1
    assert FULL_HISTORY in result.stderr
    assert (shallow / "registry.yaml").read_text() == manifest(3)


def test_a_full_clone_still_has_its_history(shallow: Path, tmp_path: Path) -> None:
    full = tmp_path / "full"
    git.Repo.clone_from((tmp_path / "origin").as_uri(), full)
    result = run_cli("rollback", "bikes", "champion", "--offline", cwd=full)
    assert result.returncode == 0, result
    assert (full / "registry.yaml").read_text() == manifest(2)

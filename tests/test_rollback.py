"""`rollback`: back to the alias's earlier value, read from a real history that has a rename."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import git
import pytest

from controller.cli import main
from testing.repos import commit_file, make_repo, rename_file, work_tree


def manifest(champion: int, name: str = "bikes") -> str:
    return f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: {champion}  # live\n"


def write_history(repo: git.Repo, name: str = "bikes") -> Path:
    """champion 1 -> 2, the file moves to deploy/, then 2 -> 3; returns the manifest's path."""
    commit_file(repo, "registry.yaml", manifest(1, name), "declare")
    commit_file(repo, "registry.yaml", manifest(2, name), "promote to 2")
    rename_file(repo, "registry.yaml", "deploy/registry.yaml", "move")
    commit_file(repo, "deploy/registry.yaml", manifest(3, name), "promote to 3")
    return work_tree(repo) / "deploy" / "registry.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    return make_repo(tmp_path / "work")


@pytest.fixture
def path(repo: git.Repo) -> Path:
    return write_history(repo)


def rollback(path: Path, *args: str) -> int:
    return main(["rollback", *args, "-f", str(path)])


def test_rollback_returns_to_the_value_before_the_current_one(
    repo: git.Repo, path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rollback(path, "bikes", "champion", "--offline") == 0
    assert path.read_text() == manifest(2)
    assert repo.git.diff("--numstat") == "1\t1\tdeploy/registry.yaml"
    assert capsys.readouterr().out == f"{path}: bikes@champion 3 -> 2\n"


def test_steps_go_back_through_the_rename(path: Path) -> None:
    assert rollback(path, "bikes", "champion", "--steps", "2", "--offline") == 0
    assert path.read_text() == manifest(1)


def test_to_names_the_version_outright(path: Path) -> None:
    assert rollback(path, "bikes", "champion", "--to", "1", "--offline") == 0
    assert path.read_text() == manifest(1)


def test_rollback_commit_has_its_own_subject_and_branch(repo: git.Repo, path: Path) -> None:
    assert rollback(path, "bikes", "champion", "--offline", "--commit") == 0
    assert repo.active_branch.name == "rollback/bikes-champion-v2"
    assert repo.head.commit.message == (
        "rollback bikes@champion: 3 -> 2\n\nModel: bikes\nAlias: champion\nFrom: 3\nTo: 2\n"
    )


def test_a_rollback_of_a_rollback_goes_forward_again(repo: git.Repo, path: Path) -> None:
    assert rollback(path, "bikes", "champion", "--offline", "--commit") == 0
    assert rollback(path, "bikes", "champion", "--offline") == 0
    assert path.read_text() == manifest(3)


def test_an_uncommitted_edit_counts_as_the_current_value(path: Path) -> None:
    path.write_text(manifest(7))
    assert rollback(path, "bikes", "champion", "--offline") == 0
    assert path.read_text() == manifest(3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bikes", "champion", "--steps", "3"], "bikes@champion has no earlier value 3 change(s)"),
        (["cars", "champion"], "declares no model 'cars'"),
        (["bikes", "shadow"], "declares no alias 'shadow' for model 'bikes'"),
        (["bikes", "champion", "--to", "1", "--steps", "2"], "--to and --steps exclude each other"),
    ],
)
def test_refusals_are_one_clear_line(
    path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = path.read_bytes()
    assert rollback(path, *args, "--offline") == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert path.read_bytes() == before


def test_rollback_without_history_needs_a_git_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(manifest(3))
    assert rollback(path, "bikes", "champion", "--offline") == 1
    assert capsys.readouterr().err == f"error: {tmp_path} is not in a git repository\n"
    assert rollback(path, "bikes", "champion", "--to", "1", "--offline") == 0


@pytest.mark.server
def test_rollback_refuses_a_version_deleted_from_the_registry(
    repo: git.Repo,
    mlflow_server: str,
    make_model: Callable[..., str],
    server_client: object,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = make_model("bikes", versions=3)
    path = write_history(repo, name)
    server_client.delete_model_version(name, "2")  # type: ignore[attr-defined]
    before = path.read_bytes()
    assert rollback(path, name, "champion", "--tracking-uri", mlflow_server) == 1
    assert capsys.readouterr().err == f"error: version 2 of model {name!r} does not exist\n"
    assert path.read_bytes() == before
    assert rollback(path, name, "champion", "--steps", "2", "--tracking-uri", mlflow_server) == 0
    assert path.read_text() == manifest(1, name)

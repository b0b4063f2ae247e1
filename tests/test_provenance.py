"""Honest provenance: a commit is recorded only when it is the manifest that was applied."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import git
import pytest
from mlflow import MlflowClient

from testing.cli import run_cli
from testing.repos import commit_file, make_repo, work_tree

pytestmark = pytest.mark.server

UNCOMMITTED = "local, uncommitted"


def manifest(name: str, champion: int) -> str:
    return f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: {champion}\n"


@pytest.fixture
def model(make_model: Callable[..., str]) -> str:
    return make_model("prov", versions=4)


@pytest.fixture
def repo(tmp_path: Path, model: str) -> git.Repo:
    repo = make_repo(tmp_path / "repo")
    commit_file(repo, "registry.yaml", manifest(model, 3), "declare champion 3")
    return repo


def folder(repo: git.Repo) -> Path:
    return work_tree(repo)


def audit(client: MlflowClient, model: str, version: int) -> dict[str, object]:
    tags = client.get_model_version(model, str(version)).tags
    return json.loads(tags["mlflow-gitops.alias.champion"])


def last_applied(client: MlflowClient, model: str) -> dict[str, object]:
    return json.loads(client.get_registered_model(model).tags["mlflow-gitops.last-applied"])


def test_plan_records_the_manifest_hash_commit_and_whether_it_differs(
    repo: git.Repo, model: str, mlflow_server: str
) -> None:
    path = folder(repo) / "registry.yaml"
    clean = run_cli("plan", "--format", "json", "--tracking-uri", mlflow_server, cwd=folder(repo))
    source = json.loads(clean.stdout)["source"]
    assert source["manifest_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (source["commit"], source["dirty"]) == (repo.head.commit.hexsha, False)
    assert source["manifest_path"] == "registry.yaml"

    path.write_text(manifest(model, 4))
    edited = run_cli("plan", "--format", "json", "--tracking-uri", mlflow_server, cwd=folder(repo))
    source = json.loads(edited.stdout)["source"]
    assert source["manifest_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (source["commit"], source["dirty"]) == (repo.head.commit.hexsha, True)


def test_apply_of_the_committed_manifest_records_its_commit(
    repo: git.Repo, model: str, mlflow_server: str, server_client: MlflowClient
) -> None:
    assert (
        run_cli(
            "apply", "--auto-approve", "--tracking-uri", mlflow_server, cwd=folder(repo)
        ).returncode
        == 0
    )
    assert audit(server_client, model, 3)["commit"] == repo.head.commit.hexsha
    assert last_applied(server_client, model)["commit"] == repo.head.commit.hexsha


def test_a_saved_plan_of_an_uncommitted_edit_records_no_commit_after_checkout(
    repo: git.Repo, model: str, mlflow_server: str, server_client: MlflowClient
) -> None:
    where, uri = folder(repo), ("--tracking-uri", mlflow_server)
    assert run_cli("promote", model, "champion", "4", "--offline", cwd=where).returncode == 0
    assert run_cli("plan", "--out", "p.json", *uri, cwd=where).returncode == 0
    # The planned bytes stay beside the checkout: apply --plan reads its policy from them.
    (where / "edited.yaml").write_bytes((where / "registry.yaml").read_bytes())
    repo.git.checkout("registry.yaml")  # HEAD declares 3 again
    applied = run_cli("apply", "-f", "edited.yaml", "--plan", "p.json", *uri, cwd=where)
    assert applied.returncode == 0, applied
    assert server_client.get_registered_model(model).aliases == {"champion": "4"}
    assert audit(server_client, model, 4)["commit"] == UNCOMMITTED
    assert last_applied(server_client, model)["commit"] == UNCOMMITTED
    assert repo.head.commit.hexsha not in json.dumps(audit(server_client, model, 4))


def test_a_plain_apply_of_an_uncommitted_manifest_says_so(
    repo: git.Repo, model: str, mlflow_server: str, server_client: MlflowClient
) -> None:
    (folder(repo) / "registry.yaml").write_text(manifest(model, 2))
    assert (
        run_cli(
            "apply", "--auto-approve", "--tracking-uri", mlflow_server, cwd=folder(repo)
        ).returncode
        == 0
    )
    assert audit(server_client, model, 2)["commit"] == UNCOMMITTED


def test_github_actions_refuses_to_apply_an_uncommitted_manifest(
    repo: git.Repo, model: str, mlflow_server: str, server_client: MlflowClient
) -> None:
    (folder(repo) / "registry.yaml").write_text(manifest(model, 2))
    actions = {"GITHUB_ACTIONS": "true", "GITHUB_SHA": repo.head.commit.hexsha}
    refused = run_cli(
        "apply", "--auto-approve", "--tracking-uri", mlflow_server, cwd=folder(repo), env=actions
    )
    assert refused.returncode == 1
    assert "uncommitted" in refused.stderr
    assert server_client.get_registered_model(model).aliases == {}

    repo.git.checkout("registry.yaml")
    applied = run_cli(
        "apply", "--auto-approve", "--tracking-uri", mlflow_server, cwd=folder(repo), env=actions
    )
    assert applied.returncode == 0, applied
    assert audit(server_client, model, 3)["commit"] == repo.head.commit.hexsha


def test_apply_in_a_repository_with_no_git_user_configured_anywhere_records_no_actor(
    tmp_path: Path, model: str, mlflow_server: str, server_client: MlflowClient
) -> None:
    """A container, a fresh CI machine or the controller's clone: no user.name in the
    repository, in HOME or in XDG_CONFIG_HOME. Apply still applies, with no actor."""
    where = tmp_path / "no-user-repo"
    repo = git.Repo.init(where, initial_branch="main")
    (where / "registry.yaml").write_text(manifest(model, 2))
    repo.index.add(["registry.yaml"])
    someone = git.Actor("Ann Example", "ann@example.com")
    repo.index.commit("declare champion 2", author=someone, committer=someone)
    home = tmp_path / "empty-home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}

    applied = run_cli(
        "apply", "--auto-approve", "--tracking-uri", mlflow_server, cwd=where, env=env
    )

    assert applied.returncode == 0, applied.stderr
    assert server_client.get_registered_model(model).aliases == {"champion": "2"}
    record = audit(server_client, model, 2)
    assert record["commit"] == repo.head.commit.hexsha
    assert record["actor"] is None

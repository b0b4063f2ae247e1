"""Ownership: which manifest manages a model, removed model blocks, release and take-over."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import git
import pytest
from mlflow import MlflowClient

from controller.cli import main
from testing.cli import run_cli
from testing.repos import commit_file, make_repo, work_tree

pytestmark = pytest.mark.server

OWNER_TAG = "mlflow-gitops.owner"
LAST_APPLIED_TAG = "mlflow-gitops.last-applied"


def owner_of(tags: dict[str, str]) -> str:
    """The owner a model's tags record: the owner tag, else the last-applied record's (a first
    apply writes only the record, issue 22)."""
    return tags.get(OWNER_TAG) or json.loads(tags[LAST_APPLIED_TAG])["owner"]


def manifest(models: dict[str, dict[str, int]], extra: str = "") -> str:
    lines = ["version: 1", "models:"]
    for name, aliases in models.items():
        lines += [f"  {name}:", "    aliases:"]
        lines += [f"      {alias}: {version}" for alias, version in aliases.items()]
    return "\n".join(lines) + "\n" + extra


def clone(origin: Path, into: Path) -> git.Repo:
    repo = git.Repo.clone_from(origin.as_uri(), into)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Ann Example")
        config.set_value("user", "email", "ann@example.com")
    return repo


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare repository standing in for the team's GitHub repository."""
    path = tmp_path / "origin.git"
    git.Repo.init(path, bare=True, initial_branch="main")
    return path


@pytest.fixture
def models(make_model: Callable[..., str]) -> tuple[str, str]:
    return make_model("bikes", versions=3), make_model("churn", versions=2)


def commit_and_push(repo: git.Repo, text: str, message: str) -> None:
    commit_file(repo, "registry.yaml", text, message)
    repo.git.push("origin", "HEAD:main")


def cli_in(repo: git.Repo, *args: str, server: str):
    return run_cli(*args, "--tracking-uri", server, cwd=work_tree(repo))


def test_a_removed_model_block_deletes_the_aliases_it_applied_even_from_another_checkout(
    tmp_path: Path,
    origin: Path,
    mlflow_server: str,
    server_client: MlflowClient,
    models: tuple[str, str],
) -> None:
    bikes, churn = models
    first = clone(origin, tmp_path / "laptop")
    both = {bikes: {"champion": 2, "challenger": 3}, churn: {"prod": 2}}
    commit_and_push(first, manifest(both), "declare")
    assert cli_in(first, "apply", "--auto-approve", server=mlflow_server).returncode == 0
    server_client.set_registered_model_alias(churn, "hand-made", "1")  # never ours
    owner = owner_of(server_client.get_registered_model(churn).tags)
    assert "laptop" not in owner  # the checkout's folder is no part of the identity

    moved = clone(origin, tmp_path / "elsewhere")
    commit_and_push(moved, manifest({bikes: {"champion": 2}}), "drop churn and challenger")
    plan = cli_in(moved, "plan", server=mlflow_server)
    assert plan.returncode == 0, plan
    assert f"- {churn}@prod: 2 (removed)" in plan.stdout
    assert f"- {bikes}@challenger: 3 (removed)" in plan.stdout
    prominent = plan.stdout.index(f"no longer in registry.yaml: {churn}")
    assert prominent < plan.stdout.index(f"{bikes}@challenger")

    data = json.loads(cli_in(moved, "plan", "--format", "json", server=mlflow_server).stdout)
    assert data["removed_models"] == [churn]
    assert {(c["model"], c["alias"], c["reason"]) for c in data["changes"]} == {
        (churn, "prod", "removed"),
        (bikes, "challenger", "removed"),
    }

    assert cli_in(moved, "apply", "--auto-approve", server=mlflow_server).returncode == 0
    live = server_client.get_registered_model(churn)
    assert live.aliases == {"hand-made": "1"}
    assert OWNER_TAG not in live.tags and LAST_APPLIED_TAG not in live.tags
    assert server_client.get_registered_model(bikes).aliases == {"champion": "2"}

    history = run_cli("history", churn, "--format", "json", cwd=work_tree(moved))
    newest = json.loads(history.stdout)[0]
    assert (newest["alias"], newest["from"], newest["to"], newest["kind"]) == (
        "prod",
        2,
        None,
        "removed",
    )


def test_release_stops_managing_a_model_without_touching_its_aliases(
    tmp_path: Path,
    origin: Path,
    mlflow_server: str,
    server_client: MlflowClient,
    models: tuple[str, str],
) -> None:
    bikes, churn = models
    repo = clone(origin, tmp_path / "repo")
    commit_and_push(repo, manifest({bikes: {"champion": 1}, churn: {"prod": 2}}), "declare")
    assert cli_in(repo, "apply", "--auto-approve", server=mlflow_server).returncode == 0

    commit_and_push(
        repo, manifest({bikes: {"champion": 1}}, f"release:\n  - {churn}\n"), "hand over"
    )
    saved = tmp_path / "release.json"
    plan = cli_in(repo, "plan", "--detailed-exitcode", "--out", str(saved), server=mlflow_server)
    assert plan.returncode == 2, plan
    assert f"* {churn}: release (aliases left as they are)" in plan.stdout
    assert "1 to release." in plan.stdout
    assert f"{churn}@prod" not in plan.stdout
    applied = cli_in(repo, "apply", "--plan", str(saved), server=mlflow_server)
    assert applied.returncode == 0, applied
    live = server_client.get_registered_model(churn)
    assert live.aliases == {"prod": "2"}
    assert OWNER_TAG not in live.tags and LAST_APPLIED_TAG not in live.tags
    again = cli_in(repo, "plan", "--detailed-exitcode", server=mlflow_server)
    assert again.returncode == 0, again


def test_a_model_another_manifest_manages_is_a_plan_error_until_taken_over(
    tmp_path: Path, mlflow_server: str, server_client: MlflowClient, models: tuple[str, str]
) -> None:
    _, churn = models
    team_a = make_repo(tmp_path / "team-a")
    team_b = make_repo(tmp_path / "team-b")
    commit_file(team_a, "registry.yaml", "name: team-a\n" + manifest({churn: {"prod": 1}}), "a")
    assert cli_in(team_a, "apply", "--auto-approve", server=mlflow_server).returncode == 0
    adopted = server_client.get_registered_model(churn).tags
    assert owner_of(adopted) == "team-a" and OWNER_TAG not in adopted  # one write, not two

    commit_file(team_b, "registry.yaml", "name: team-b\n" + manifest({churn: {"prod": 2}}), "b")
    refused = cli_in(team_b, "apply", "--auto-approve", server=mlflow_server)
    assert refused.returncode == 1
    assert f"registry.yaml:4:3: registered model {churn!r} is managed by team-a" in refused.stdout
    assert server_client.get_registered_model(churn).aliases == {"prod": "1"}

    taking = manifest({churn: {"prod": 2}}).replace(
        f"  {churn}:\n", f"  {churn}:\n    take_over: true\n"
    )
    commit_file(team_b, "registry.yaml", "name: team-b\n" + taking, "take over")
    assert cli_in(team_b, "apply", "--auto-approve", server=mlflow_server).returncode == 0
    live = server_client.get_registered_model(churn)
    assert live.aliases == {"prod": "2"} and owner_of(live.tags) == "team-b"
    back = cli_in(team_a, "plan", server=mlflow_server)
    assert back.returncode == 1 and "is managed by team-b" in back.stdout


def test_the_owner_identity_carries_no_credentials(
    tmp_path: Path, mlflow_server: str, server_client: MlflowClient, models: tuple[str, str]
) -> None:
    bikes, _ = models
    repo = make_repo(tmp_path / "repo")
    repo.create_remote("origin", "https://x-access-token:ghs_s3cr3t@github.com/acme/models.git")
    commit_file(repo, "deploy/registry.yaml", manifest({bikes: {"champion": 1}}), "declare")
    result = run_cli(
        "apply", "--auto-approve", "-f", "deploy/registry.yaml", "--tracking-uri", mlflow_server,
        cwd=work_tree(repo),
    )  # fmt: skip
    assert result.returncode == 0, result
    tags = server_client.get_registered_model(bikes).tags
    assert owner_of(tags) == "github.com/acme/models:deploy/registry.yaml"
    assert "s3cr3t" not in json.dumps(tags)


def test_finding_removed_models_costs_one_search_per_plan(
    tmp_path: Path,
    mlflow_server: str,
    make_model: Callable[..., str],
    rest_calls: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = [make_model("many", versions=1) for _ in range(4)]
    repo = make_repo(tmp_path / "repo")
    path = work_tree(repo) / "registry.yaml"
    commit_file(repo, "registry.yaml", manifest({n: {"prod": 1} for n in names}), "all")
    assert main(["apply", "--auto-approve", "-f", str(path), "--tracking-uri", mlflow_server]) == 0
    commit_file(repo, "registry.yaml", manifest({names[0]: {"prod": 1}}), "keep one")
    rest_calls.clear()
    assert main(["plan", "-f", str(path), "--tracking-uri", mlflow_server]) == 0
    model_searches = [c for c in rest_calls if c[1].endswith("/registered-models/search")]
    model_reads = [c for c in rest_calls if c[1].endswith("/registered-models/get")]
    # The models this manifest owns, found by their last-applied record naming the owner:
    # one search, however many models; the declared one is among them.
    assert len(model_searches) == 1
    assert model_reads == []


def test_owned_models_are_not_searched_for_again_and_new_ones_are(
    tmp_path: Path,
    mlflow_server: str,
    make_model: Callable[..., str],
    rest_calls: list[tuple[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The owner search's results stand in for the by-name search; a model it did not return
    (not yet managed) is still searched for by name, and both come out right in the plan."""
    owned, new = make_model("owned", versions=2), make_model("new", versions=2)
    repo = make_repo(tmp_path / "repo")
    path = work_tree(repo) / "registry.yaml"
    commit_file(repo, "registry.yaml", manifest({owned: {"prod": 1}}), "one")
    assert main(["apply", "--auto-approve", "-f", str(path), "--tracking-uri", mlflow_server]) == 0
    commit_file(repo, "registry.yaml", manifest({owned: {"prod": 2}, new: {"prod": 2}}), "two")
    capsys.readouterr()
    rest_calls.clear()
    code = main(["plan", "-f", str(path), "--tracking-uri", mlflow_server, "--format", "json"])
    assert code == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    assert sorted((c["model"], c["from"], c["to"]) for c in changes) == sorted(
        [(owned, 1, 2), (new, None, 2)]
    )
    model_searches = [c for c in rest_calls if c[1].endswith("/registered-models/search")]
    # The owned models (by their record), then the one not yet managed, by name.
    assert len(model_searches) == 2

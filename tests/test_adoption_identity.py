"""Adopting the tool for real: a stable `name:` from import, ownership changes a reviewer sees
in every format, the fix when a derived identity changed, and the off-default-branch warning."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import git
import pytest
from mlflow import MlflowClient

from testing.cli import run_cli
from testing.owners import recorded_owner
from testing.repos import commit_file, make_repo, work_tree

pytestmark = pytest.mark.server


def manifest(name: str, aliases: dict[str, int], head: str = "", spec: str = "") -> str:
    lines = [f"{head}version: 1", "models:", f"  {name}:", spec + "    aliases:"]
    lines += [f"      {alias}: {version}" for alias, version in aliases.items()]
    return "\n".join(lines) + "\n"


def cli(folder: Path, *args: str, server: str) -> tuple[int, str, str]:
    result = run_cli(*args, "--tracking-uri", server, cwd=folder)
    return result.returncode, result.stdout, result.stderr


def test_import_names_the_manifest_after_its_remote_so_moving_it_changes_nothing(
    tmp_path: Path, mlflow_server: str, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    model = make_model("adopt", versions=2)
    server_client.set_registered_model_alias(model, "champion", "2")
    repo = make_repo(tmp_path / "repo")
    repo.create_remote("origin", f"git@github.com:acme/{model}.git")  # unique: a shared server
    folder = work_tree(repo)
    (folder / "deploy").mkdir()

    code, _, err = cli(folder, "import", model, "-o", "deploy/registry.yaml", server=mlflow_server)
    assert code == 0, err
    text = (folder / "deploy" / "registry.yaml").read_text()
    assert f"name: github.com/acme/{model}:deploy/registry.yaml\n" in text
    commit_file(repo, "deploy/registry.yaml", text, "adopt")
    args = ("-f", "deploy/registry.yaml")
    code, out, err = cli(folder, "apply", "--auto-approve", *args, server=mlflow_server)
    assert code == 0, out + err
    assert "* " + model + ": first adoption ... done" in out
    assert "1 model changed hands" in out
    assert recorded_owner(server_client, model) == f"github.com/acme/{model}:deploy/registry.yaml"

    # Another remote URL, another folder: the written name still holds.
    moved = git.Repo.clone_from(folder, tmp_path / "elsewhere")
    moved.delete_remote(moved.remote("origin"))
    moved.create_remote("origin", "https://example.com/mirror/other.git")
    plan = run_cli(
        "plan", "--detailed-exitcode", *args, "--tracking-uri", mlflow_server,
        cwd=tmp_path / "elsewhere",
    )  # fmt: skip
    assert plan.returncode == 0, plan
    assert "No changes." in plan.stdout


def test_import_without_a_remote_requires_name_and_writes_it(
    tmp_path: Path, mlflow_server: str, make_model: Callable[..., str]
) -> None:
    model = make_model("adopt", versions=1)
    code, _, err = cli(tmp_path, "import", model, "-o", "registry.yaml", server=mlflow_server)
    assert code == 1
    assert [line for line in err.splitlines() if not line.startswith("Registry: ")] == [
        "error: no git remote to name this manifest after: pass --name NAME (e.g. "
        "--name team-a/models), the identity it manages its models under"
    ]
    assert not (tmp_path / "registry.yaml").exists()

    code, _, err = cli(tmp_path, "import", model, "--name", "bad name", server=mlflow_server)
    assert code == 1 and err.splitlines()[-1].startswith("error: --name 'bad name': use letters")

    args = ("import", model, "-o", "registry.yaml", "--name", "team-a/models")
    code, _, err = cli(tmp_path, *args, server=mlflow_server)
    assert code == 0, err
    assert (tmp_path / "registry.yaml").read_text().startswith("version: 1\nname: team-a/models\n")
    assert run_cli("validate", cwd=tmp_path).returncode == 0


def test_a_derived_identity_that_changed_gets_the_one_line_fix(
    tmp_path: Path, mlflow_server: str, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    """Adopted locally without `name:`, then the repository got a remote (issue 20)."""
    model = make_model("churn", versions=2)
    repo = make_repo(tmp_path / "models-repo")
    folder = work_tree(repo)
    commit_file(repo, "registry.yaml", manifest(model, {"prod": 1}), "adopt")
    code, out, err = cli(folder, "apply", "--auto-approve", server=mlflow_server)
    assert code == 0, out + err
    old = recorded_owner(server_client, model)
    assert old == f"{folder}:registry.yaml"

    repo.create_remote("origin", f"https://github.com/acme/{model}.git")
    code, out, _ = cli(folder, "plan", server=mlflow_server)
    assert code == 1
    error = next(line for line in out.splitlines() if "is managed by" in line)
    assert f"registry.yaml:3:3: registered model {model!r} is managed by {old}" in error
    assert f"github.com/acme/{model}:registry.yaml" in error  # the identity it has now
    assert f"`name: {old}`" in error

    commit_file(repo, "registry.yaml", f"name: {old}\n" + manifest(model, {"prod": 1}), "fix")
    code, out, err = cli(folder, "plan", "--detailed-exitcode", server=mlflow_server)
    assert code == 0, out + err
    assert recorded_owner(server_client, model) == old


@pytest.fixture
def taken(tmp_path: Path, mlflow_server: str, make_model: Callable[..., str]) -> tuple[Path, str]:
    """Model churn, applied by team-a; team-b's manifest takes it over, aliases unchanged."""
    churn = make_model("churn", versions=2)
    team_a = make_repo(tmp_path / "team-a")  # names unique to the test: the server is shared
    commit_file(team_a, "registry.yaml", manifest(churn, {"prod": 1}, f"name: a-{churn}\n"), "a")
    code, out, err = cli(work_tree(team_a), "apply", "--auto-approve", server=mlflow_server)
    assert code == 0, out + err
    team_b = make_repo(tmp_path / "team-b")
    text = manifest(churn, {"prod": 1}, f"name: b-{churn}\n", "    take_over: true\n")
    commit_file(team_b, "registry.yaml", text, "b")
    return work_tree(team_b), churn


def test_a_take_over_is_a_change_in_every_format_and_never_no_changes(
    taken: tuple[Path, str], mlflow_server: str, server_client: MlflowClient
) -> None:
    folder, churn = taken
    code, out, _ = cli(folder, "plan", "--detailed-exitcode", server=mlflow_server)
    assert code == 2, out
    assert f"  * {churn}: take over from a-{churn}" in out
    assert "No changes" not in out
    assert "Plan: 0 to create, 0 to update, 0 to delete, 1 to take over." in out

    code, out, _ = cli(folder, "plan", "--format", "json", server=mlflow_server)
    assert json.loads(out)["ownership"] == [
        {"model": churn, "kind": "take_over", "previous": f"a-{churn}"}
    ]
    code, out, _ = cli(folder, "plan", "--format", "markdown", server=mlflow_server)
    assert f"- `{churn}`: **take over** from `a-{churn}`" in out
    code, out, _ = cli(folder, "plan", "--format", "github", server=mlflow_server)
    assert f"::warning title=ownership change::{churn}: take over from a-{churn}" in out
    assert recorded_owner(server_client, churn) == f"a-{churn}"  # plan wrote nothing


def test_a_take_over_asks_first_then_applies_and_reports_who_changed_hands(
    taken: tuple[Path, str], mlflow_server: str, server_client: MlflowClient
) -> None:
    folder, churn = taken
    declined = run_cli("apply", "--tracking-uri", mlflow_server, cwd=folder, stdin="no\n")
    assert declined.returncode == 1, declined
    assert recorded_owner(server_client, churn) == f"a-{churn}"

    code, out, err = cli(folder, "apply", "--auto-approve", server=mlflow_server)
    assert code == 0, out + err
    assert f"  * {churn}: take over from a-{churn} ... done" in out
    assert out.rstrip().endswith("Apply: 0 applied, 0 failed, 0 skipped; 1 model changed hands.")
    assert recorded_owner(server_client, churn) == f"b-{churn}"
    assert server_client.get_registered_model(churn).aliases == {"prod": "1"}
    code, out, _ = cli(folder, "plan", "--detailed-exitcode", server=mlflow_server)
    assert code == 0 and "No changes." in out


def test_a_saved_plan_whose_ownership_was_edited_is_refused(
    taken: tuple[Path, str], mlflow_server: str, server_client: MlflowClient
) -> None:
    folder, churn = taken
    code, _, _ = cli(folder, "plan", "--out", "plan.json", server=mlflow_server)
    data = json.loads((folder / "plan.json").read_text())
    data["ownership"] = []  # hide the take-over from whoever applies it
    (folder / "plan.json").write_text(json.dumps(data))
    code, _, err = cli(folder, "apply", "--plan", "plan.json", server=mlflow_server)
    assert code == 1
    assert "its ownership changes are not what its own snapshot gives" in err
    assert recorded_owner(server_client, churn) == f"a-{churn}"


def test_apply_off_the_default_branch_warns_naming_both(
    tmp_path: Path, mlflow_server: str, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    model = make_model("branch", versions=2)
    origin = make_repo(tmp_path / "origin")
    commit_file(origin, "registry.yaml", manifest(model, {"prod": 1}, f"name: {model}\n"), "v1")
    clone = git.Repo.clone_from(work_tree(origin), tmp_path / "clone")  # records origin/HEAD
    folder = work_tree(clone)

    code, out, err = cli(folder, "apply", "--auto-approve", server=mlflow_server)
    assert code == 0, out + err
    assert "default branch" not in err

    clone.git.switch("-c", "try-v2")
    commit_file(clone, "registry.yaml", manifest(model, {"prod": 2}, f"name: {model}\n"), "v2")
    code, out, err = cli(folder, "apply", "--auto-approve", server=mlflow_server)
    assert code == 0, out + err
    warnings = [line for line in err.splitlines() if "default branch" in line]
    assert warnings == [
        "warning: applying from branch 'try-v2', not 'main', the default branch of origin: "
        "what it declares may not be what is merged"
    ]
    assert server_client.get_registered_model(model).aliases == {"prod": "2"}


def test_promote_of_a_mistyped_model_suggests_the_declared_one_and_edits_nothing(
    tmp_path: Path, mlflow_server: str, make_model: Callable[..., str]
) -> None:
    model = make_model("fraud", versions=2)
    typo = model[1] + model[0] + model[2:]  # `rfaud…`: two letters swapped
    (tmp_path / "registry.yaml").write_text(manifest(model, {"champion": 1}))
    before = (tmp_path / "registry.yaml").read_text()
    code, _, err = cli(tmp_path, "promote", typo, "champion", "2", server=mlflow_server)
    assert code == 1
    assert err.splitlines()[-1] == (
        f"error: no registered model named {typo!r} in the registry; did you mean {model!r}?"
    )
    assert (tmp_path / "registry.yaml").read_text() == before

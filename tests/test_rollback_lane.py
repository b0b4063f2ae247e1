"""The rollback lane against a real server: back to a version that git history shows held the
alias, the soft gate checks (better_than_current, promotes_from, min_age) do not block it;
the hard ones (required tags, signature, metric bounds) still do, and a registry tag alone
never makes a change a rollback."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import git
import pytest
from mlflow import MlflowClient

from controller.render.markdown import escape
from controller.state import audit_tag_key
from testing.cli import CliResult, invoke_cli
from testing.repos import commit_file, make_repo

pytestmark = pytest.mark.server

Run = Callable[..., CliResult]
APPROVED = {"validation_status": "approved"}
# The bad version 2 has the better offline metric: better_than_current would keep it forever.
AUC = {1: 0.85, 2: 0.87, 3: 0.80}  # 3 holds challenger throughout
GATE = (
    "    gates:\n"
    "      champion:\n"
    "        require_tags: {validation_status: approved}\n"
    "        better_than_current: {auc: higher}\n"
    "        promotes_from: challenger\n"
)


@pytest.fixture
def run(mlflow_server: str) -> Run:
    def _run(*args: str) -> CliResult:
        return invoke_cli(*args, "--tracking-uri", mlflow_server)

    return _run


@pytest.fixture
def model(server_client: MlflowClient) -> str:
    """Versions 1-3, each from a run that logged its auc, each tagged approved."""
    name = f"fraud{uuid.uuid4().hex[:8]}"
    server_client.create_registered_model(name)
    experiment = server_client.create_experiment(f"exp-{name}")
    for number, auc in AUC.items():
        run_id = server_client.create_run(experiment).info.run_id
        server_client.log_metric(run_id, "auc", auc)
        server_client.set_terminated(run_id)
        server_client.create_model_version(name, f"s3://fixtures/{name}/{number}", run_id=run_id)
        server_client.set_model_version_tag(name, str(number), "validation_status", "approved")
    return name


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    return make_repo(tmp_path / "team")


def declare(repo: git.Repo, name: str, champion: int, gate: str = "", note: str = "") -> str:
    """Commit the manifest with champion at that version (challenger on 3); returns its path."""
    aliases = f"      champion: {champion}\n      challenger: 3\n"
    text = f"version: 1\nmodels:\n  {name}:\n    aliases:\n{aliases}{gate}"
    commit_file(repo, "registry.yaml", text, note or f"champion {champion}")
    return str(Path(str(repo.working_tree_dir)) / "registry.yaml")


def served_until(repo: git.Repo) -> str:
    """The day the commit that moved champion off version 1 was made (HEAD~1 here)."""
    return repo.commit("HEAD~1").authored_datetime.isoformat()[:10]


def bad_release(run: Run, repo: git.Repo, name: str) -> str:
    """champion 1, applied; then the bad 2, applied; then a rollback commit back to 1."""
    assert run("apply", "--auto-approve", "-f", declare(repo, name, 1)).code == 0
    assert run("apply", "--auto-approve", "-f", declare(repo, name, 2)).code == 0
    return declare(repo, name, 1, GATE, note="rollback to 1")


def change_of(plan: dict) -> dict:
    (change,) = plan["changes"]
    return change


def test_a_rollback_passes_better_than_current_and_promotes_from_and_says_so(
    run: Run, repo: git.Repo, model: str, server_client: MlflowClient
) -> None:
    path = bad_release(run, repo, model)
    waiver = (
        f"waived for a rollback to a version that served as champion until {served_until(repo)}"
        ": better_than_current, promotes_from"
    )
    code, out, err = run("plan", "-f", path)
    assert code == 0, out + err
    assert f"~ {model}@champion: 2 -> 1 (rollback; {waiver})" in out
    assert "better_than_current" not in out.replace(waiver, "")  # not checked, only waived
    assert "require_tags.validation_status" in out or "validation_status" in out

    change = change_of(json.loads(run("plan", "-f", path, "--format", "json").out))
    assert change["reason"] == "rollback"
    assert change["rollback"]["waived"] == ["better_than_current", "promotes_from"]
    assert change["rollback"]["commit"] == repo.head.commit.hexsha
    assert [g["gate"] for g in change["gates"]] == ["require_tags.validation_status"]
    markdown = run("plan", "-f", path, "--format", "markdown").out
    assert escape(waiver) in markdown

    code, out, err = run("apply", "--auto-approve", "-f", path, "--format", "json")
    assert code == 0, out + err
    (result,) = json.loads(out)["changes"]
    assert result["status"] == "applied"
    assert isinstance(result["rollback_seconds"], int) and result["rollback_seconds"] >= 0
    assert server_client.get_registered_model(model).aliases == {"champion": "1", "challenger": "3"}
    tags = server_client.get_model_version(model, "1").tags
    audit = json.loads(tags[audit_tag_key("champion")])
    assert audit["rollback"] == waiver
    assert audit["rollback_seconds"] == result["rollback_seconds"]
    assert audit["commit"] == repo.head.commit.hexsha


def test_the_text_report_says_how_long_the_rollback_took(
    run: Run, repo: git.Repo, model: str
) -> None:
    path = bad_release(run, repo, model)
    code, out, err = run("apply", "--auto-approve", "-f", path)
    assert code == 0, out + err
    short = repo.head.commit.hexsha[:7]
    assert f"s after the rollback commit {short})" in out


def test_a_saved_rollback_plan_applies_through_the_waived_gates(
    run: Run, repo: git.Repo, model: str, server_client: MlflowClient, tmp_path: Path
) -> None:
    path = bad_release(run, repo, model)
    saved = str(tmp_path / "plan.json")
    assert run("plan", "-f", path, "--out", saved).code == 0
    code, out, err = run("apply", "-f", path, "--plan", saved)
    assert code == 0, out + err
    assert server_client.get_registered_model(model).aliases == {"champion": "1", "challenger": "3"}


def test_a_rollback_to_a_version_whose_required_tag_was_revoked_is_refused(
    run: Run, repo: git.Repo, model: str, server_client: MlflowClient
) -> None:
    path = bad_release(run, repo, model)
    server_client.set_model_version_tag(model, "1", "validation_status", "revoked")
    code, out, _ = run("plan", "-f", path)
    assert code == 1
    assert "tag validation_status is 'revoked', expected = approved" in out
    assert run("apply", "--auto-approve", "-f", path).code == 1
    assert server_client.get_registered_model(model).aliases == {"champion": "2", "challenger": "3"}


def test_on_rollback_enforce_keeps_the_soft_checks(
    run: Run, repo: git.Repo, model: str, server_client: MlflowClient
) -> None:
    assert run("apply", "--auto-approve", "-f", declare(repo, model, 1)).code == 0
    assert run("apply", "--auto-approve", "-f", declare(repo, model, 2)).code == 0
    gate = GATE.replace("promotes_from: challenger", "on_rollback: enforce")
    path = declare(repo, model, 1, gate)
    code, out, _ = run("plan", "-f", path)
    assert code == 1
    assert "metric auc 0.85 is not higher than 0.87 of version 2" in out
    assert "waived" not in out
    assert server_client.get_registered_model(model).aliases == {"champion": "2", "challenger": "3"}


def test_a_hand_written_audit_tag_does_not_make_a_change_a_rollback(
    run: Run, repo: git.Repo, model: str, server_client: MlflowClient
) -> None:
    assert run("apply", "--auto-approve", "-f", declare(repo, model, 2)).code == 0
    # Anyone with EDIT can write a record in the tool's format, naming a real commit.
    forged = {"alias": "champion", "commit": repo.head.commit.hexsha, "from": None}
    server_client.set_model_version_tag(model, "1", audit_tag_key("champion"), json.dumps(forged))
    path = declare(repo, model, 1, GATE)
    change = change_of(json.loads(run("plan", "-f", path, "--format", "json").out))
    assert change["rollback"] is None
    failed = {g["gate"] for g in change["gates"] if not g["passed"]}
    assert failed == {"better_than_current.auc", "promotes_from"}
    assert run("apply", "--auto-approve", "-f", path).code == 1
    assert server_client.get_registered_model(model).aliases == {"champion": "2", "challenger": "3"}

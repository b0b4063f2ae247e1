"""Our own registry tags are hostile input: only a reviewed commit can authorise a deletion or a
`promotes_from` pass. Each attack is played against a real `mlflow server` by a registry user
who can only write tags and set aliases (EDIT), never the manifest's git history."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import git
import pytest
from mlflow import MlflowClient

from controller.cli import main
from controller.state import AUDIT_TAG_PREFIX, LAST_APPLIED_TAG
from testing.repos import commit_file, make_repo

pytestmark = pytest.mark.server

OWNER_TAG = "mlflow-gitops.owner"
Run = Callable[..., tuple[int, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], mlflow_server: str) -> Run:
    """The CLI in-process against the session server: (exit code, stdout)."""

    def _run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main([*args, "--tracking-uri", mlflow_server])
        return code, capsys.readouterr().out

    return _run


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    """The team's repository; its manifest's identity (`name:`) is its folder's unique name."""
    return make_repo(tmp_path / f"team-{uuid.uuid4().hex[:8]}")


def as_written(record: dict) -> str:
    """A record in the tool's own compact JSON, as a forger who read the format would write it."""
    return json.dumps(record, separators=(",", ":"))


def team(repo: git.Repo) -> str:
    return Path(str(repo.working_tree_dir)).name


def declare(repo: git.Repo, body: str, message: str = "declare") -> str:
    """Commit the team's manifest and return its path."""
    text = f"version: 1\nname: {team(repo)}\nmodels:\n{body}"
    commit_file(repo, "registry.yaml", text, message)
    return str(Path(str(repo.working_tree_dir)) / "registry.yaml")


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return dict(client.get_registered_model(name).aliases)


def last_applied(client: MlflowClient, name: str) -> dict:
    return json.loads(client.get_registered_model(name).tags[LAST_APPLIED_TAG])


def test_forged_ownership_cannot_get_another_teams_alias_deleted(
    run: Run, repo: git.Repo, make_model, server_client: MlflowClient
) -> None:
    bikes, fraud = make_model("bikes"), make_model("fraud")
    path = declare(repo, f"  {bikes}:\n    aliases:\n      champion: 1\n")
    assert run("apply", "--auto-approve", "-f", path)[0] == 0
    server_client.set_registered_model_alias(fraud, "prod", "1")  # the other team's
    # EDIT on fraud is enough for this: the owner tag and a record in the tool's own format.
    server_client.set_registered_model_tag(fraud, OWNER_TAG, team(repo))
    server_client.set_registered_model_tag(fraud, LAST_APPLIED_TAG, '{"aliases": {"prod": 1}}')

    # An owner tag without a record naming the owner makes no model this manifest's: the
    # plan does not even look at it.
    code, out = run("plan", "-f", path)
    assert code == 0 and fraud not in out, out
    assert run("apply", "--auto-approve", "-f", path)[0] == 0
    assert aliases(server_client, fraud) == {"prod": "1"}

    # A record naming the owner is found, and it names no commit that declared the alias.
    forged = {"aliases": {"prod": 1}, "owner": team(repo)}
    server_client.set_registered_model_tag(fraud, LAST_APPLIED_TAG, as_written(forged))
    code, out = run("plan", "-f", path)
    assert code == 1, out
    assert f"- {fraud}@prod" not in out
    assert (
        f"mlflow-gitops.last-applied on {fraud} names no commit of this manifest's history "
        f"(none): {fraud}@prod -> 1 left alone"
    ) in out
    # The drift workflow posts a failed plan's Markdown as its issue: the problem is there.
    code, out = run("plan", "-f", path, "--format", "markdown")
    assert code == 1 and "names no commit of this manifest" in out.split("#### Errors")[1]
    assert run("apply", "--auto-approve", "-f", path)[0] == 1
    assert aliases(server_client, fraud) == {"prod": "1"}


def test_a_forged_record_naming_a_real_commit_that_never_declared_the_alias_is_refused(
    run: Run, repo: git.Repo, make_model, server_client: MlflowClient
) -> None:
    bikes, fraud = make_model("bikes"), make_model("fraud")
    path = declare(repo, f"  {bikes}:\n    aliases:\n      champion: 1\n")
    assert run("apply", "--auto-approve", "-f", path)[0] == 0
    head = last_applied(server_client, bikes)["commit"]
    assert head == repo.head.commit.hexsha
    server_client.set_registered_model_alias(fraud, "prod", "1")
    server_client.set_registered_model_tag(fraud, OWNER_TAG, team(repo))
    forged = {"aliases": {"prod": 1}, "commit": head, "owner": team(repo)}
    server_client.set_registered_model_tag(fraud, LAST_APPLIED_TAG, as_written(forged))

    code, out = run("plan", "-f", path, "--format", "json")
    assert code == 1
    plan = json.loads(out)
    assert plan["changes"] == [] and plan["removed_models"] == []
    [problem] = plan["errors"]
    assert (problem["model"], problem["alias"]) == (fraud, "prod")
    assert (
        f"names commit {head[:12]}, whose manifest does not declare {fraud}@prod: 1"
        in (problem["message"])
    )
    assert run("apply", "--auto-approve", "-f", path)[0] == 1
    assert aliases(server_client, fraud) == {"prod": "1"}


def test_an_alias_set_by_hand_and_added_to_last_applied_is_not_deleted(
    run: Run, repo: git.Repo, make_model, server_client: MlflowClient
) -> None:
    bikes = make_model("bikes")
    path = declare(repo, f"  {bikes}:\n    aliases:\n      champion: 1\n")
    assert run("apply", "--auto-approve", "-f", path)[0] == 0
    server_client.set_registered_model_alias(bikes, "shadow", "2")
    record = last_applied(server_client, bikes)
    record["aliases"]["shadow"] = 2  # the same commit, one more alias
    server_client.set_registered_model_tag(bikes, LAST_APPLIED_TAG, json.dumps(record))

    code, out = run("apply", "--auto-approve", "-f", path)
    assert code == 1, out
    assert f"- {bikes}@shadow" not in out
    assert f"registry.yaml:4:3: mlflow-gitops.last-applied on {bikes} names commit" in out
    assert aliases(server_client, bikes) == {"champion": "1", "shadow": "2"}


def test_aliases_and_models_that_reviewed_commits_removed_are_still_deleted(
    run: Run, repo: git.Repo, make_model, server_client: MlflowClient, tmp_path: Path
) -> None:
    bikes, churn = make_model("bikes"), make_model("churn")
    both = f"  {bikes}:\n    aliases:\n      champion: 1\n      challenger: 2\n"
    path = declare(repo, both + f"  {churn}:\n    aliases:\n      prod: 1\n")
    assert run("apply", "--auto-approve", "-f", path)[0] == 0
    declare(repo, f"  {bikes}:\n    aliases:\n      champion: 1\n", "drop churn and challenger")
    saved = str(tmp_path / "plan.json")
    code, out = run("plan", "-f", path, "--out", saved)
    assert code == 0, out
    assert f"- {bikes}@challenger: 2 (removed)" in out and f"- {churn}@prod: 1 (removed)" in out
    code, out = run("apply", "--plan", saved)
    assert code == 0, out
    assert aliases(server_client, bikes) == {"champion": "1"}
    assert aliases(server_client, churn) == {}


def test_a_record_released_by_a_later_commit_authorises_nothing(
    run: Run, repo: git.Repo, make_model, server_client: MlflowClient
) -> None:
    bikes, churn = make_model("bikes"), make_model("churn")
    keep = f"  {bikes}:\n    aliases:\n      champion: 1\n"
    path = declare(repo, keep + f"  {churn}:\n    aliases:\n      prod: 1\n")
    assert run("apply", "--auto-approve", "-f", path)[0] == 0
    record = server_client.get_registered_model(churn).tags[LAST_APPLIED_TAG]
    declare(repo, keep + f"release:\n  - {churn}\n", "hand churn over")
    assert run("apply", "--auto-approve", "-f", path)[0] == 0
    declare(repo, keep, "tidy up the release list")
    # The old, genuine record put back by hand, with the owner tag: the model was handed over.
    server_client.set_registered_model_tag(churn, OWNER_TAG, team(repo))
    server_client.set_registered_model_tag(churn, LAST_APPLIED_TAG, record)

    code, out = run("apply", "--auto-approve", "-f", path)
    assert code == 1, out
    assert "released " + churn in out
    assert aliases(server_client, churn) == {"prod": "1"}


def test_a_saved_plan_edited_to_delete_on_a_forged_record_is_refused(
    run: Run, repo: git.Repo, make_model, server_client: MlflowClient, tmp_path: Path
) -> None:
    bikes = make_model("bikes")
    path = declare(repo, f"  {bikes}:\n    aliases:\n      champion: 1\n")
    assert run("apply", "--auto-approve", "-f", path)[0] == 0
    server_client.set_registered_model_alias(bikes, "shadow", "2")
    record = last_applied(server_client, bikes)
    record["aliases"]["shadow"] = 2
    server_client.set_registered_model_tag(bikes, LAST_APPLIED_TAG, json.dumps(record))
    saved = tmp_path / "plan.json"
    assert run("plan", "-f", path, "--out", str(saved))[0] == 1
    # Whoever can write the plan file drops the problem and puts the deletion its snapshot
    # gives back in: the file is then exactly what its own snapshot gives.
    data = json.loads(saved.read_text())
    data["errors"] = []
    data["changes"] = [
        {
            "model": bikes, "alias": "shadow", "action": "delete", "from": 2, "to": None,
            "reason": "removed", "copy": None, "evidence": None, "gates": [], "rollback": None,
        }
    ]  # fmt: skip
    data["summary"]["delete"] = 1
    saved.write_text(json.dumps(data))

    code, out = run("apply", "--plan", str(saved))
    assert code == 1, out
    assert "deletes what no reviewed commit confirms" in out
    assert aliases(server_client, bikes) == {"champion": "1", "shadow": "2"}


PROMOTES = "      champion: {promotes_from: challenger}\n"


def gated(name: str, aliases_yaml: str) -> str:
    return f"  {name}:\n    aliases: {aliases_yaml}\n    gates:\n" + PROMOTES


def test_promotes_from_refuses_a_hand_written_audit_tag(
    run: Run, repo: git.Repo, make_model, server_client: MlflowClient
) -> None:
    name = make_model("gated", versions=4)
    server_client.set_registered_model_alias(name, "challenger", "3")  # a click in the UI
    forged = {"alias": "challenger", "commit": None, "actor": "mallory", "from": None}
    server_client.set_model_version_tag(
        name, "3", AUDIT_TAG_PREFIX + "challenger", json.dumps(forged)
    )
    path = declare(repo, gated(name, "{champion: 3, challenger: 4}"))

    code, out = run("plan", "-f", path, "--format", "json")
    assert code == 1
    [change] = [c for c in json.loads(out)["changes"] if c["alias"] == "champion"]
    [result] = change["gates"]
    assert (result["passed"], result["actual"]) == (False, "challenger not confirmed")
    assert "names no commit of this manifest's history" in result["message"]
    assert "set by mlflow-gitops" not in result["message"]
    assert run("apply", "--auto-approve", "-f", path)[0] == 1
    assert aliases(server_client, name) == {"challenger": "3"}


def test_promotes_from_passes_on_a_challenger_a_reviewed_commit_set(
    run: Run, repo: git.Repo, make_model, server_client: MlflowClient, tmp_path: Path
) -> None:
    name = make_model("gated", versions=4)
    path = declare(repo, gated(name, "{challenger: 3}"))
    assert run("apply", "--auto-approve", "-f", path)[0] == 0
    declare(repo, gated(name, "{champion: 3, challenger: 4}"), "promote the challenger")
    saved = str(tmp_path / "plan.json")
    code, out = run("plan", "-f", path, "--out", saved)
    assert code == 0, out
    assert "✓ promotes_from = held challenger" in out
    code, out = run("apply", "--plan", saved)  # checked again, on fresh data
    assert code == 0, out
    assert aliases(server_client, name) == {"champion": "3", "challenger": "4"}

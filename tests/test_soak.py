"""Soak time against a real `mlflow server`: `promotes_from: {alias, soak}` counts from the
reviewed commit that declared the version and its confirmed apply (the later), on a pinned
clock; a registry tag an EDIT-only user wrote never starts a soak."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import git
import pytest
from mlflow import MlflowClient

from controller.cli import main
from controller.state import AUDIT_TAG_PREFIX
from testing.repos import commit_file, make_repo

pytestmark = pytest.mark.server

Run = Callable[..., tuple[int, str]]
AUDIT = AUDIT_TAG_PREFIX + "challenger"


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], mlflow_server: str) -> Run:
    """The CLI in-process against the session server: (exit code, stdout and stderr)."""

    def _run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main([*args, "--tracking-uri", mlflow_server])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return _run


@pytest.fixture
def repo(tmp_path: Path) -> git.Repo:
    return make_repo(tmp_path / f"team-{uuid.uuid4().hex[:8]}")


def declare(repo: git.Repo, name: str, aliases: str, soak: str, message: str) -> str:
    """Commit a manifest whose champion must have soaked as challenger; return its path."""
    text = (
        f"version: 1\nname: {Path(str(repo.working_tree_dir)).name}\nmodels:\n"
        f"  {name}:\n    aliases: {aliases}\n    gates:\n"
        f"      champion: {{promotes_from: {{alias: challenger, soak: {soak}}}}}\n"
    )
    commit_file(repo, "registry.yaml", text, message)
    return str(Path(str(repo.working_tree_dir)) / "registry.yaml")


def applied_at(client: MlflowClient, name: str, version: str) -> datetime:
    record = json.loads(client.get_model_version(name, version).tags[AUDIT])
    return datetime.fromisoformat(record["applied_at"].replace("Z", "+00:00"))


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return dict(client.get_registered_model(name).aliases)


def at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setenv("MLFLOW_GITOPS_NOW", moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def soaked_challenger(
    run: Run, repo: git.Repo, make_model: Callable[..., str], soak: str
) -> tuple[str, str]:
    """A model whose v3 went to challenger through a reviewed commit and its apply, and a
    second commit that promotes it to champion under a soak gate: (name, manifest path)."""
    name = make_model("soak", versions=3)
    path = declare(repo, name, "{challenger: 3}", soak, "challenger 3")
    code, out = run("apply", "-f", path, "--auto-approve")
    assert code == 0, out
    declare(repo, name, "{champion: 3, challenger: 3}", soak, "promote 3 to champion")
    return name, path


def test_a_soak_not_yet_met_says_how_long_and_when_it_will_be_allowed(
    run: Run, repo: git.Repo, make_model, server_client: MlflowClient, monkeypatch
) -> None:
    name, path = soaked_challenger(run, repo, make_model, "24h")
    started = applied_at(server_client, name, "3")
    at(monkeypatch, started + timedelta(hours=5))
    allowed = started + timedelta(hours=24)
    if allowed.second:
        allowed = allowed.replace(second=0) + timedelta(minutes=1)

    code, out = run("plan", "-f", path)
    assert code == 1, out
    assert (
        f"{name}@champion -> 3: held challenger for 5h, needs 24h "
        f"(allowed from {allowed:%Y-%m-%d %H:%M} UTC)"
    ) in out
    assert run("apply", "-f", path, "--auto-approve")[0] == 1
    assert aliases(server_client, name) == {"challenger": "3"}


def test_a_soak_met_promotes_and_a_saved_plan_is_checked_again_at_apply(
    run: Run,
    repo: git.Repo,
    make_model,
    server_client: MlflowClient,
    monkeypatch,
    tmp_path: Path,
) -> None:
    name, path = soaked_challenger(run, repo, make_model, "24h")
    started = applied_at(server_client, name, "3")
    saved = str(tmp_path / "plan.json")
    at(monkeypatch, started + timedelta(hours=25))
    code, out = run("plan", "-f", path, "--out", saved)
    assert code == 0, out
    assert "✓ promotes_from = held challenger for 25h" in out
    at(monkeypatch, started + timedelta(hours=23))  # the clock apply reads decides again
    code, out = run("apply", "--plan", saved, "--auto-approve")
    assert code == 1, out
    assert "held challenger for 23h, needs 24h" in out
    assert aliases(server_client, name) == {"challenger": "3"}
    at(monkeypatch, started + timedelta(hours=25))
    code, out = run("apply", "--plan", saved, "--auto-approve")
    assert code == 0, out
    assert aliases(server_client, name) == {"champion": "3", "challenger": "3"}


def test_a_soak_in_seconds(
    run: Run, repo: git.Repo, make_model, server_client: MlflowClient, monkeypatch
) -> None:
    name, path = soaked_challenger(run, repo, make_model, "1m30s")
    started = applied_at(server_client, name, "3")
    at(monkeypatch, started + timedelta(seconds=61))
    code, out = run("plan", "-f", path)
    assert code == 1, out
    allowed = started + timedelta(seconds=90)
    assert (
        f"{name}@champion -> 3: held challenger for 1m 1s, needs 1m 30s "
        f"(allowed from {allowed:%Y-%m-%d %H:%M:%S} UTC)"
    ) in out
    at(monkeypatch, started + timedelta(seconds=90))
    code, out = run("apply", "-f", path, "--auto-approve")
    assert code == 0, out
    assert aliases(server_client, name) == {"champion": "3", "challenger": "3"}


def test_a_forged_audit_tag_never_starts_a_soak(
    run: Run, repo: git.Repo, make_model, server_client: MlflowClient, monkeypatch
) -> None:
    """Challenger set by hand (a click in the UI), with an audit tag in the tool's format: one
    naming no commit, then one naming the real commit that declared it, dated before it."""
    name = make_model("soak", versions=3)
    declared = datetime.now(UTC).replace(microsecond=0)
    commit_file(repo, "placeholder", "", "start")
    path = declare(repo, name, "{champion: 3, challenger: 3}", "24h", "declare, never applied")
    sha = repo.head.commit.hexsha
    server_client.set_registered_model_alias(name, "challenger", "3")
    forged = {"alias": "challenger", "commit": None, "actor": "mallory", "from": None,
              "applied_at": "2020-01-01T00:00:00Z"}  # fmt: skip
    server_client.set_model_version_tag(name, "3", AUDIT, json.dumps(forged))
    at(monkeypatch, declared + timedelta(days=30))

    code, out = run("plan", "-f", path)
    assert code == 1, out
    assert (
        f"{name}@champion -> 3: version 3 holds challenger, but its soak is not counted: its "
        f"{AUDIT} tag names no commit of this manifest's history (none)"
    ) in out

    server_client.set_model_version_tag(name, "3", AUDIT, json.dumps({**forged, "commit": sha}))
    code, out = run("plan", "-f", path)
    assert code == 1, out
    assert (
        f"its {AUDIT} tag records an apply before commit {sha[:12]} declared challenger: 3"
    ) in out
    assert run("apply", "-f", path, "--auto-approve")[0] == 1
    assert aliases(server_client, name) == {"challenger": "3"}


def test_a_rollback_waives_the_soak(
    run: Run, repo: git.Repo, make_model, server_client: MlflowClient
) -> None:
    """Back to a version that served as champion: the soak, like all of promotes_from, is
    waived (on_rollback: waive, the default)."""
    name = make_model("soak", versions=3)
    for champion in (1, 2, 1):  # released 1, then 2, then rolled back to 1
        path = declare(repo, name, f"{{champion: {champion}, challenger: 3}}", "24h", "release")
    server_client.set_registered_model_alias(name, "champion", "2")  # 2 is live
    server_client.set_registered_model_alias(name, "challenger", "3")

    code, out = run("plan", "-f", path, "--format", "json")
    assert code == 0, out
    (change,) = json.loads(out)["changes"]
    assert change["rollback"]["waived"] == ["promotes_from"]
    assert change["gates"] == []
    assert run("apply", "-f", path, "--auto-approve")[0] == 0
    assert aliases(server_client, name) == {"champion": "1", "challenger": "3"}


def test_a_plan_with_a_soak_walks_the_manifest_history_once(
    run: Run, repo: git.Repo, make_model, server_client: MlflowClient, monkeypatch
) -> None:
    """Its rollback lanes and its soak come from the same commits: one walk serves both."""
    from controller import records

    name, path = soaked_challenger(run, repo, make_model, "1h")
    at(monkeypatch, applied_at(server_client, name, "3") + timedelta(hours=2))
    walks: list[str] = []
    walk = records.manifest_revisions

    def counted(manifest: str) -> list:
        walks.append(manifest)
        return walk(manifest)

    monkeypatch.setattr(records, "manifest_revisions", counted)
    code, out = run("plan", "-f", path)
    assert code == 0, out
    assert "✓ promotes_from = held challenger for 2h" in out
    assert len(walks) == 1

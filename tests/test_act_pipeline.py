"""Several manifests in one repository, and the scheduled apply, through act against a real
server: the callers are the ones docs/pipelines.md quotes, and the examples' apply caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from testing.act import (
    PIN,
    ROOT,
    TOOL,
    Repo,
    link,
    log,
    manifest,
    pull_request_event,
    push_event,
)
from testing.cli import run_cli
from testing.owners import recorded_owner

if TYPE_CHECKING:
    from mlflow import MlflowClient

pytestmark = [pytest.mark.e2e, pytest.mark.server]

SCHEDULE = {"schedule": "17 * * * *"}


def quoted_caller(name: str) -> str:
    """A caller as docs/pipelines.md shows it, pinned as the act harness pins the examples."""
    text = (ROOT / "docs" / "pipelines.md").read_text(encoding="utf-8")
    block = text.split(f"# .github/workflows/{name}\n", 1)[1].split("```", 1)[0]
    return block.replace("OWNER/mlflow-gitops/", f"{TOOL}/").replace("@SHA", f"@{PIN}")


def stage(adopter: Repo, path: str, model: str, champion: int) -> str:
    """One environment's manifest: its own owner identity and its own registry."""
    text = (
        f"version: 1\nname: e2e-{path.removesuffix('.yaml')}-{model}\n"
        f"tracking_uri: {adopter.tracking_uri}\n"
        f"models:\n  {model}:\n    aliases:\n      champion: {champion}\n"
    )
    (adopter.path / path).write_text(text, encoding="utf-8")
    return text


def test_two_manifests_plan_and_apply_each_with_its_own_comment_and_owner(
    adopter: Repo, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    staging, production = make_model("stg", 3), make_model("prd", 3)
    for name in (staging, production):
        server_client.set_registered_model_alias(name, "champion", "1")
    for caller in ("registry-plan.yml", "registry-apply.yml"):
        (adopter.path / ".github" / "workflows" / caller).write_text(quoted_caller(caller))
    stage(adopter, "staging.yaml", staging, 2)
    stage(adopter, "production.yaml", production, 3)
    adopter.git("add", "-A")
    adopter.git("commit", "-q", "-m", "promote in both environments")
    merge = adopter.git("rev-parse", "HEAD").strip()
    adopter.seed_gh({"pulls": [{"number": 7, "merge_commit_sha": merge, "merged_at": "x"}]})

    planned = adopter.act("pull_request", "registry-plan.yml", pull_request_event())

    assert planned.returncode == 0, log(planned)
    plans = {c["body"].split(" ", 2)[2].split(" ", 1)[0]: c for c in adopter.gh()["comments"]}
    assert sorted(plans) == ["manifest=production.yaml", "manifest=staging.yaml"]
    for path, mine, theirs, version in (
        ("staging.yaml", staging, production, 2),
        ("production.yaml", production, staging, 3),
    ):
        body = plans[f"manifest={path}"]["body"]
        assert body.startswith(f"<!-- mlflow-gitops:plan manifest={path} ")
        assert f"| {link(adopter, mine, 1)} | {link(adopter, mine, version)} | promote |" in body
        assert theirs not in body
    assert "plan staging.yaml" in planned.stdout and "plan production.yaml" in planned.stdout

    applied = adopter.act("push", "registry-apply.yml", push_event())

    assert applied.returncode == 0, log(applied)
    assert server_client.get_registered_model(staging).aliases == {"champion": "2"}
    assert server_client.get_registered_model(production).aliases == {"champion": "3"}
    # Each manifest owns its model under its own identity.
    assert recorded_owner(server_client, staging) == f"e2e-staging-{staging}"
    assert recorded_owner(server_client, production) == f"e2e-production-{production}"
    results = [c for c in adopter.gh()["comments"] if "mlflow-gitops:apply" in c["body"]]
    assert sorted(c["body"].split("\n", 1)[0] for c in results) == [
        "<!-- mlflow-gitops:apply manifest=production.yaml -->",
        "<!-- mlflow-gitops:apply manifest=staging.yaml -->",
    ]
    assert all(c["issue"] == 7 for c in results)
    for comment in results:
        path = comment["body"].split("manifest=", 1)[1].split(" ", 1)[0]
        assert f"Applied {path} at {merge} in [this run]" in comment["body"]


def test_drift_keeps_one_issue_per_manifest(
    adopter: Repo, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    staging, production = make_model("stg", 2), make_model("prd", 2)
    for name in (staging, production):
        server_client.set_registered_model_alias(name, "champion", "1")
    caller = adopter.path / ".github" / "workflows" / "registry-drift.yml"
    caller.write_text(quoted_caller("registry-drift.yml"))
    stage(adopter, "staging.yaml", staging, 2)  # drifted: the registry still says 1
    stage(adopter, "production.yaml", production, 1)  # in sync
    adopter.git("add", "-A")
    adopter.git("commit", "-q", "-m", "two manifests")
    # Production was applied (adopted) before: only staging's registry differs from its manifest.
    adopted = run_cli("apply", "-f", "production.yaml", "--auto-approve", cwd=adopter.path)
    assert adopted.returncode == 0, adopted.stderr
    assert recorded_owner(server_client, production) == f"e2e-production-{production}"

    result = adopter.act("workflow_dispatch", "registry-drift.yml", {})

    assert result.returncode == 0, log(result)
    (issue,) = adopter.gh()["issues"]
    assert issue["labels"] == ["registry-drift-staging.yaml"]
    assert issue["title"] == "MLflow registry drift: the registry differs from staging.yaml"
    assert staging in issue["body"] and production not in issue["body"]


def test_a_scheduled_apply_waits_out_a_freeze_then_lands_and_then_has_nothing_to_do(
    adopter: Repo, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    model = make_model("e2e", 3)
    server_client.set_registered_model_alias(model, "champion", "1")
    frozen = '\nfreeze:\n  - {cron: "* * * * *", duration: 1h, reason: release freeze}\n'
    adopter.commit_manifest(manifest(model, champion=2) + frozen)

    held = adopter.act("schedule", "registry-apply.yml", SCHEDULE)

    assert held.returncode == 0, log(held)
    assert "a freeze window is open; a later scheduled run applies after it" in held.stdout
    assert server_client.get_registered_model(model).aliases == {"champion": "1"}
    assert not (adopter.gh_state / "calls.jsonl").exists()  # no comment on a schedule

    adopter.commit_manifest(manifest(model, champion=2))  # the window is over
    landed = adopter.act("schedule", "registry-apply.yml", SCHEDULE)
    assert landed.returncode == 0, log(landed)
    assert "Run Main Apply" in landed.stdout, log(landed)
    assert server_client.get_registered_model(model).aliases == {"champion": "2"}

    idle = adopter.act("schedule", "registry-apply.yml", SCHEDULE)
    assert idle.returncode == 0, log(idle)
    assert "no changes, nothing to apply" in idle.stdout
    assert "Run Main Apply" not in idle.stdout, log(idle)

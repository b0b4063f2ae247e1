"""The reusable workflows, called as an adopter calls them, run by act against a real server
(how: testing/act.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from testing.act import (
    ROOT,
    Repo,
    dispatch_event,
    git,
    link,
    log,
    manifest,
    pull_request_event,
    push_event,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

MARKER = "<!-- mlflow-gitops:plan manifest=registry.yaml "

pytestmark = [pytest.mark.e2e, pytest.mark.server]


def test_plan_posts_one_sticky_comment_and_updates_it_on_every_push(
    adopter: Repo, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    model = make_model("e2e", 3)
    server_client.set_registered_model_alias(model, "champion", "1")

    adopter.commit_manifest(manifest(model, champion=2))
    first = adopter.act("pull_request", "registry-plan.yml", pull_request_event())
    assert first.returncode == 0, log(first)
    (comment,) = adopter.gh()["comments"]
    assert comment["issue"] == 7
    assert comment["body"].startswith(MARKER)
    row = f"| champion | {link(adopter, model, 1)} | {link(adopter, model, 2)} | promote |"
    assert row in comment["body"]
    # The evidence: current against proposed, and the registry the plan was computed for.
    assert "Planned for commit `" in comment["body"]
    assert (
        f"**{model}@champion**: {link(adopter, model, 1)} → {link(adopter, model, 2)}"
        in comment["body"]
    )
    assert "| status | READY | READY |  |" in comment["body"]

    adopter.commit_manifest(manifest(model, champion=3))
    second = adopter.act("pull_request", "registry-plan.yml", pull_request_event())
    assert second.returncode == 0, log(second)
    (updated,) = adopter.gh()["comments"]
    assert updated["id"] == comment["id"]
    row = f"| champion | {link(adopter, model, 1)} | {link(adopter, model, 3)} | promote |"
    assert row in updated["body"]
    writes = [call[:3] for call in adopter.gh_calls() if "--method" in call]
    assert [w[2] for w in writes] == ["POST", "PATCH"]

    adopter.commit_manifest(manifest(model, champion=3, challenger=9))
    failing = adopter.act("pull_request", "registry-plan.yml", pull_request_event())
    assert failing.returncode != 0, log(failing)
    line = "::error file=registry.yaml,line=7,col=19,title=registry plan error::version 9"
    assert line in failing.stdout, log(failing)
    (with_errors,) = adopter.gh()["comments"]
    assert "**❌ The plan has 1 error; nothing will be applied.**" in with_errors["body"]
    assert server_client.get_registered_model(model).aliases == {"champion": "1"}

    # A manifest that does not even parse: no plan, so the comment says so, in place...
    adopter.commit_manifest(manifest(model, champion=3) + "  [unclosed\n")
    unparsable = adopter.act("pull_request", "registry-plan.yml", pull_request_event())
    assert unparsable.returncode != 0, log(unparsable)
    (fallback,) = adopter.gh()["comments"]
    assert fallback["id"] == comment["id"]
    assert fallback["body"].startswith("<!-- mlflow-gitops:plan manifest=registry.yaml -->")
    assert "**The plan could not be computed.**" in fallback["body"]
    # ...and the next plan replaces that comment rather than posting a second one.
    adopter.commit_manifest(manifest(model, champion=2))
    fixed = adopter.act("pull_request", "registry-plan.yml", pull_request_event())
    assert fixed.returncode == 0, log(fixed)
    (replanned,) = adopter.gh()["comments"]
    assert replanned["id"] == comment["id"] and replanned["body"].startswith(MARKER)
    writes = [call[:3] for call in adopter.gh_calls() if "--method" in call]
    assert [w[2] for w in writes] == ["POST"] + ["PATCH"] * 4


def test_apply_on_merge_makes_the_registry_match_and_reports_to_the_merged_pull_request(
    adopter: Repo, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    model = make_model("e2e", 3)
    server_client.set_registered_model_alias(model, "champion", "1")
    adopter.commit_manifest(manifest(model, champion=3, challenger=2))
    merge = adopter.git("rev-parse", "HEAD").strip()
    merged = {"number": 7, "merge_commit_sha": merge, "merged_at": "2026-11-28T12:00:00Z"}
    adopter.seed_gh({"pulls": [merged]})

    result = adopter.act("push", "registry-apply.yml", push_event())

    assert result.returncode == 0, log(result)
    assert server_client.get_registered_model(model).aliases == {"champion": "3", "challenger": "2"}
    (comment,) = adopter.gh()["comments"]
    assert comment["issue"] == 7
    assert comment["body"].startswith(
        "<!-- mlflow-gitops:apply manifest=registry.yaml -->\n### MLflow registry apply"
    )
    assert "**Apply: 2 applied, 0 failed, 0 skipped; 1 model changed hands.**" in comment["body"]
    assert f"Applied registry.yaml at {merge} in [this run]" in comment["body"]


def test_apply_that_fails_says_so_on_the_merged_pull_request(
    adopter: Repo, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    model = make_model("e2e", 2)
    server_client.set_registered_model_alias(model, "champion", "1")
    adopter.commit_manifest(manifest(model, champion=9))
    merge = adopter.git("rev-parse", "HEAD").strip()
    adopter.seed_gh({"pulls": [{"number": 8, "merge_commit_sha": merge, "merged_at": "x"}]})

    result = adopter.act("push", "registry-apply.yml", push_event())

    assert result.returncode != 0, log(result)
    assert server_client.get_registered_model(model).aliases == {"champion": "1"}
    (comment,) = adopter.gh()["comments"]
    assert comment["issue"] == 8
    assert "❌ **Apply failure** for registry.yaml" in comment["body"]


def test_drift_keeps_one_issue_current_through_drift_and_errors_and_closes_it_in_sync(
    adopter: Repo, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    model = make_model("e2e", 2)
    server_client.set_registered_model_alias(model, "champion", "1")
    adopter.commit_manifest(manifest(model, champion=2))

    for _ in range(2):
        result = adopter.act("workflow_dispatch", "registry-drift.yml", {})
        assert result.returncode == 0, log(result)
    (issue,) = adopter.gh()["issues"]
    assert issue["state"] == "open"
    assert issue["labels"] == ["registry-drift"]
    assert issue["title"] == "MLflow registry drift: the registry differs from registry.yaml"
    assert f"| champion | {link(adopter, model, 1)} | {link(adopter, model, 2)} |" in issue["body"]

    # A declared version that does not exist: the plan fails, the run fails, the issue says why.
    adopter.commit_manifest(manifest(model, champion=2, challenger=9))
    result = adopter.act("workflow_dispatch", "registry-drift.yml", {})
    assert result.returncode != 0, log(result)
    (issue,) = adopter.gh()["issues"]
    assert issue["state"] == "open"
    assert issue["title"] == "MLflow registry: the plan of registry.yaml fails"
    assert "**❌ The plan has 1 error; nothing will be applied.**" in issue["body"]
    assert f"version 9 of model {model!r} does not exist" in issue["body"]

    adopter.commit_manifest(manifest(model, champion=2))
    server_client.set_registered_model_alias(model, "champion", "2")
    result = adopter.act("workflow_dispatch", "registry-drift.yml", {})
    assert result.returncode == 0, log(result)
    (issue,) = adopter.gh()["issues"]
    assert issue["state"] == "open"  # the aliases agree, but no apply has adopted the model yet
    assert f"`{model}`: first adoption" in issue["body"]

    # What the first apply records (the owner tag): then the registry is in sync.
    server_client.set_registered_model_tag(model, "mlflow-gitops.owner", f"e2e-{model}")
    result = adopter.act("workflow_dispatch", "registry-drift.yml", {})
    assert result.returncode == 0, log(result)
    (issue,) = adopter.gh()["issues"]
    assert issue["state"] == "closed"


@pytest.mark.parametrize(
    ("declared", "action", "version", "to"),
    [([2], "promote", "3", 3), ([1, 3], "rollback", "", 1)],
    ids=["promote", "rollback-to-the-previous-value"],
)
def test_dispatch_pushes_a_one_line_commit_and_opens_its_pull_request(
    adopter: Repo,
    adopter_origin: Path,
    make_model: Callable[..., str],
    declared: list[int],
    action: str,
    version: str,
    to: int,
) -> None:
    model = make_model("e2e", 3)
    for champion in declared:
        adopter.commit_manifest(manifest(model, champion=champion))
    adopter.git("push", "-q", "origin", "main")

    event = dispatch_event(action=action, model=model, alias="champion", version=version)
    result = adopter.act("workflow_dispatch", "registry-promote.yml", event)

    assert result.returncode == 0, log(result)
    branch = f"{action}/{model}-champion-v{to}"
    subject = f"{action} {model}@champion: {declared[-1]} -> {to}"
    assert git(adopter_origin, "for-each-ref", "--format=%(refname:short)") == f"main\n{branch}\n"
    assert git(adopter_origin, "log", "--format=%s", f"main..{branch}") == f"{subject}\n"
    assert git(adopter_origin, "diff", "--numstat", "main", branch) == "1\t1\tregistry.yaml\n"
    diff = git(adopter_origin, "diff", "--unified=0", "main", branch).splitlines()
    changed = [line for line in diff if line.startswith(("-  ", "+  "))]
    assert changed == [f"-      champion: {declared[-1]}", f"+      champion: {to}"]
    (pull,) = adopter.gh()["pulls"]
    assert (pull["head"], pull["base"], pull["title"]) == (branch, "main", subject)
    if action == "rollback":  # labelled, with the rollback's own plan in its body
        assert pull["labels"] == ["rollback"]
        assert "#### The rollback's plan" in pull["body"]
        partial = "Targeted plan: 1 of 1 models; the rest is not checked"
        assert f"**{partial}**: `{model}@champion`" in pull["body"]
        assert link(adopter, model, 1) in pull["body"]  # the version it goes back to
    else:
        assert pull["labels"] == []


def test_a_targeted_dispatch_applies_one_model_while_another_is_broken(
    adopter: Repo, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    model, broken = make_model("e2e", 3), make_model("e2e", 3)
    for name in (model, broken):
        server_client.set_registered_model_alias(name, "champion", "1")
    text = manifest(model, champion=3) + f"  {broken}:\n    aliases:\n      champion: 9\n"
    adopter.commit_manifest(text)

    whole = adopter.act("workflow_dispatch", "registry-apply.yml", dispatch_event())
    assert whole.returncode != 0, log(whole)  # the broken model blocks the whole manifest
    result = adopter.act("workflow_dispatch", "registry-apply.yml", dispatch_event(target=model))

    assert result.returncode == 0, log(result)
    assert "Targeted plan: 1 of 2 models; the rest is not checked" in result.stdout
    assert server_client.get_registered_model(model).aliases == {"champion": "3"}
    assert server_client.get_registered_model(broken).aliases == {"champion": "1"}


def test_promoting_a_missing_version_fails_and_pushes_nothing(
    adopter: Repo, adopter_origin: Path, make_model: Callable[..., str]
) -> None:
    model = make_model("e2e", 2)
    adopter.commit_manifest(manifest(model, champion=2))
    adopter.git("push", "-q", "origin", "main")

    event = dispatch_event(action="promote", model=model, alias="champion", version="9")
    result = adopter.act("workflow_dispatch", "registry-promote.yml", event)

    assert result.returncode != 0, log(result)
    assert f"version 9 of model {model!r} does not exist" in result.stdout, log(result)
    assert git(adopter_origin, "for-each-ref", "--format=%(refname:short)") == "main\n"
    assert not (adopter.gh_state / "calls.jsonl").exists()


@pytest.mark.parametrize(
    "inputs",
    [{"alias": "champion", "version": "3a"}, {"alias": "the champion", "version": "3"}],
    ids=["version-not-a-number", "alias-with-a-space"],
)
def test_promote_refuses_bad_inputs_before_checking_out(
    adopter: Repo, adopter_origin: Path, inputs: dict[str, str]
) -> None:
    adopter.git("push", "-q", "origin", "main")

    event = dispatch_event(action="promote", model="bikes", **inputs)
    result = adopter.act("workflow_dispatch", "registry-promote.yml", event)

    # The refusal's own `::error` line can be missing from act's output for a step this short;
    # what cannot race is that the job failed before any later step and pushed nothing.
    assert result.returncode != 0, log(result)
    assert "Validate registry.yaml" not in result.stdout, log(result)
    assert git(adopter_origin, "for-each-ref", "--format=%(refname:short)") == "main\n"


@pytest.mark.parametrize(
    ("workflow", "event", "payload"),
    [
        ("registry-plan.yml", "pull_request", pull_request_event()),
        ("registry-apply.yml", "push", push_event()),
        ("registry-drift.yml", "workflow_dispatch", {}),
        (
            "registry-promote.yml",
            "workflow_dispatch",
            dispatch_event(action="promote", model="bikes", alias="champion", version="2"),
        ),
        ("registry-update.yml", "workflow_dispatch", dispatch_event()),
    ],
    ids=["plan", "apply", "drift", "promote", "update"],
)
def test_own_callers_skip_cleanly_without_the_registry_variable(
    adopter: Repo, workflow: str, event: str, payload: dict[str, Any]
) -> None:
    # This repository's own callers, as a fork of it runs them before setting the variable. act
    # does not know `$/`; the job naming it is skipped, so `./` (the same file here) stands in.
    text = (ROOT / ".github" / "workflows" / workflow).read_text(encoding="utf-8")
    text = text.replace("uses: $/.github/workflows/", "uses: ./.github/workflows/")
    (adopter.path / ".github" / "workflows" / workflow).write_text(text, encoding="utf-8")

    result = adopter.act(event, workflow, payload, registry_variable=False)

    assert result.returncode == 0, log(result)
    assert "/no registry configured]   ✅  Success - Main Skip" in result.stdout, log(result)
    assert "Check out" not in result.stdout, log(result)
    assert not (adopter.gh_state / "calls.jsonl").exists()

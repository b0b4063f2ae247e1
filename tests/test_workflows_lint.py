"""The action and workflows pass GitHub's schemas and the linters, offline, with no findings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PROMOTE = "registry-promote.yml"
UPDATE = "registry-update.yml"


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def load(path: Path) -> dict[Any, Any]:
    # PyYAML reads the key `on` as True; the workflow schema calls it "on".
    return {("on" if k is True else k): v for k, v in yaml.safe_load(path.read_text()).items()}


def steps(path: Path) -> list[dict[str, Any]]:
    doc = load(path)
    if "runs" in doc:
        return doc["runs"]["steps"]
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def test_the_workflows_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {
        "registry-plan.yml",
        "registry-apply.yml",
        "registry-drift.yml",
        "registry-promote.yml",
        "registry-update.yml",
        "ci.yml",
    } <= names


def test_actionlint_and_shellcheck_find_nothing() -> None:
    result = run(BIN / "actionlint", "-color=false", "-shellcheck", BIN / "shellcheck", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_really_runs_shellcheck(tmp_path: Path) -> None:
    workflow = tmp_path / "bad.yml"
    workflow.write_text(
        "on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: rm -rf $DIR/*\n"
    )
    result = run(BIN / "actionlint", "-color=false", "-shellcheck", BIN / "shellcheck", workflow)
    assert "SC2086" in result.stdout


@pytest.mark.parametrize("step", [s for s in steps(ACTION) if "run" in s], ids=lambda s: s["name"])
def test_shellcheck_finds_nothing_in_the_actions_scripts(step: dict[str, Any]) -> None:
    # actionlint checks workflows only; the composite action's scripts need their own pass.
    result = subprocess.run(
        [str(BIN / "shellcheck"), "--shell=bash", "-"],
        input=step["run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout


def test_workflows_match_githubs_workflow_schema() -> None:
    result = run(
        BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *WORKFLOWS
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_matches_githubs_action_schema() -> None:
    result = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.github-actions", ACTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_offline_finds_nothing() -> None:
    result = run(BIN / "zizmor", "--offline", "--no-progress", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda p: p.name)
def test_scripts_take_inputs_through_env_never_through_expressions(path: Path) -> None:
    for step in steps(path):
        assert "${{" not in step.get("run", ""), step.get("name")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_are_least_privilege(path: Path) -> None:
    doc = load(path)
    assert "pull_request_target" not in doc["on"]
    assert doc["permissions"] == {"contents": "read"}
    # Only promote and update push: their branches, which reach main through reviewed PRs.
    pushes = path.name in (PROMOTE, UPDATE)
    may_write = {"pull-requests", "issues"} | ({"contents"} if pushes else set())
    for job in doc["jobs"].values():
        write = {k for k, v in job.get("permissions", {}).items() if v == "write"}
        assert write <= may_write
    for step in steps(path):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_only_the_plan_comment_promote_and_update_jobs_may_write_to_pull_requests() -> None:
    writers = [
        path.name
        for path in WORKFLOWS
        for job in load(path)["jobs"].values()
        if job.get("permissions", {}).get("pull-requests") == "write"
    ]
    assert writers == ["registry-plan.yml", PROMOTE, UPDATE]


def test_apply_runs_one_at_a_time_per_registry_in_a_protected_environment() -> None:
    (job,) = load(ROOT / ".github" / "workflows" / "registry-apply.yml")["jobs"].values()
    assert job["concurrency"]["cancel-in-progress"] is False
    assert job["concurrency"]["group"]
    assert job["environment"]


def test_promote_checks_out_full_history_and_pushes_without_a_stored_token() -> None:
    path = ROOT / ".github" / "workflows" / PROMOTE
    (checkout,) = [s for s in steps(path) if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["fetch-depth"] == 0
    scripts = "".join(s.get("run", "") for s in steps(path))
    assert "git -c credential.helper= -c 'credential.helper=!gh auth git-credential'" in scripts
    assert "git config" not in scripts
    assert "gh auth setup-git" not in scripts


def test_update_pushes_without_a_stored_token_and_has_a_timeout() -> None:
    path = ROOT / ".github" / "workflows" / UPDATE
    (job,) = load(path)["jobs"].values()
    assert job["timeout-minutes"] <= 30
    (push,) = [s for s in steps(path) if "--push" in s.get("run", "")]
    assert push["env"]["GIT_CONFIG_VALUE_1"] == "!gh auth git-credential"
    assert push["env"]["MLFLOW_TRACKING_TOKEN"] == "${{ secrets.MLFLOW_READ_TOKEN }}"
    scripts = "".join(s.get("run", "") for s in steps(path))
    assert "git config" not in scripts
    assert "gh auth setup-git" not in scripts
    assert "WRITE" not in path.read_text()

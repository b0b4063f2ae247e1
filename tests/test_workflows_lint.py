"""The action, the reusable workflows, their callers and the adopters' example callers pass
GitHub's schemas and the linters, offline, with no findings, and keep the rules below."""

from __future__ import annotations

import re
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
EXAMPLES = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
REUSABLE = ("plan", "apply", "drift", "promote", "update")
CALLERS = [ROOT / ".github" / "workflows" / f"registry-{kind}.yml" for kind in REUSABLE]
PIN = "0123456789abcdef0123456789abcdef01234567"


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
    return [step for job in doc["jobs"].values() for step in job.get("steps", [])]


def reusable(kind: str) -> Path:
    return ROOT / ".github" / "workflows" / f"{kind}.yml"


def worker(kind: str) -> Path:
    """The workflow whose jobs do the work: apply.yml runs apply-manifest.yml per manifest."""
    return reusable("apply-manifest" if kind == "apply" else kind)


@pytest.fixture(scope="module")
def adopted(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The example callers as an adopter commits them: OWNER and SHA filled in."""
    folder = tmp_path_factory.mktemp("adopter") / ".github" / "workflows"
    folder.mkdir(parents=True)
    for example in EXAMPLES:
        text = example.read_text().replace("OWNER/", "acme/").replace("@SHA", f"@{PIN}")
        (folder / example.name).write_text(text)
    return sorted(folder.glob("*.yml"))


def test_the_workflows_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {f"{kind}.yml" for kind in REUSABLE} | {p.name for p in CALLERS} <= names
    assert [p.name for p in EXAMPLES] == sorted(p.name for p in CALLERS)


def test_actionlint_and_shellcheck_find_nothing() -> None:
    result = run(
        BIN / "actionlint", "-color=false", "-shellcheck", BIN / "shellcheck", *WORKFLOWS, *EXAMPLES
    )
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
        BIN / "check-jsonschema",
        "--builtin-schema",
        "vendor.github-workflows",
        *WORKFLOWS,
        *EXAMPLES,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_matches_githubs_action_schema() -> None:
    result = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.github-actions", ACTION)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_offline_finds_nothing(persona: str, adopted: list[Path]) -> None:
    result = run(BIN / "zizmor", "--offline", "--no-progress", "--persona", persona, ".", *adopted)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS, *EXAMPLES], ids=lambda p: p.name)
def test_scripts_take_inputs_through_env_never_through_expressions(path: Path) -> None:
    for step in steps(path):
        assert "${{" not in step.get("run", ""), step.get("name")


# Which jobs may write what: the plan comment, the apply result comment, the drift issue, and
# the promotion's branch and pull request. The callers grant the same to the jobs they call.
MAY_WRITE = {
    ("plan", "plan"): {"pull-requests"},
    ("apply-manifest", "comment"): {"pull-requests"},
    # The caller's job grants it to the called workflow, whose apply job takes none (below).
    ("apply", "apply"): {"pull-requests"},
    ("drift", "drift"): {"issues"},
    ("promote", "promote"): {"contents", "pull-requests"},
    ("update", "update"): {"contents", "pull-requests"},
    # A tag's release: its files on GitHub, and PyPI's trusted publishing (an OIDC token).
    ("release", "github-release"): {"contents"},
    ("release", "pypi"): {"id-token"},
}


def granted(job: dict[str, Any]) -> set[str]:
    return {k for k, v in (job.get("permissions") or {}).items() if v == "write"}


@pytest.mark.parametrize("path", [*WORKFLOWS, *EXAMPLES], ids=lambda p: p.parent.name + p.name)
def test_workflows_are_least_privilege(path: Path) -> None:
    doc = load(path)
    assert "pull_request_target" not in doc["on"]
    assert doc["permissions"] == {"contents": "read"}
    kind = path.stem.removeprefix("registry-")
    for name, job in doc["jobs"].items():
        assert granted(job) <= MAY_WRITE.get((kind, name), set()), name
    for step in steps(path):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("kind", REUSABLE)
def test_reusable_workflows_are_called_and_run_their_own_version_of_the_action(kind: str) -> None:
    doc = load(worker(kind))
    assert set(doc["on"]) == {"workflow_call"}
    uses = [s["uses"] for s in steps(worker(kind)) if "uses" in s]
    # `./` would be the caller's workspace; `$/` is this repository at this workflow's commit.
    assert "$/." in uses
    assert not [u for u in uses if u.startswith("./")]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_job_has_a_timeout(path: Path) -> None:
    for name, job in load(path)["jobs"].items():
        # A job that calls a reusable workflow takes its timeouts from the called jobs.
        assert "uses" in job or isinstance(job.get("timeout-minutes"), int), name


@pytest.mark.parametrize("caller", CALLERS, ids=lambda p: p.name)
def test_own_callers_skip_with_a_notice_when_the_registry_variable_is_unset(caller: Path) -> None:
    jobs = load(caller)["jobs"]
    skip, call = jobs["no-registry"], jobs[caller.stem.removeprefix("registry-")]
    assert skip["if"] == "vars.MLFLOW_TRACKING_URI == ''"
    assert call["if"] == "vars.MLFLOW_TRACKING_URI != ''"
    (step,) = skip["steps"]
    assert re.match(r'echo "::notice title=registry-\w+::skipped: ', step["run"])


@pytest.mark.parametrize("caller", CALLERS, ids=lambda p: p.name)
def test_own_callers_call_exactly_as_the_examples_do(caller: Path) -> None:
    kind = caller.stem.removeprefix("registry-")
    example = load(ROOT / "examples" / "workflows" / caller.name)
    own = load(caller)
    if kind == "plan":  # This repository also plans when the workflows themselves change.
        example_paths = example["on"]["pull_request"].pop("paths")
        assert set(example_paths) < set(own["on"]["pull_request"].pop("paths"))
    assert example["on"] == own["on"]
    (example_job,) = example["jobs"].values()
    own_job = own["jobs"][kind]
    assert example_job["uses"] == f"OWNER/mlflow-gitops/.github/workflows/{kind}.yml@SHA"
    assert own_job["uses"] == f"$/.github/workflows/{kind}.yml"
    for key in ("permissions", "with", "secrets"):
        assert example_job.get(key) == own_job.get(key), key


def test_apply_runs_one_at_a_time_per_environment_and_holds_no_github_write_token() -> None:
    job = load(worker("apply"))["jobs"]["apply"]
    assert job["concurrency"]["cancel-in-progress"] is False
    group = "mlflow-gitops-apply-${{ inputs.environment }}-${{ inputs.manifest }}"
    assert job["concurrency"]["group"] == group
    assert job["environment"] == "${{ inputs.environment }}"
    assert granted(job) == set()


def test_apply_takes_a_list_of_manifests_as_a_matrix_of_one_manifest_each() -> None:
    (job,) = load(reusable("apply"))["jobs"].values()
    assert job["uses"] == "$/.github/workflows/apply-manifest.yml"
    assert job["strategy"]["fail-fast"] is False
    assert "fromJSON(inputs.manifests ||" in job["strategy"]["matrix"]["include"]
    assert job["with"]["manifest"] == "${{ matrix.path }}"
    assert job["with"]["environment"] == "${{ matrix.environment || inputs.environment }}"


def test_a_scheduled_apply_applies_only_a_plan_with_changes_outside_a_freeze() -> None:
    named = {step.get("name"): step for step in steps(worker("apply"))}
    assert named["Plan (a scheduled run applies only what is due)"]["if"] == (
        "${{ github.event_name == 'schedule' }}"
    )
    assert ".frozen" in named["Decide whether a scheduled run applies"]["run"]
    assert named["Apply"]["if"] == "${{ steps.due.outputs.due == 'true' }}"
    example = load(ROOT / "examples" / "workflows" / "registry-apply.yml")
    assert example["on"]["schedule"] == [{"cron": "17 * * * *"}]
    assert "workflow_dispatch" in example["on"]


def test_promote_checks_out_full_history_and_pushes_without_a_stored_token() -> None:
    path = reusable("promote")
    (checkout,) = [s for s in steps(path) if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["fetch-depth"] == 0
    scripts = "".join(s.get("run", "") for s in steps(path))
    assert "git -c credential.helper= -c 'credential.helper=!gh auth git-credential'" in scripts
    assert "git config" not in scripts
    assert "gh auth setup-git" not in scripts


def test_update_pushes_through_a_per_step_credential_helper_and_writes_no_git_config() -> None:
    path = reusable("update")
    (push,) = [s for s in steps(path) if "--push" in s.get("run", "")]
    env = push["env"]
    assert env["GIT_CONFIG_COUNT"] == "2"
    assert [env["GIT_CONFIG_KEY_0"], env["GIT_CONFIG_KEY_1"]] == ["credential.helper"] * 2
    # The empty value first drops any helper configured elsewhere; then gh's, for this step only.
    assert [env["GIT_CONFIG_VALUE_0"], env["GIT_CONFIG_VALUE_1"]] == ["", "!gh auth git-credential"]
    scripts = "".join(s.get("run", "") for s in steps(path))
    assert "git config" not in scripts
    assert "gh auth setup-git" not in scripts


@pytest.mark.parametrize("kind", ["apply", "promote", "update"])
def test_workflows_that_write_run_only_on_the_default_branch(kind: str) -> None:
    (first, *_) = steps(worker(kind))
    assert "inputs.default-branch || github.event.repository.default_branch" in str(first["env"])
    assert '"$GITHUB_REF_NAME"' in first["run"]


def test_the_pipeline_callers_in_the_docs_pass_actionlint_and_zizmor(tmp_path: Path) -> None:
    """docs/pipelines.md's callers (two manifests), as an adopter commits them."""
    text = (ROOT / "docs" / "pipelines.md").read_text(encoding="utf-8")
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    for name in ("registry-plan.yml", "registry-apply.yml", "registry-drift.yml"):
        block = text.split(f"# .github/workflows/{name}\n", 1)[1].split("```", 1)[0]
        pinned = block.replace("OWNER/", "acme/").replace("@SHA", f"@{PIN}")
        (folder / name).write_text(pinned)
    callers = sorted(folder.glob("*.yml"))
    linted = run(BIN / "actionlint", "-color=false", *callers, cwd=tmp_path)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    for persona in ("regular", "pedantic"):
        audited = run(BIN / "zizmor", "--offline", "--no-progress", "--persona", persona, *callers)
        assert audited.returncode == 0, audited.stdout + audited.stderr

"""The reusable workflows, called as an adopter calls them, run by act against a real server.

The adopter's repository (acme/models) holds a manifest and the example callers from
examples/workflows, with `uses: acme/mlflow-gitops/.github/workflows/plan.yml@PIN`. act
resolves acme/mlflow-gitops@PIN to a copy of this project (`--local-repository`), as GitHub
resolves it to this repository at that commit, and runs each job in host mode (`-P
ubuntu-latest=-self-hosted`). The reusable workflows use this project's action with `$/.`,
"this repository at this workflow's commit"; act does not know that syntax yet, so in the
copy it reads `acme/mlflow-gitops@PIN`, which act resolves to the same copy.

Only what cannot exist here is stubbed: `actions/setup-python` (the host's Python is used),
`actions/cache` (always a miss: the action installs the tool from its own checkout, exactly
as on GitHub's first run), and the GitHub API (`gh`, a script on PATH keeping comments,
issues and pull requests in files). The promote workflow pushes for real, to a bare
repository serving as `origin`. act skips `actions/checkout` itself and copies the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mlflow import MlflowClient

ROOT = Path(__file__).resolve().parents[1]
STUBS = Path(__file__).resolve().parent / "act"
ACT = Path(sys.executable).parent / "act"
TOOL_FILES = ["controller", "pyproject.toml", "uv.lock", "README.md", "LICENSE", "action.yml"]
TOOL = "acme/mlflow-gitops"
PIN = "0123456789abcdef0123456789abcdef01234567"
REUSABLE = ("plan", "apply", "drift", "promote")
MARKER = "<!-- mlflow-gitops:plan manifest=registry.yaml "
ACT_TIMEOUT_S = 600

pytestmark = pytest.mark.e2e


def pinned(action: str) -> str:
    """The pin of `action` in action.yml, so the stub replaces exactly what the action uses."""
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    (ref,) = re.findall(rf"uses: ({action}@[0-9a-f]{{40}})", text)
    return ref


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This project as GitHub serves acme/mlflow-gitops@PIN to a caller."""
    path = tmp_path_factory.mktemp("mlflow-gitops")
    for name in TOOL_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, path / name)
    (path / ".github" / "workflows").mkdir(parents=True)
    for kind in REUSABLE:
        text = (ROOT / ".github" / "workflows" / f"{kind}.yml").read_text(encoding="utf-8")
        assert "uses: $/.\n" in text
        text = text.replace("uses: $/.\n", f"uses: {TOOL}@{PIN}\n")
        (path / ".github" / "workflows" / f"{kind}.yml").write_text(text, encoding="utf-8")
    return path


@dataclass
class Repo:
    """A consumer repository (acme/models) using this action, with the stubbed GitHub API."""

    path: Path
    gh_state: Path
    tracking_uri: str
    tool: Path

    def git(self, *args: str) -> str:
        return git(self.path, *args)

    def commit_manifest(self, text: str) -> None:
        (self.path / "registry.yaml").write_text(text, encoding="utf-8")
        self.git("add", "registry.yaml")
        self.git("commit", "-q", "-m", "registry.yaml")

    def act(
        self, event: str, workflow: str, payload: dict[str, Any], *, registry_variable: bool = True
    ) -> subprocess.CompletedProcess[str]:
        event_path = self.path.parent / f"{event}.json"
        event_path.write_text(json.dumps(payload), encoding="utf-8")
        # The runner sets GITHUB_*/RUNNER_* itself; never leak the outer CI job's values in.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "RUNNER_", "ACTIONS_", "MLFLOW_"))
        }
        env["PATH"] = f"{self.gh_state.parent / 'bin'}{os.pathsep}{env['PATH']}"
        env["GH_STUB_STATE"] = str(self.gh_state)
        command = [
            str(ACT),
            event,
            "--workflows", f".github/workflows/{workflow}",
            "--eventpath", str(event_path),
            "-P", "ubuntu-latest=-self-hosted",
            "--pull=false",
            "--action-offline-mode",
            "--no-cache-server",
            "--action-cache-path", str(self.path.parent / "act-cache"),
            "--local-repository", f"{TOOL}@{PIN}={self.tool}",
            "--local-repository", f"{pinned('actions/setup-python')}={STUBS / 'setup-python'}",
            "--local-repository", f"{pinned('actions/cache')}={STUBS / 'cache'}",
            "--secret", "GITHUB_TOKEN=ghs_stubbed",
        ]  # fmt: skip
        if registry_variable:
            command += ["--var", f"MLFLOW_TRACKING_URI={self.tracking_uri}"]
        return subprocess.run(
            command, cwd=self.path, env=env, capture_output=True, text=True, timeout=ACT_TIMEOUT_S
        )

    def gh(self) -> dict[str, Any]:
        return json.loads((self.gh_state / "state.json").read_text())

    def seed_gh(self, state: dict[str, Any]) -> None:
        base = {"next_id": 1000, "comments": [], "issues": [], "labels": [], "pulls": []}
        (self.gh_state / "state.json").write_text(json.dumps(base | state))

    def gh_calls(self) -> list[list[str]]:
        lines = (self.gh_state / "calls.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def manifest(model: str, **aliases: int) -> str:
    lines = [f"      {alias}: {version}" for alias, version in aliases.items()]
    return "\n".join(["version: 1", "models:", f"  {model}:", "    aliases:", *lines, ""])


def pull_request_event() -> dict[str, Any]:
    head = {"ref": "promote", "sha": "0" * 40, "repo": {"full_name": "acme/models"}}
    return {
        "action": "synchronize",
        "number": 7,
        "pull_request": {"number": 7, "head": head, "base": {"ref": "main"}},
        "repository": {"full_name": "acme/models", "name": "models", "owner": {"login": "acme"}},
    }


def push_event() -> dict[str, Any]:
    repository = {
        "full_name": "acme/models",
        "name": "models",
        "owner": {"login": "acme"},
        "default_branch": "main",
    }
    return {"ref": "refs/heads/main", "repository": repository}


def dispatch_event(**inputs: str) -> dict[str, Any]:
    repository = {
        "full_name": "acme/models",
        "name": "models",
        "owner": {"login": "acme"},
        "default_branch": "main",
    }
    return {"ref": "refs/heads/main", "inputs": inputs, "repository": repository}


def log(result: subprocess.CompletedProcess[str]) -> str:
    """act's whole output, for the assertion message when a run goes wrong."""
    return f"act exited {result.returncode}\n{result.stdout}\n--- stderr\n{result.stderr}"


@pytest.fixture
def repo(tmp_path: Path, mlflow_server: str, tool: Path) -> Repo:
    """acme/models: the example callers, pinned to acme/mlflow-gitops@PIN, and nothing else."""
    path = tmp_path / "models"
    (path / ".github" / "workflows").mkdir(parents=True)
    for example in (ROOT / "examples" / "workflows").glob("*.yml"):
        text = example.read_text(encoding="utf-8")
        text = text.replace("OWNER/mlflow-gitops/", f"{TOOL}/").replace("@SHA", f"@{PIN}")
        (path / ".github" / "workflows" / example.name).write_text(text, encoding="utf-8")
    (tmp_path / "bin").mkdir()
    gh = tmp_path / "bin" / "gh"
    shutil.copy2(STUBS / "bin" / "gh", gh)
    gh.chmod(0o755)
    (tmp_path / "gh").mkdir()
    repo = Repo(path=path, gh_state=tmp_path / "gh", tracking_uri=mlflow_server, tool=tool)
    repo.git("init", "-q", "-b", "main")
    repo.git("config", "user.email", "ci@example.com")
    repo.git("config", "user.name", "ci")
    repo.git("remote", "add", "origin", "https://github.com/acme/models.git")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "adopt mlflow-gitops")
    return repo


@pytest.fixture
def origin(repo: Repo) -> Path:
    """A bare repository as the consumer's `origin`, so that the promote workflow really pushes."""
    bare = repo.path.parent / "origin.git"
    git(repo.path.parent, "init", "-q", "--bare", "-b", "main", str(bare))
    repo.git("remote", "set-url", "origin", str(bare))
    return bare


def link(repo: Repo, model: str, version: int) -> str:
    return f"[{version}]({repo.tracking_uri}/#/models/{model}/versions/{version})"


def test_plan_posts_one_sticky_comment_and_updates_it_on_every_push(
    repo: Repo, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    model = make_model("e2e", 3)
    server_client.set_registered_model_alias(model, "champion", 1)

    repo.commit_manifest(manifest(model, champion=2))
    first = repo.act("pull_request", "registry-plan.yml", pull_request_event())
    assert first.returncode == 0, log(first)
    (comment,) = repo.gh()["comments"]
    assert comment["issue"] == 7
    assert comment["body"].startswith(MARKER)
    row = f"| champion | {link(repo, model, 1)} | {link(repo, model, 2)} | promote |"
    assert row in comment["body"]
    # The evidence: current against proposed, and the registry the plan was computed for.
    assert "Planned for commit `" in comment["body"]
    assert (
        f"**{model}@champion**: {link(repo, model, 1)} → {link(repo, model, 2)}"
        in (comment["body"])
    )
    assert "| status | READY | READY |  |" in comment["body"]

    repo.commit_manifest(manifest(model, champion=3))
    second = repo.act("pull_request", "registry-plan.yml", pull_request_event())
    assert second.returncode == 0, log(second)
    (updated,) = repo.gh()["comments"]
    assert updated["id"] == comment["id"]
    row = f"| champion | {link(repo, model, 1)} | {link(repo, model, 3)} | promote |"
    assert row in updated["body"]
    writes = [call[:3] for call in repo.gh_calls() if "--method" in call]
    assert [w[2] for w in writes] == ["POST", "PATCH"]

    repo.commit_manifest(manifest(model, champion=3, challenger=9))
    failing = repo.act("pull_request", "registry-plan.yml", pull_request_event())
    assert failing.returncode != 0, log(failing)
    line = "::error file=registry.yaml,line=6,col=19,title=registry plan error::version 9"
    assert line in failing.stdout, log(failing)
    (with_errors,) = repo.gh()["comments"]
    assert "**❌ The plan has 1 error; nothing will be applied.**" in with_errors["body"]
    assert server_client.get_registered_model(model).aliases == {"champion": "1"}


def test_apply_on_merge_makes_the_registry_match_and_reports_to_the_merged_pull_request(
    repo: Repo, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    model = make_model("e2e", 3)
    server_client.set_registered_model_alias(model, "champion", 1)
    repo.commit_manifest(manifest(model, champion=3, challenger=2))
    merge = repo.git("rev-parse", "HEAD").strip()
    merged = {"number": 7, "merge_commit_sha": merge, "merged_at": "2026-11-28T12:00:00Z"}
    repo.seed_gh({"pulls": [merged]})

    result = repo.act("push", "registry-apply.yml", push_event())

    assert result.returncode == 0, log(result)
    assert server_client.get_registered_model(model).aliases == {"champion": "3", "challenger": "2"}
    (comment,) = repo.gh()["comments"]
    assert comment["issue"] == 7
    assert comment["body"].startswith("<!-- mlflow-gitops:apply -->\n### MLflow registry apply")
    assert "**Apply: 2 applied, 0 failed, 0 skipped.**" in comment["body"]
    assert f"Applied registry.yaml at {merge} in [this run]" in comment["body"]


def test_apply_that_fails_says_so_on_the_merged_pull_request(
    repo: Repo, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    model = make_model("e2e", 2)
    server_client.set_registered_model_alias(model, "champion", 1)
    repo.commit_manifest(manifest(model, champion=9))
    merge = repo.git("rev-parse", "HEAD").strip()
    repo.seed_gh({"pulls": [{"number": 8, "merge_commit_sha": merge, "merged_at": "x"}]})

    result = repo.act("push", "registry-apply.yml", push_event())

    assert result.returncode != 0, log(result)
    assert server_client.get_registered_model(model).aliases == {"champion": "1"}
    (comment,) = repo.gh()["comments"]
    assert comment["issue"] == 8
    assert "❌ **Apply failure** for registry.yaml" in comment["body"]


def test_drift_keeps_one_issue_current_through_drift_and_errors_and_closes_it_in_sync(
    repo: Repo, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    model = make_model("e2e", 2)
    server_client.set_registered_model_alias(model, "champion", 1)
    repo.commit_manifest(manifest(model, champion=2))

    for _ in range(2):
        result = repo.act("workflow_dispatch", "registry-drift.yml", {})
        assert result.returncode == 0, log(result)
    (issue,) = repo.gh()["issues"]
    assert issue["state"] == "open"
    assert issue["labels"] == ["registry-drift"]
    assert issue["title"] == "MLflow registry drift: the registry differs from registry.yaml"
    assert f"| champion | {link(repo, model, 1)} | {link(repo, model, 2)} |" in issue["body"]

    # A declared version that does not exist: the plan fails, the run fails, the issue says why.
    repo.commit_manifest(manifest(model, champion=2, challenger=9))
    result = repo.act("workflow_dispatch", "registry-drift.yml", {})
    assert result.returncode != 0, log(result)
    (issue,) = repo.gh()["issues"]
    assert issue["state"] == "open"
    assert issue["title"] == "MLflow registry: the plan of registry.yaml fails"
    assert "**❌ The plan has 1 error; nothing will be applied.**" in issue["body"]
    assert f"version 9 of model {model!r} does not exist" in issue["body"]

    repo.commit_manifest(manifest(model, champion=2))
    server_client.set_registered_model_alias(model, "champion", 2)
    result = repo.act("workflow_dispatch", "registry-drift.yml", {})
    assert result.returncode == 0, log(result)
    (issue,) = repo.gh()["issues"]
    assert issue["state"] == "closed"


@pytest.mark.parametrize(
    ("declared", "action", "version", "to"),
    [([2], "promote", "3", 3), ([1, 3], "rollback", "", 1)],
    ids=["promote", "rollback-to-the-previous-value"],
)
def test_dispatch_pushes_a_one_line_commit_and_opens_its_pull_request(
    repo: Repo,
    origin: Path,
    make_model: Callable[..., str],
    declared: list[int],
    action: str,
    version: str,
    to: int,
) -> None:
    model = make_model("e2e", 3)
    for champion in declared:
        repo.commit_manifest(manifest(model, champion=champion))
    repo.git("push", "-q", "origin", "main")

    event = dispatch_event(action=action, model=model, alias="champion", version=version)
    result = repo.act("workflow_dispatch", "registry-promote.yml", event)

    assert result.returncode == 0, log(result)
    branch = f"{action}/{model}-champion-v{to}"
    subject = f"{action} {model}@champion: {declared[-1]} -> {to}"
    assert git(origin, "for-each-ref", "--format=%(refname:short)") == f"main\n{branch}\n"
    assert git(origin, "log", "--format=%s", f"main..{branch}") == f"{subject}\n"
    assert git(origin, "diff", "--numstat", "main", branch) == "1\t1\tregistry.yaml\n"
    diff = git(origin, "diff", "--unified=0", "main", branch).splitlines()
    changed = [line for line in diff if line.startswith(("-  ", "+  "))]
    assert changed == [f"-      champion: {declared[-1]}", f"+      champion: {to}"]
    (pull,) = repo.gh()["pulls"]
    assert (pull["head"], pull["base"], pull["title"]) == (branch, "main", subject)


def test_promoting_a_missing_version_fails_and_pushes_nothing(
    repo: Repo, origin: Path, make_model: Callable[..., str]
) -> None:
    model = make_model("e2e", 2)
    repo.commit_manifest(manifest(model, champion=2))
    repo.git("push", "-q", "origin", "main")

    event = dispatch_event(action="promote", model=model, alias="champion", version="9")
    result = repo.act("workflow_dispatch", "registry-promote.yml", event)

    assert result.returncode != 0, log(result)
    assert f"version 9 of model {model!r} does not exist" in result.stdout, log(result)
    assert git(origin, "for-each-ref", "--format=%(refname:short)") == "main\n"
    assert not (repo.gh_state / "calls.jsonl").exists()


@pytest.mark.parametrize(
    "inputs",
    [{"alias": "champion", "version": "3a"}, {"alias": "the champion", "version": "3"}],
    ids=["version-not-a-number", "alias-with-a-space"],
)
def test_promote_refuses_bad_inputs_before_checking_out(
    repo: Repo, origin: Path, inputs: dict[str, str]
) -> None:
    repo.git("push", "-q", "origin", "main")

    event = dispatch_event(action="promote", model="bikes", **inputs)
    result = repo.act("workflow_dispatch", "registry-promote.yml", event)

    # The refusal's own `::error` line can be missing from act's output for a step this short;
    # what cannot race is that the job failed before any later step and pushed nothing.
    assert result.returncode != 0, log(result)
    assert "Validate registry.yaml" not in result.stdout, log(result)
    assert git(origin, "for-each-ref", "--format=%(refname:short)") == "main\n"


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
    ],
    ids=["plan", "apply", "drift", "promote"],
)
def test_own_callers_skip_cleanly_without_the_registry_variable(
    repo: Repo, workflow: str, event: str, payload: dict[str, Any]
) -> None:
    # This repository's own callers, as a fork of it runs them before setting the variable. act
    # does not know `$/`; the job naming it is skipped, so `./` (the same file here) stands in.
    text = (ROOT / ".github" / "workflows" / workflow).read_text(encoding="utf-8")
    text = text.replace("uses: $/.github/workflows/", "uses: ./.github/workflows/")
    (repo.path / ".github" / "workflows" / workflow).write_text(text, encoding="utf-8")

    result = repo.act(event, workflow, payload, registry_variable=False)

    assert result.returncode == 0, log(result)
    assert "/no registry configured]   ✅  Success - Main Skip" in result.stdout, log(result)
    assert "Check out" not in result.stdout, log(result)
    assert not (repo.gh_state / "calls.jsonl").exists()

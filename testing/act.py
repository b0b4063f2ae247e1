"""Running the example callers with act, as an adopter's repository runs them on GitHub.

The adopter's repository (acme/models) holds a manifest and the example callers from
examples/workflows, with `uses: acme/mlflow-gitops/.github/workflows/plan.yml@PIN`. act
resolves acme/mlflow-gitops@PIN to a copy of this project (`--local-repository`), as GitHub
resolves it to this repository at that commit, and runs each job in host mode (`-P
ubuntu-latest=-self-hosted`). The reusable workflows use this project's action with `$/.`,
"this repository at this workflow's commit"; act does not know that syntax yet, so in the
copy it reads `acme/mlflow-gitops@PIN`, which act resolves to the same copy (and apply.yml's
call of apply-manifest.yml, `$/.github/workflows/…`, reads
`acme/mlflow-gitops/.github/workflows/…@PIN`).

Only what cannot exist here is stubbed: `actions/setup-python` (the host's Python is used),
`actions/cache` (always a miss: the action installs the tool from its own checkout, exactly
as on GitHub's first run), and the GitHub API (`gh`, a script on PATH keeping comments,
issues and pull requests in files). Workflows that push do so for real, to a bare repository
serving as `origin`. act skips `actions/checkout` itself and copies the repository.

The fixtures (`act_tool`, `adopter`, `adopter_origin`) reach the tests through
tests/conftest.py's `pytest_plugins`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUBS = ROOT / "tests" / "act"
ACT = Path(sys.executable).parent / "act"
TOOL_FILES = ["controller", "pyproject.toml", "uv.lock", "README.md", "LICENSE", "action.yml"]
TOOL = "acme/mlflow-gitops"
PIN = "0123456789abcdef0123456789abcdef01234567"
REUSABLE = ("plan", "apply", "apply-manifest", "drift", "promote", "update")
ACT_TIMEOUT_S = 600


def pinned(action: str) -> str:
    """The pin of `action` in action.yml, so the stub replaces exactly what the action uses."""
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    (ref,) = re.findall(rf"uses: ({action}@[0-9a-f]{{40}})", text)
    return ref


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


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
        self,
        event: str,
        workflow: str,
        payload: dict[str, Any],
        *,
        registry_variable: bool = True,
        secrets: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `workflow` for `event`; `secrets` are the repository's, as the callers read them."""
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
            # What act puts in an event that names no repository (a schedule's); else "master".
            "--defaultbranch", "main",
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
        for name, value in (secrets or {}).items():
            command += ["--secret", f"{name}={value}"]
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


def manifest(model: str, **aliases: int) -> str:
    """The adopter's manifest. Every adopter repository has the same remote (acme/models), so
    each test's manifest names itself after its model: one test's models are never another's
    removed models on the shared server."""
    lines = [f"      {alias}: {version}" for alias, version in aliases.items()]
    head = ["version: 1", f"name: e2e-{model}", "models:", f"  {model}:", "    aliases:"]
    return "\n".join([*head, *lines, ""])


def repository_payload() -> dict[str, Any]:
    return {
        "full_name": "acme/models",
        "name": "models",
        "owner": {"login": "acme"},
        "default_branch": "main",
    }


def pull_request_event() -> dict[str, Any]:
    head = {"ref": "promote", "sha": "0" * 40, "repo": {"full_name": "acme/models"}}
    return {
        "action": "synchronize",
        "number": 7,
        "pull_request": {"number": 7, "head": head, "base": {"ref": "main"}},
        "repository": {"full_name": "acme/models", "name": "models", "owner": {"login": "acme"}},
    }


def push_event() -> dict[str, Any]:
    return {"ref": "refs/heads/main", "repository": repository_payload()}


def dispatch_event(**inputs: str) -> dict[str, Any]:
    return {"ref": "refs/heads/main", "inputs": inputs, "repository": repository_payload()}


def log(result: subprocess.CompletedProcess[str]) -> str:
    """act's whole output, for the assertion message when a run goes wrong."""
    return f"act exited {result.returncode}\n{result.stdout}\n--- stderr\n{result.stderr}"


def link(repo: Repo, model: str, version: int) -> str:
    return f"[{version}]({repo.tracking_uri}/#/models/{model}/versions/{version})"


@pytest.fixture(scope="session")
def act_tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
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
        assert "uses: $/." in text
        text = text.replace("uses: $/.\n", f"uses: {TOOL}@{PIN}\n")
        # A reusable workflow calling another of this repository's, the same way.
        nested = r"uses: \$/(\.github/workflows/[\w.-]+\.yml)"
        text = re.sub(nested, rf"uses: {TOOL}/\1@{PIN}", text)
        (path / ".github" / "workflows" / f"{kind}.yml").write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def adopter(tmp_path: Path, mlflow_server: str, act_tool: Path) -> Repo:
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
    repo = Repo(path=path, gh_state=tmp_path / "gh", tracking_uri=mlflow_server, tool=act_tool)
    repo.git("init", "-q", "-b", "main")
    repo.git("config", "user.email", "ci@example.com")
    repo.git("config", "user.name", "ci")
    repo.git("remote", "add", "origin", "https://github.com/acme/models.git")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "adopt mlflow-gitops")
    return repo


@pytest.fixture
def adopter_origin(adopter: Repo) -> Path:
    """A bare repository as the adopter's `origin`, so that workflows that push really push."""
    bare = adopter.path.parent / "origin.git"
    git(adopter.path.parent, "init", "-q", "--bare", "-b", "main", str(bare))
    adopter.git("remote", "set-url", "origin", str(bare))
    return bare

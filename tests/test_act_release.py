"""The release workflow's build job, run by act on a tag of a copy of this repository: it
builds the wheel and the sdist, checks them with twine, and writes the version's notes from
CHANGELOG.md; a tag that is not the package's version stops it first (how act runs here:
testing/act.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from scripts.release_notes import release_notes
from testing.act import ACT, ACT_TIMEOUT_S, ROOT, STUBS, git, log, pinned

pytestmark = [pytest.mark.e2e, pytest.mark.network]

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def tagged_copy(folder: Path, tag: str) -> Path:
    """This repository's files (committed or not, never ignored ones), committed and tagged."""
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    project = folder / "mlflow-gitops"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, project / name)
    git(project.parent, "init", "-q", "-b", "main", str(project))
    for args in (
        ("config", "user.email", "ci@example.com"),
        ("config", "user.name", "ci"),
        ("add", "-A"),
        ("commit", "-q", "-m", "release"),
        ("tag", tag),
    ):
        git(project, *args)
    return project


def run_build(project: Path, tag: str, artifacts: Path) -> subprocess.CompletedProcess[str]:
    """`act push` of the tag, the build job only (the others need GitHub and PyPI)."""
    event = project.parent / "push.json"
    repository = {"full_name": "acme/mlflow-gitops", "name": "mlflow-gitops",
                  "owner": {"login": "acme"}, "default_branch": "main"}  # fmt: skip
    event.write_text(json.dumps({"ref": f"refs/tags/{tag}", "repository": repository}))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "RUNNER_", "ACTIONS_", "MLFLOW_", "VIRTUAL_ENV"))
    }
    env["ARTIFACT_STUB_DIR"] = str(artifacts)
    command = [
        str(ACT), "push",
        "--workflows", ".github/workflows/release.yml",
        "--job", "build",
        "--eventpath", str(event),
        "-P", "ubuntu-latest=-self-hosted",
        "--pull=false",
        "--action-offline-mode",
        "--no-cache-server",
        "--action-cache-path", str(project.parent / "act-cache"),
        "--local-repository", f"{pinned('actions/setup-python')}={STUBS / 'setup-python'}",
        "--local-repository",
        f"{uploader()}={STUBS / 'upload-artifact'}",
    ]  # fmt: skip
    return subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=ACT_TIMEOUT_S
    )


def uploader() -> str:
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8")
    (ref,) = {line.split("uses: ")[1].split()[0] for line in text.splitlines()
              if "uses: actions/upload-artifact@" in line}  # fmt: skip
    return ref


def test_a_version_tag_builds_checks_and_writes_the_notes_of_that_version(
    tmp_path: Path,
) -> None:
    tag = f"v{VERSION}"
    artifacts = tmp_path / "artifacts"
    result = run_build(tagged_copy(tmp_path, tag), tag, artifacts)
    assert result.returncode == 0, log(result)
    built = sorted(p.name for p in (artifacts / "dist" / "dist").iterdir())
    assert built == [f"mlflow_gitops-{VERSION}-py3-none-any.whl", f"mlflow_gitops-{VERSION}.tar.gz"]
    assert "PASSED" in result.stdout  # twine check, per file
    notes = (artifacts / "notes" / "notes.md").read_text(encoding="utf-8")
    assert notes == release_notes((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), tag)


def test_a_tag_that_is_not_the_package_version_stops_before_building(tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    result = run_build(tagged_copy(tmp_path, "v9.9.9"), "v9.9.9", artifacts)
    assert result.returncode != 0
    stopped = f"the tag v9.9.9 is not v{VERSION}, the version in pyproject.toml"
    assert stopped in result.stdout, log(result)  # the whole output: why else it failed
    assert not artifacts.exists()

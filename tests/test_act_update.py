"""The registry-update workflow, run by act against the real server (see test_act_e2e.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.test_act_e2e import Repo, dispatch_event, git, log, origin, repo  # noqa: F401

if TYPE_CHECKING:
    from mlflow import MlflowClient

pytestmark = pytest.mark.e2e


def tracked_manifest(model: str) -> str:
    return (
        f"version: 1\nmodels:\n  {model}:\n    aliases:\n      champion: 1\n"
        "      challenger: 2   # tracked\n    track:\n      challenger: latest\n"
    )


def branches(bare: Path) -> list[str]:
    return git(bare, "for-each-ref", "--format=%(refname:short)").split()


def test_one_pull_request_per_new_version_and_none_on_the_next_run(
    repo: Repo,  # noqa: F811
    origin: Path,  # noqa: F811
    make_model: Callable[..., str],
    server_client: MlflowClient,
) -> None:
    model = make_model("e2e", 2)
    server_client.set_registered_model_alias(model, "champion", "1")  # as applied
    server_client.set_registered_model_alias(model, "challenger", "2")
    repo.commit_manifest(tracked_manifest(model))
    repo.git("push", "-q", "origin", "main")
    server_client.create_model_version(model, source=f"s3://fixtures/{model}/3")

    first = repo.act("workflow_dispatch", "registry-update.yml", dispatch_event())

    assert first.returncode == 0, log(first)
    branch = f"update/{model}-challenger-v3"
    subject = f"update {model}@challenger: 2 -> 3"
    assert branches(origin) == ["main", branch]
    assert git(origin, "log", "--format=%s", f"main..{branch}") == f"{subject}\n"
    diff = git(origin, "diff", "--unified=0", "main", branch).splitlines()
    changed = [line for line in diff if line.startswith(("-  ", "+  "))]
    assert changed == ["-      challenger: 2   # tracked", "+      challenger: 3   # tracked"]
    (pull,) = repo.gh()["pulls"]
    assert (pull["head"], pull["base"], pull["title"], pull["state"]) == (
        branch,
        "main",
        subject,
        "open",
    )
    assert f"Version 3 is the newest READY version of `{model}`" in pull["body"]
    link = f"({repo.tracking_uri}/#/models/{model}/versions"
    row = f"| challenger | [2]{link}/2) | [3]{link}/3) | promote |"
    assert row in pull["body"]  # the bump's plan

    second = repo.act("workflow_dispatch", "registry-update.yml", dispatch_event())

    assert second.returncode == 0, log(second)
    assert f"{branch}: has a pull request already" in second.stdout, log(second)
    assert branches(origin) == ["main", branch]
    assert repo.gh()["pulls"] == [pull]

    server_client.create_model_version(model, source=f"s3://fixtures/{model}/4")
    third = repo.act("workflow_dispatch", "registry-update.yml", dispatch_event())

    assert third.returncode == 0, log(third)
    newer = f"update/{model}-challenger-v4"
    assert branches(origin) == ["main", newer]  # the superseded branch was deleted
    old, new = repo.gh()["pulls"]
    assert (old["head"], old["state"]) == (branch, "closed")
    assert old["comments"] == [
        f"Superseded by https://github.com/acme/models/pull/{new['number']}."
    ]
    assert (new["head"], new["title"], new["state"]) == (
        newer,
        f"update {model}@challenger: 2 -> 4",
        "open",
    )

"""The update workflow, called as an adopter calls it (examples/workflows/registry-update.yml),
run by act against a real server (how: testing/act.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from testing.act import Repo, dispatch_event, git, log

if TYPE_CHECKING:
    from mlflow import MlflowClient

pytestmark = [pytest.mark.e2e, pytest.mark.server]


def tracked_manifest(model: str) -> str:
    return (
        f"version: 1\nname: e2e-{model}\nmodels:\n  {model}:\n    aliases:\n      champion: 1\n"
        "      challenger: 2   # tracked\n    track:\n      challenger: latest\n"
    )


def branches(bare: Path) -> list[str]:
    return git(bare, "for-each-ref", "--format=%(refname:short)").split()


def test_one_pull_request_per_new_version_and_none_on_the_next_run(
    adopter: Repo,
    adopter_origin: Path,
    make_model: Callable[..., str],
    server_client: MlflowClient,
) -> None:
    model = make_model("e2e", 2)
    server_client.set_registered_model_alias(model, "champion", "1")  # as applied
    server_client.set_registered_model_alias(model, "challenger", "2")
    adopter.commit_manifest(tracked_manifest(model))
    adopter.git("push", "-q", "origin", "main")
    server_client.create_model_version(model, source=f"s3://fixtures/{model}/3")

    first = adopter.act("workflow_dispatch", "registry-update.yml", dispatch_event())

    assert first.returncode == 0, log(first)
    branch = f"update/{model}-challenger-v3"
    subject = f"update {model}@challenger: 2 -> 3"
    assert branches(adopter_origin) == ["main", branch]
    assert git(adopter_origin, "log", "--format=%s", f"main..{branch}") == f"{subject}\n"
    diff = git(adopter_origin, "diff", "--unified=0", "main", branch).splitlines()
    changed = [line for line in diff if line.startswith(("-  ", "+  "))]
    assert changed == ["-      challenger: 2   # tracked", "+      challenger: 3   # tracked"]
    (pull,) = adopter.gh()["pulls"]
    assert (pull["head"], pull["base"], pull["title"], pull["state"]) == (
        branch,
        "main",
        subject,
        "open",
    )
    assert f"Version 3 is the newest READY version of `{model}`" in pull["body"]
    link = f"({adopter.tracking_uri}/#/models/{model}/versions"
    row = f"| challenger | [2]{link}/2) | [3]{link}/3) | promote |"
    assert row in pull["body"]  # the bump's plan

    second = adopter.act("workflow_dispatch", "registry-update.yml", dispatch_event())

    assert second.returncode == 0, log(second)
    assert f"{branch}: has a pull request already" in second.stdout, log(second)
    assert branches(adopter_origin) == ["main", branch]
    assert adopter.gh()["pulls"] == [pull]

    server_client.create_model_version(model, source=f"s3://fixtures/{model}/4")
    # The hourly run, as the schedule starts it.
    third = adopter.act("schedule", "registry-update.yml", {"schedule": "41 * * * *"})

    assert third.returncode == 0, log(third)
    newer = f"update/{model}-challenger-v4"
    assert branches(adopter_origin) == ["main", newer]  # the superseded branch was deleted
    old, new = adopter.gh()["pulls"]
    assert (old["head"], old["state"]) == (branch, "closed")
    assert old["comments"] == [
        f"Superseded by https://github.com/acme/models/pull/{new['number']}."
    ]
    assert (new["head"], new["base"], new["title"], new["state"]) == (
        newer,
        "main",
        f"update {model}@challenger: 2 -> 4",
        "open",
    )

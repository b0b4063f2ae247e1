"""The drift workflow, called as an adopter calls it and run by act, tells a loopback receiver
(the repository secret MLFLOW_GITOPS_NOTIFY_URLS) once per run that finds drift, and the run's
log never shows the receiver's URL (how act runs here: testing/act.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from testing.act import Repo, log, manifest
from testing.receiver import receiver

if TYPE_CHECKING:
    from mlflow import MlflowClient

pytestmark = [pytest.mark.e2e, pytest.mark.server]


def test_drift_posts_one_drift_event_to_the_notify_secret_and_never_logs_it(
    adopter: Repo, make_model: Callable[..., str], server_client: MlflowClient
) -> None:
    model = make_model("e2e", 2)
    server_client.set_registered_model_alias(model, "champion", "1")
    adopter.commit_manifest(manifest(model, champion=2))

    with receiver(path="/services/T0/B0/act-tok3n") as hook:
        result = adopter.act(
            "workflow_dispatch",
            "registry-drift.yml",
            {},
            secrets={"MLFLOW_GITOPS_NOTIFY_URLS": hook.url},
        )
    assert result.returncode == 0, log(result)
    [event] = hook.events()
    assert event["kind"] == "drift"
    assert event["manifest"] == "registry.yaml"
    assert [(c["alias"], c["from"], c["to"]) for c in event["changes"]] == [("champion", 1, 2)]
    assert f"~ {model}@champion: 1 → 2 (promote)" in event["text"]  # never applied here
    assert event["link"].startswith("https://github.com/acme/models/actions/runs/")
    assert "act-tok3n" not in result.stdout + result.stderr
    (issue,) = adopter.gh()["issues"]
    assert issue["state"] == "open"

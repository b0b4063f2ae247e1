"""`apply --notify` and `plan --notify` against a real mlflow server and a real loopback
receiver: one event per apply that had work, drift from plan, and a receiver that fails never
changes the exit code nor shows its URL."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow import MlflowClient

from testing.cli import run_cli
from testing.receiver import receiver

pytestmark = pytest.mark.server


@pytest.fixture
def manifest_dir(tmp_path: Path, make_model: Callable[..., str]) -> tuple[Path, str]:
    name = make_model("notify", versions=2)
    (tmp_path / "registry.yaml").write_text(
        f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 2\n"
    )
    return tmp_path, name


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_apply_posts_one_applied_event_and_nothing_when_there_is_nothing_to_do(
    manifest_dir: tuple[Path, str], mlflow_server: str, server_client: MlflowClient
) -> None:
    folder, name = manifest_dir
    with receiver() as hook:
        args = ["apply", "--auto-approve", "--tracking-uri", mlflow_server, "--notify", hook.url]
        first = run_cli(*args, cwd=folder)
        again = run_cli(*args, cwd=folder)
    assert (first.returncode, again.returncode) == (0, 0), first.stderr + again.stderr
    assert server_client.get_model_version_by_alias(name, "champion").version == "2"
    [event] = hook.events()
    assert event["kind"] == "applied"
    assert event["registry"] == mlflow_server
    assert event["changes"][0]["status"] == "applied"
    assert f"+ {name}@champion: 2 (assign): applied" in event["text"]
    assert "Apply: 1 applied, 0 failed, 0 skipped; 1 model changed hands." in event["text"]


def test_a_refused_apply_is_one_refused_event_and_writes_nothing(
    tmp_path: Path,
    make_model: Callable[..., str],
    mlflow_server: str,
    server_client: MlflowClient,
) -> None:
    name = make_model("notify-refused", versions=1)
    (tmp_path / "registry.yaml").write_text(
        f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 9\n"
    )
    with receiver() as hook:
        result = run_cli(
            "apply", "--auto-approve", "--tracking-uri", mlflow_server, "--notify", hook.url,
            cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 1
    [event] = hook.events()
    assert event["kind"] == "refused"
    assert "apply refused" in event["text"]
    assert any("9" in error for error in event["errors"])
    assert server_client.get_registered_model(name).aliases == {}


def test_a_receiver_answering_500_twice_gets_the_event_and_apply_still_exits_0(
    manifest_dir: tuple[Path, str], mlflow_server: str, server_client: MlflowClient
) -> None:
    folder, name = manifest_dir
    with receiver(500, 500) as flaky:
        result = run_cli(
            "apply", "--auto-approve", "--tracking-uri", mlflow_server, cwd=folder,
            env={"MLFLOW_GITOPS_NOTIFY_URLS": flaky.url},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "notification" not in result.stderr
    assert len(flaky.posts) == 3
    assert [event["kind"] for event in flaky.events()] == ["applied"]
    assert server_client.get_model_version_by_alias(name, "champion").version == "2"


def test_a_dead_receiver_is_one_warning_and_no_receiver_url_reaches_any_output(
    manifest_dir: tuple[Path, str], mlflow_server: str, server_client: MlflowClient
) -> None:
    folder, name = manifest_dir
    dead = f"http://hook:s3cret-pass@127.0.0.1:{closed_port()}/services/T0/B0/xoxb-tok3n"
    with receiver(path="/services/T1/B1/another-tok3n") as alive:
        shown = alive.url.replace("http://", "https://user:pass-w0rd@")  # never reachable
        result = run_cli(
            "apply", "--auto-approve", "--tracking-uri", mlflow_server,
            "--notify", dead, "--notify", shown, cwd=folder,
            env={"MLFLOW_GITOPS_NOTIFY_URLS": alive.url},
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "warning: notification receiver 1 of 3 failed: connection refused" in result.stderr
    assert "receiver 2 of 3 failed" in result.stderr  # TLS to a plain-HTTP server
    output = result.stdout + result.stderr
    for secret in ("s3cret-pass", "tok3n", "pass-w0rd", "/services/"):
        assert secret not in output
    assert [event["kind"] for event in alive.events()] == ["applied"]
    assert server_client.get_model_version_by_alias(name, "champion").version == "2"


def test_an_apply_that_cannot_reach_the_registry_is_a_failed_event(
    manifest_dir: tuple[Path, str],
) -> None:
    folder, _ = manifest_dir
    with receiver() as hook:
        result = run_cli(
            "apply", "--auto-approve", "--tracking-uri", f"http://127.0.0.1:{closed_port()}",
            "--notify", hook.url, cwd=folder,
        )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [event] = hook.events()
    assert event["kind"] == "failed"
    assert event["errors"]


def test_plan_posts_drift_when_it_has_changes_and_nothing_when_it_has_none(
    manifest_dir: tuple[Path, str], mlflow_server: str, server_client: MlflowClient
) -> None:
    folder, name = manifest_dir
    with receiver() as hook:
        drifted = run_cli("plan", "--tracking-uri", mlflow_server, "--notify", hook.url, cwd=folder)
        # Apply (which also records the manifest as the model's owner): then nothing differs.
        run_cli("apply", "--auto-approve", "--tracking-uri", mlflow_server, cwd=folder)
        matching = run_cli(
            "plan", "--tracking-uri", mlflow_server, "--notify", hook.url, cwd=folder
        )
    assert (drifted.returncode, matching.returncode) == (0, 0), drifted.stderr
    assert server_client.get_model_version_by_alias(name, "champion").version == "2"
    [event] = hook.events()
    assert event["kind"] == "drift"
    assert event["changes"][0]["status"] is None
    assert "Plan: 1 to create, 0 to update, 0 to delete, 1 to adopt. 0 unchanged." in event["text"]

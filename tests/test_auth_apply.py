"""plan and apply against MLflow's own basic-auth server, as users with different permissions."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient

from controller.state import LAST_APPLIED_TAG, LastApplied, audit_tag_key
from testing.auth import AuthServer
from testing.cli import run_cli

pytestmark = pytest.mark.server

MANIFEST = "version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 2\n      old: null\n"


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch, auth_server: AuthServer) -> MlflowClient:
    for name, value in auth_server.admin_env().items():
        monkeypatch.setenv(name, value)
    return MlflowClient(tracking_uri=auth_server.url, registry_uri=auth_server.url)


@pytest.fixture
def model(admin: MlflowClient, tmp_path: Path) -> str:
    """A model with versions 1 and 2, `old` -> 1 set by the admin, and a manifest for it that
    points champion at 2 and deletes old."""
    name = f"auth{uuid.uuid4().hex[:8]}"
    admin.create_registered_model(name)
    for i in (1, 2):
        admin.create_model_version(name, source=f"s3://fixtures/{name}/{i}", await_creation_for=0)
    admin.set_registered_model_alias(name, "old", "1")
    (tmp_path / "registry.yaml").write_text(MANIFEST.format(name=name), encoding="utf-8")
    return name


def user_env(server: AuthServer, model: str, permission: str | None) -> dict[str, str]:
    user = f"u{uuid.uuid4().hex[:8]}"
    password = server.create_user(user)
    if permission:
        server.grant_model_permission(user, model, permission)  # type: ignore[arg-type]
    return server.credentials_env(user, password)


def test_a_read_user_can_plan_but_its_apply_fails_each_change_and_writes_nothing(
    tmp_path: Path, auth_server: AuthServer, admin: MlflowClient, model: str
) -> None:
    env = user_env(auth_server, model, None)  # MLflow's default permission: READ

    planned = run_cli(
        "plan", "--tracking-uri", auth_server.url, "--detailed-exitcode", cwd=tmp_path, env=env
    )
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert f"+ {model}@champion: 2 (assign)" in planned.stdout

    applied = run_cli(
        "apply",
        "--auto-approve",
        "--tracking-uri",
        auth_server.url,
        "--format",
        "json",
        cwd=tmp_path,
        env=env,
    )
    assert applied.returncode == 1
    report = json.loads(applied.stdout)
    assert {c["alias"]: c["status"] for c in report["changes"]} == {
        "champion": "failed",
        "old": "failed",
    }
    for change in report["changes"]:
        assert "permission denied by the MLflow registry" in change["error"]
        assert "HTTP 403" in change["error"]
    registered = admin.get_registered_model(model)
    assert registered.aliases == {"old": "1"}
    assert LAST_APPLIED_TAG not in registered.tags
    assert admin.get_model_version(model, "2").tags == {}


def test_an_edit_user_sets_aliases_and_a_delete_needing_manage_fails_clearly(
    tmp_path: Path, auth_server: AuthServer, admin: MlflowClient, model: str
) -> None:
    env = user_env(auth_server, model, "EDIT")

    applied = run_cli(
        "apply",
        "--auto-approve",
        "--tracking-uri",
        auth_server.url,
        "--format",
        "json",
        cwd=tmp_path,
        env=env,
    )

    assert applied.returncode == 1
    report = json.loads(applied.stdout)
    found = {c["alias"]: c for c in report["changes"]}
    assert found["champion"]["status"] == "applied"
    assert found["old"]["status"] == "failed"
    assert found["old"]["error"].startswith(f"delete alias {model}@old: permission denied")
    assert {a: int(v) for a, v in admin.get_registered_model(model).aliases.items()} == {
        "champion": 2,
        "old": 1,
    }
    record = LastApplied.from_tags(admin.get_registered_model(model).tags)
    assert record is not None and record.aliases == {"champion": 2}
    assert audit_tag_key("champion") in admin.get_model_version(model, "2").tags

    # Someone with MANAGE (here the admin) finishes the job: it converges.
    rerun = run_cli(
        "apply",
        "--auto-approve",
        "--tracking-uri",
        auth_server.url,
        cwd=tmp_path,
        env=auth_server.admin_env(),
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert admin.get_registered_model(model).aliases == {"champion": "2"}


def test_wrong_credentials_are_one_clear_line_and_exit_1(
    tmp_path: Path, auth_server: AuthServer, model: str
) -> None:
    env = auth_server.credentials_env("admin", "not-the-password-Qz7")

    for command in ("plan", "apply"):
        result = run_cli(command, "--tracking-uri", auth_server.url, cwd=tmp_path, env=env)

        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(
            f"error: permission denied by the MLflow registry at {auth_server.url} (HTTP 401)"
        )
        assert lines[0].endswith(
            "credentials come from MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD (set: MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD)"
        )
        assert "not-the-password-Qz7" not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr

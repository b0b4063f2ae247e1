"""Permission denied is not absence, and any legal model name works, quotes and all."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from testing.auth import AuthServer
from testing.cli import run_cli
from testing.waiting import wait_until

# Legal in MLflow, and each breaks a `name IN (...)` filter in its own way.
AWKWARD = ('it\'s "quoted"', "back\\slash", "two\nlines")


def manifest(aliases: dict[str, dict[str, int]]) -> str:
    return yaml.safe_dump({"version": 1, "models": {m: {"aliases": a} for m, a in aliases.items()}})


def create(client: MlflowClient, name: str, versions: int = 1) -> str:
    client.create_registered_model(name)
    for i in range(1, versions + 1):
        client.create_model_version(name, source=f"s3://fixtures/{uuid.uuid4().hex}/{i}")
    wait_until(
        lambda: client.get_model_version(name, str(versions)).status == "READY",
        f"{name} v{versions} to become READY",
    )
    return name


@pytest.fixture
def admin(auth_server: AuthServer, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    for key, value in auth_server.admin_env().items():
        monkeypatch.setenv(key, value)
    return MlflowClient(tracking_uri=auth_server.url, registry_uri=auth_server.url)


@pytest.mark.server
def test_a_model_hidden_by_permissions_is_reported_as_permission_denied(
    tmp_path: Path, auth_server: AuthServer, admin: MlflowClient
) -> None:
    suffix = uuid.uuid4().hex[:6]
    secure, visible = create(admin, f"secure{suffix}"), create(admin, f"visible{suffix}")
    user = f"viewer{suffix}"
    password = auth_server.create_user(user)
    auth_server.grant_model_permission(user, secure, "NO_PERMISSIONS")
    (tmp_path / "registry.yaml").write_text(
        manifest({secure: {"prod": 1}, visible: {"prod": 1}, f"absent{suffix}": {"prod": 1}})
    )
    env = auth_server.credentials_env(user, password)
    result = run_cli(
        "apply", "--auto-approve", "--tracking-uri", auth_server.url, cwd=tmp_path, env=env
    )
    assert result.returncode == 1
    assert f"permission denied reading registered model {secure!r}" in result.stdout
    assert f"registered model {secure!r} does not exist" not in result.stdout
    assert f"registered model 'absent{suffix}' does not exist" in result.stdout
    assert password not in result.stdout + result.stderr
    assert admin.get_registered_model(secure).aliases == {}
    assert admin.get_registered_model(visible).aliases == {}


@pytest.mark.server
def test_promote_reports_permission_denied_and_leaves_the_manifest(
    tmp_path: Path, auth_server: AuthServer, admin: MlflowClient
) -> None:
    suffix = uuid.uuid4().hex[:6]
    secure = create(admin, f"secure{suffix}")
    user = f"viewer{suffix}"
    password = auth_server.create_user(user)
    auth_server.grant_model_permission(user, secure, "NO_PERMISSIONS")
    text = manifest({secure: {"prod": 1}})
    (tmp_path / "registry.yaml").write_text(text)
    env = auth_server.credentials_env(user, password)
    args = ("promote", secure, "prod", "2", "--tracking-uri", auth_server.url)
    result = run_cli(*args, cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert f"permission denied reading registered model {secure!r}" in result.stderr
    assert (tmp_path / "registry.yaml").read_text() == text


@pytest.mark.server
@pytest.mark.parametrize("awkward", AWKWARD)
def test_a_model_name_no_filter_can_express_still_plans_and_applies(
    tmp_path: Path, mlflow_server: str, server_client: MlflowClient, awkward: str
) -> None:
    suffix = uuid.uuid4().hex[:6]
    odd = create(server_client, f"{awkward} {suffix}", versions=2)
    plain = create(server_client, f"plain{suffix}")
    (tmp_path / "registry.yaml").write_text(manifest({odd: {"prod": 2}, plain: {"prod": 1}}))
    uri = ("--tracking-uri", mlflow_server)
    plan = run_cli("plan", "--detailed-exitcode", *uri, cwd=tmp_path)
    assert plan.returncode == 2, plan
    assert run_cli("apply", "--auto-approve", *uri, cwd=tmp_path).returncode == 0
    assert server_client.get_registered_model(odd).aliases == {"prod": "2"}
    assert server_client.get_registered_model(plain).aliases == {"prod": "1"}
    again = run_cli("plan", "--detailed-exitcode", *uri, cwd=tmp_path)
    assert again.returncode == 0, again


@pytest.mark.server
def test_a_missing_version_of_an_awkward_model_is_still_a_plan_error(
    tmp_path: Path, mlflow_server: str, server_client: MlflowClient
) -> None:
    odd = create(server_client, f'it\'s "v" {uuid.uuid4().hex[:6]}', versions=1)
    (tmp_path / "registry.yaml").write_text(manifest({odd: {"prod": 7}}))
    result = run_cli("plan", "--tracking-uri", mlflow_server, cwd=tmp_path)
    assert result.returncode == 1
    assert "version 7 of model" in result.stdout


@pytest.mark.server
def test_import_all_handles_awkward_names_with_short_output(
    tmp_path: Path, mlflow_server: str, server_client: MlflowClient
) -> None:
    odd = create(server_client, f'it\'s "imp" {uuid.uuid4().hex[:6]}')
    server_client.set_registered_model_alias(odd, "prod", "1")
    result = run_cli(
        "import", "--all", "--name", "t", "--tracking-uri", mlflow_server, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[:2000]
    assert yaml.safe_load(result.stdout)["models"][odd] == {"aliases": {"prod": 1}}
    assert len(result.stderr) < 2000


def test_an_error_never_echoes_a_whole_search_filter() -> None:
    from controller.registry.errors import MAX_MESSAGE_CHARS, translate
    from controller.target import RegistryTarget

    names = ",".join(f"'model-{i}'" for i in range(2000))
    echoed = ValueError(f"Invalid filter 'name IN ({names})': ill-formed list")
    error = translate(echoed, RegistryTarget("http://r", "http://r"), "")
    assert len(str(error)) < MAX_MESSAGE_CHARS + 100
    assert str(error).startswith("MLflow registry at http://r: Invalid filter 'name IN (")
    assert "more characters)" in str(error)

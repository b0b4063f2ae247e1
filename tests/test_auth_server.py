"""The basic-auth server fixture enforces per-model permissions as a real deployment would."""

from __future__ import annotations

import uuid

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from testing.auth import AuthServer

pytestmark = pytest.mark.server


def client_as(
    monkeypatch: pytest.MonkeyPatch, server: AuthServer, env: dict[str, str]
) -> MlflowClient:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


def test_a_user_without_permission_cannot_see_or_read_the_model(
    monkeypatch: pytest.MonkeyPatch, auth_server: AuthServer
) -> None:
    secure, open_model = f"secure{uuid.uuid4().hex[:6]}", f"open{uuid.uuid4().hex[:6]}"
    admin = client_as(monkeypatch, auth_server, auth_server.admin_env())
    admin.create_registered_model(secure)
    admin.create_registered_model(open_model)
    user = f"u{uuid.uuid4().hex[:6]}"
    password = auth_server.create_user(user)
    auth_server.grant_model_permission(user, secure, "NO_PERMISSIONS")

    client = client_as(monkeypatch, auth_server, auth_server.credentials_env(user, password))
    seen = {
        m.name for m in client.search_registered_models(f"name IN ('{secure}', '{open_model}')")
    }
    assert seen == {open_model}  # READ by default; the revoked model is silently left out
    with pytest.raises(MlflowException) as denied:
        client.get_registered_model(secure)
    assert denied.value.get_http_status_code() == 403


def test_edit_permission_lets_a_user_set_aliases_only_where_granted(
    monkeypatch: pytest.MonkeyPatch, auth_server: AuthServer
) -> None:
    granted, other = f"granted{uuid.uuid4().hex[:6]}", f"other{uuid.uuid4().hex[:6]}"
    admin = client_as(monkeypatch, auth_server, auth_server.admin_env())
    for name in (granted, other):
        admin.create_registered_model(name)
        admin.create_model_version(name, source=f"s3://fixtures/{name}/1", await_creation_for=0)
    user = f"u{uuid.uuid4().hex[:6]}"
    password = auth_server.create_user(user)
    auth_server.grant_model_permission(user, granted, "EDIT")

    client = client_as(monkeypatch, auth_server, auth_server.credentials_env(user, password))
    client.set_registered_model_alias(granted, "prod", "1")
    with pytest.raises(MlflowException) as denied:
        client.set_registered_model_alias(other, "prod", "1")
    assert denied.value.get_http_status_code() == 403
    assert admin.get_registered_model(granted).aliases == {"prod": "1"}
    assert admin.get_registered_model(other).aliases == {}


def test_wrong_password_is_unauthenticated(
    monkeypatch: pytest.MonkeyPatch, auth_server: AuthServer
) -> None:
    client = client_as(monkeypatch, auth_server, auth_server.credentials_env("admin", "wrong"))
    with pytest.raises(MlflowException) as refused:
        client.search_registered_models()
    assert refused.value.get_http_status_code() == 401

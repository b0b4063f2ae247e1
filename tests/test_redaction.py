"""No secret reaches output: URI userinfo, echoed credentials, and every credential value."""

from __future__ import annotations

import base64

import pytest

from controller.output import SECRET_ENV_VARS, redact, remember_uri_credentials


@pytest.fixture(autouse=True)
def no_secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SECRET_ENV_VARS, "MLFLOW_TRACKING_USERNAME"):
        monkeypatch.delenv(name, raising=False)


def test_userinfo_is_blanked_up_to_the_last_at_of_the_authority() -> None:
    text = redact("cannot reach http://u:Pa@ss@host:5000/api?x=a@b and https://t@h/")

    assert text == "cannot reach http://***@host:5000/api?x=a@b and https://***@h/"


@pytest.mark.parametrize("kind", ["Basic", "Bearer"])
def test_authorization_credentials_of_any_length_are_blanked(kind: str) -> None:
    assert redact(f"denied for {kind} x on /api") == f"denied for {kind} *** on /api"
    assert redact(f"{kind}  dXNlcjpwYXNz==, next") == f"{kind}  ***, next"


@pytest.mark.parametrize("name", SECRET_ENV_VARS)
def test_every_credential_variable_is_blanked_however_short(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, "Qz7")

    assert (
        redact("server said: bad password Qz7 for ann") == "server said: bad password *** for ann"
    )


def test_the_basic_pair_of_username_and_password_is_blanked_without_its_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ann")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "hunter2")
    pair = base64.b64encode(b"ann:hunter2").decode()

    assert redact(f"credentials {pair} rejected for ann") == "credentials *** rejected for ann"


def test_a_longer_secret_containing_a_shorter_one_is_blanked_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "abc")
    monkeypatch.setenv("DATABRICKS_TOKEN", "dapi-abc-123")

    assert redact("token dapi-abc-123 and abc") == "token *** and ***"


def test_credentials_from_a_registry_uri_are_blanked_when_echoed_decoded() -> None:
    remember_uri_credentials("http://svc:Pa@ss-9f@registry.example:5000")
    pair = base64.b64encode(b"svc:Pa@ss-9f").decode()

    text = redact(f"denied svc:Pa@ss-9f ({pair}); password Pa@ss-9f")

    assert text == "denied *** (***); password ***"

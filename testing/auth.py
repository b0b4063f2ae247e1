"""A real `mlflow server --app-name basic-auth` for tests about permissions.

The server keeps its tracking store and its user store as SQLite files in its own folder. The
admin creates users and grants them per-model permissions through the auth REST API, exactly as
an operator would; nothing is written to the auth database behind the server's back.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from testing.server import running_server

ADMIN_USERNAME = "admin"
Permission = Literal["READ", "USE", "EDIT", "MANAGE", "DENY", "NO_PERMISSIONS"]
_CREATE_USER = "/api/2.0/mlflow/users/create"
_GRANT = "/api/3.0/mlflow/users/permissions/grant"


class AuthApiError(RuntimeError):
    """The auth REST API refused a request; the message carries its status and body."""


@dataclass(frozen=True)
class AuthServer:
    """A running basic-auth server: its base URL and the admin's credentials."""

    url: str
    admin_password: str

    def uri_for(self, username: str, password: str) -> str:
        """The server's URL with `user:password@`, as a user might put it in a tracking URI."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{username}:{password}@{parts.netloc}"

    def credentials_env(self, username: str, password: str) -> dict[str, str]:
        """MLflow's own credential variables for `username`: how the CLI is told who it is."""
        return {"MLFLOW_TRACKING_USERNAME": username, "MLFLOW_TRACKING_PASSWORD": password}

    def admin_env(self) -> dict[str, str]:
        return self.credentials_env(ADMIN_USERNAME, self.admin_password)

    def create_user(self, username: str, password: str | None = None) -> str:
        """Create a (non-admin) user; return its password."""
        password = password or secrets.token_urlsafe(12)
        self._post_as_admin(_CREATE_USER, {"username": username, "password": password})
        return password

    def grant_model_permission(self, username: str, model: str, permission: Permission) -> None:
        """Give `username` exactly `permission` on the registered model `model`.

        MLflow 3.17 accepts no NO_PERMISSIONS grant on one resource: taking a model away from a
        user whose default is READ is a DENY there, so NO_PERMISSIONS is sent as DENY.
        """
        if permission == "NO_PERMISSIONS":
            permission = "DENY"
        self._post_as_admin(
            _GRANT,
            {
                "username": username,
                "resource_type": "registered_model",
                "resource_id": model,
                "permission": permission,
            },
        )

    def _post_as_admin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        token = base64.b64encode(f"{ADMIN_USERNAME}:{self.admin_password}".encode()).decode()
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as exc:
            raise AuthApiError(f"POST {path} -> {exc.code}: {exc.read().decode()}") from exc
        return json.loads(payload) if payload else {}


def _write_auth_config(root: Path, admin_password: str, default_permission: str) -> Path:
    """An auth ini of our own: MLflow ships no admin password and refuses to start without one."""
    config = root / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        f"default_permission = {default_permission}\n"
        f"database_uri = sqlite:///{root / 'basic_auth.db'}\n"
        f"admin_username = {ADMIN_USERNAME}\n"
        f"admin_password = {admin_password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    return config


@contextlib.contextmanager
def running_auth_server(
    root: Path, default_permission: Permission = "READ"
) -> Iterator[AuthServer]:
    """Run a basic-auth `mlflow server` with its stores under `root`.

    `default_permission` is what users get on models nobody granted them anything on; MLflow's
    own default is READ.
    """
    admin_password = secrets.token_urlsafe(16)
    config = _write_auth_config(root, admin_password, default_permission)
    extra_env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        # The auth app refuses to start without a static key for its CSRF protection.
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
    }
    with running_server(root, app_name="basic-auth", env=extra_env) as url:
        yield AuthServer(url=url, admin_password=admin_password)

"""Shared pytest fixtures: a real, session-scoped MLflow tracking server.

mlflow is imported lazily inside the fixtures, so pure unit tests that never
request a server fixture do not pay for the import or the server start-up.
Tests using the server are auto-marked ``server`` (``pytest -m "not server"``
runs only the fast tests).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from testing.server import ServerStartError, recorded_rest_calls, running_server

if TYPE_CHECKING:
    from mlflow import MlflowClient

# The act fixtures (adopter, adopter_origin), for the workflow tests.
pytest_plugins = ["testing.act"]

READY_TIMEOUT_S = 30.0
SERVER_FIXTURES = {"mlflow_server", "server_client", "make_model", "set_version_status"}


@pytest.fixture(autouse=True)
def no_outer_ci_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run the CLI; when this suite itself runs in GitHub Actions, the CLI must not write
    that job's outputs and summary, nor record its commit and actor as provenance."""
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_SHA", "GITHUB_ACTOR"):
        monkeypatch.delenv(name, raising=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "server: test uses the real MLflow server (slow start)")
    config.addinivalue_line("markers", "e2e: runs a real workflow through act (minutes)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="session")
def mlflow_server_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's folder: its SQLite store, artifacts and log."""
    return tmp_path_factory.mktemp("mlflow_server")


@pytest.fixture(scope="session")
def mlflow_server(mlflow_server_root: Path) -> Iterator[str]:
    """Start ``mlflow server`` on sqlite in a tmp dir; yield its base URL."""
    try:
        with running_server(mlflow_server_root) as url:
            yield url
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def set_version_status(mlflow_server: str, mlflow_server_root: Path) -> Callable[..., None]:
    """Factory: ``set_version_status(name, version, status)`` on the real server.

    MLflow's REST API registers versions synchronously, so it never shows one that is not
    READY; an asynchronous registration that failed leaves exactly this row behind. The
    server reads its SQLite store on every request, so it then reports the new status.
    """

    def _set(name: str, version: int, status: str) -> None:
        with contextlib.closing(sqlite3.connect(mlflow_server_root / "mlflow.db")) as db, db:
            db.execute(
                "UPDATE model_versions SET status = ? WHERE name = ? AND version = ?",
                (status, name, version),
            )

    return _set


@pytest.fixture
def server_client(mlflow_server: str) -> MlflowClient:
    """An ``MlflowClient`` pointing tracking and registry at the session server."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)


@pytest.fixture
def make_model(server_client: MlflowClient) -> Callable[..., str]:
    """Factory: ``make_model(prefix="m", versions=3) -> name`` of a new registered model.

    Versions use ``s3://fixtures/<name>/<i>`` sources (the server rejects local
    paths outside a run's artifacts); nothing is uploaded. Returns once every
    version is READY.
    """

    def _make(prefix: str = "m", versions: int = 3) -> str:
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        server_client.create_registered_model(name)
        for i in range(1, versions + 1):
            mv = server_client.create_model_version(
                name, source=f"s3://fixtures/{name}/{i}", await_creation_for=0
            )
            deadline = time.monotonic() + READY_TIMEOUT_S
            while mv.status != "READY":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} v{mv.version} stuck in {mv.status}")
                time.sleep(0.1)
                mv = server_client.get_model_version(name, mv.version)
        return name

    return _make


@pytest.fixture
def rest_calls() -> Iterator[list[tuple[str, str]]]:
    """(method, endpoint) of every MLflow REST call made during the test, in order."""
    with recorded_rest_calls() as calls:
        yield calls

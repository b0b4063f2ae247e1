"""Shared pytest fixtures: a real, session-scoped MLflow tracking server.

mlflow is imported lazily inside the fixtures, so pure unit tests that never
request a server fixture do not pay for the import or the server start-up.
Tests using the server are auto-marked ``server`` (``pytest -m "not server"``
runs only the fast tests).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mlflow import MlflowClient

HEALTH_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 30.0
SERVER_FIXTURES = {"mlflow_server", "server_client", "make_model"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "server: test uses the real MLflow server (slow start)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _is_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server's whole process group (uvicorn worker included)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):  # Stragglers in the group, or the parent.
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``mlflow server`` on sqlite in a tmp dir; yield its base URL."""
    root = tmp_path_factory.mktemp("mlflow_server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = root / "server.log"
    cmd = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # The job runner spawns ~8 huey consumer processes we never use; skipping it
    # saves a few seconds of start-up on small machines.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while not _is_healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                status = "exited" if proc.returncode is not None else "timed out"
                pytest.fail(
                    f"mlflow server {status} before becoming healthy at {url}.\n"
                    f"--- {log_path} ---\n{log_path.read_text(errors='replace')}",
                    pytrace=False,
                )
            time.sleep(0.25)
        yield url
    finally:
        _stop(proc)


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

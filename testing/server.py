"""Start and stop a real `mlflow server` on 127.0.0.1, for the tests and the benchmarks."""

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
from collections.abc import Iterator
from pathlib import Path

HEALTH_TIMEOUT_S = 120.0
_RUNNING: dict[str, subprocess.Popen[bytes]] = {}  # base URL -> server process, for kill_server


class ServerStartError(RuntimeError):
    """The server exited or never became healthy; the message carries its log."""


def free_port() -> int:
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
    """Terminate the server's whole process group: it ignores a SIGTERM to its parent alone."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):  # Stragglers in the group, or the parent.
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)


def server_log(root: Path) -> Path:
    """The server's output, including uvicorn's access log: one line per HTTP request."""
    return root / "server.log"


@contextlib.contextmanager
def running_server(
    root: Path,
    backend_store_uri: str | None = None,
    *,
    app_name: str | None = None,
    env: dict[str, str] | None = None,
    mlflow: Path | None = None,
) -> Iterator[str]:
    """Run `mlflow server` with its store (SQLite under `root` by default); yield its base URL.

    `app_name` selects a server plugin (e.g. "basic-auth"); `env` adds to its environment;
    `mlflow` is the executable, this environment's by default (testing/mlflow2.py has a 2.x one).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = server_log(root)
    cmd = [
        str(mlflow or Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        backend_store_uri or f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        *(["--app-name", app_name] if app_name else []),
    ]
    # The job runner spawns ~8 huey consumer processes we never use; skipping it
    # saves a few seconds of start-up on small machines.
    server_env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=server_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while not _is_healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                status = "exited" if proc.returncode is not None else "timed out"
                raise ServerStartError(
                    f"mlflow server {status} before becoming healthy at {url}.\n"
                    f"--- {log_path} ---\n{log_path.read_text(errors='replace')}"
                )
            time.sleep(0.25)
        _RUNNING[url] = proc
        yield url
    finally:
        _RUNNING.pop(url, None)
        _stop(proc)


def kill_server(url: str) -> None:
    """SIGKILL the server's whole process group, as a crash or an OOM kill would."""
    proc = _RUNNING[url]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@contextlib.contextmanager
def recorded_rest_calls() -> Iterator[list[tuple[str, str]]]:
    """Record (method, endpoint) of every REST call MLflow makes, letting each through."""
    from mlflow.utils import rest_utils

    calls: list[tuple[str, str]] = []
    real = rest_utils.http_request

    def spy(host_creds, endpoint, method, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((method, endpoint))
        return real(host_creds, endpoint, method, *args, **kwargs)

    rest_utils.http_request = spy
    try:
        yield calls
    finally:
        rest_utils.http_request = real

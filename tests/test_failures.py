"""Expected failures: one clear line, exit code 1, no traceback, and no secret in the output."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from testing.cli import run_cli
from testing.server import free_port

MANIFEST = "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: 1\n"
SECRET_PASSWORD = "hunter2-very-secret"
SECRET_TOKEN = "tok-3f9a8c7e1d"


class DenyingHandler(BaseHTTPRequestHandler):
    """An auth proxy in front of MLflow that refuses everyone and echoes what it was sent."""

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "error_code": "PERMISSION_DENIED",
                "message": f"denied for {self.headers.get('Authorization')} on {self.path}",
            }
        ).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PATCH = do_DELETE = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def denying_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), DenyingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def manifest_dir(tmp_path: Path) -> Path:
    (tmp_path / "registry.yaml").write_text(MANIFEST)
    return tmp_path


def assert_one_clear_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_unreachable_server_is_one_line_and_exit_1(manifest_dir: Path) -> None:
    port = free_port()
    result = run_cli("plan", "--tracking-uri", f"http://127.0.0.1:{port}", cwd=manifest_dir)
    line = assert_one_clear_line(result)
    assert line == f"error: cannot reach the MLflow registry at http://127.0.0.1:{port}"


def test_unreachable_server_gives_up_after_a_bounded_number_of_attempts(manifest_dir: Path) -> None:
    """MLflow's default is 7 retries with exponential backoff (minutes); ours is 2 (seconds)."""
    code = (
        "import sys, urllib3\n"
        "from controller.cli import main\n"
        "attempts = []\n"
        "real = urllib3.connectionpool.HTTPConnectionPool._make_request\n"
        "def spy(self, *a, **k):\n"
        "    attempts.append(1)\n"
        "    return real(self, *a, **k)\n"
        "urllib3.connectionpool.HTTPConnectionPool._make_request = spy\n"
        "rc = main(['plan', '--tracking-uri', sys.argv[1]])\n"
        "print('attempts', len(attempts))\n"
    )
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli(url, cwd=manifest_dir, entry=("-c", code))
    assert result.stdout.strip() == "attempts 3", result


def plan_with(
    manifest_dir: Path, server: str, credentials: dict[str, str]
) -> subprocess.CompletedProcess:
    """`plan` against `server`, with MLflow's credential variables set as a user would."""
    return run_cli("plan", "--tracking-uri", f"http://{server}", cwd=manifest_dir, env=credentials)


def test_permission_denied_is_one_line_without_the_token(
    manifest_dir: Path, denying_server: str
) -> None:
    result = plan_with(manifest_dir, denying_server, {"MLFLOW_TRACKING_TOKEN": SECRET_TOKEN})
    line = assert_one_clear_line(result)
    assert line.startswith(
        f"error: permission denied by the MLflow registry at http://{denying_server}"
    )
    assert SECRET_TOKEN not in result.stdout + result.stderr
    assert "Bearer ***" in line  # the server echoed it; we redacted it


def test_credentials_in_the_uri_never_reach_the_output(
    manifest_dir: Path, denying_server: str
) -> None:
    uri = f"http://admin:{SECRET_PASSWORD}@{denying_server}"
    for args in (["plan"], ["apply"], ["plan", "--format", "json"]):
        result = run_cli(*args, "--tracking-uri", uri, cwd=manifest_dir)
        assert result.returncode == 1
        assert SECRET_PASSWORD not in result.stdout + result.stderr
        assert f"http://***@{denying_server}" in result.stderr


def test_password_variable_is_redacted_wherever_it_appears(
    manifest_dir: Path, denying_server: str
) -> None:
    credentials = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": SECRET_PASSWORD}
    result = plan_with(manifest_dir, denying_server, credentials)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert SECRET_PASSWORD not in output
    # The server echoed the Basic header; base64 would hand the password straight back.
    assert base64.b64encode(f"admin:{SECRET_PASSWORD}".encode()).decode() not in output
    assert "Basic ***" in output


def test_missing_manifest_is_one_line(tmp_path: Path) -> None:
    line = assert_one_clear_line(run_cli("plan", "-f", "absent.yaml", cwd=tmp_path))
    assert line == "absent.yaml:1:1: no such file"


def test_bad_manifest_fails_before_any_network_call(tmp_path: Path) -> None:
    (tmp_path / "registry.yaml").write_text(
        "version: 1\nmodels:\n  bikes:\n    aliases:\n      latest: 1\n"
    )
    port = free_port()  # nothing listens: reaching for the network would fail differently
    line = assert_one_clear_line(
        run_cli("plan", "--tracking-uri", f"http://127.0.0.1:{port}", cwd=tmp_path)
    )
    assert line == "registry.yaml:5:7: alias 'latest' is reserved by MLflow"


def test_usage_errors_exit_1_not_2(tmp_path: Path) -> None:
    """2 means 'changes' under --detailed-exitcode, so a typo must not look like one."""
    result = run_cli("plan", "--detailed-exitcod", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr


def test_unreadable_saved_plan_is_one_line(manifest_dir: Path) -> None:
    (manifest_dir / "plan.json").write_text("{not json")
    line = assert_one_clear_line(run_cli("apply", "--plan", "plan.json", cwd=manifest_dir))
    assert line.startswith("error: plan.json: not a saved plan")

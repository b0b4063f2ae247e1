"""`mlflow-gitops serve` as a user runs it: a real process, real HTTP, the real MLflow server."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main
from testing.cli import cli_environment, run_cli
from testing.models import STARTED_MARKER_ENV, log_label_version, tracking_at
from testing.server import free_port, running_server
from testing.waiting import wait_until

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "mlflow-gitops")


def http(
    url: str, body: bytes | None = None, content_type: str = "application/json", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    for key, value in headers.items():
        request.add_header(key.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def status_of(url: str) -> dict[str, Any]:
    code, _, body = http(f"{url}/health")
    assert code == 200
    return json.loads(body)


@contextlib.contextmanager
def running_serve(
    log_path: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start `mlflow-gitops serve ARGS` and yield (base URL, process) once /ping answers."""
    port = port or free_port()
    # The test models' class lives in testing/, which the served process must import to unpickle.
    full_env = cli_environment({"PYTHONPATH": str(ROOT), **(env or {})})
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [CLI, "serve", *args, "--port", str(port)], env=full_env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"serve exited {proc.returncode}:\n{log_path.read_text()}")
        try:
            return http(f"{url}/ping")[0] == 200
        except OSError:
            return False

    try:
        wait_until(up, "serve to answer /ping")
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=60)


@pytest.fixture
def champion(server_client, mlflow_server: str) -> str:
    """A model with versions 1 and 2 (predicting 1000*version + x), champion -> 1."""
    name = f"serve{uuid.uuid4().hex[:8]}"
    server_client.create_registered_model(name)
    for label in (1.0, 2.0):
        log_label_version(mlflow_server, name, label)
    server_client.set_registered_model_alias(name, "champion", "1")
    return name


def test_invocations_answer_like_the_pyfunc_model_in_every_mlflow_input_format(
    champion: str, mlflow_server: str, tmp_path: Path
) -> None:
    import mlflow
    import pandas as pd

    with tracking_at(mlflow_server):
        model = mlflow.pyfunc.load_model(f"models:/{champion}/1")
    expected = [float(p) for p in model.predict(pd.DataFrame({"x": [1.5, 2.5]}))]
    payloads = {
        "dataframe_split": {"dataframe_split": {"columns": ["x"], "data": [[1.5], [2.5]]}},
        "dataframe_records": {"dataframe_records": [{"x": 1.5}, {"x": 2.5}]},
        "instances": {"instances": [{"x": 1.5}, {"x": 2.5}]},
        "inputs": {"inputs": {"x": [1.5, 2.5]}},
    }
    with running_serve(
        tmp_path / "serve.log", f"{champion}@champion", "--tracking-uri", mlflow_server
    ) as (url, _):
        for label, payload in payloads.items():
            code, headers, body = http(f"{url}/invocations", json.dumps(payload).encode())
            assert (code, json.loads(body)) == (200, {"predictions": expected}), label
            assert headers["x-model-version"] == "1"
        code, _, body = http(f"{url}/invocations", b"x\n1.5\n2.5\n", "text/csv")
        assert (code, json.loads(body)) == (200, {"predictions": expected})
    assert expected == [1001.5, 1002.5]


def test_health_reports_the_new_version_after_apply(
    champion: str, mlflow_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "registry.yaml"
    manifest.write_text(
        f"version: 1\nmodels:\n  {champion}:\n    aliases:\n      champion: 2\n", encoding="utf-8"
    )
    args = (f"models:/{champion}@champion", "--refresh", "0.2", "--tracking-uri", mlflow_server)
    with running_serve(tmp_path / "serve.log", *args) as (url, _):
        before = status_of(url)
        assert (before["version"], before["model_uri"]) == ("1", f"models:/{champion}/1")
        assert (
            main(["apply", "--auto-approve", "-f", str(manifest), "--tracking-uri", mlflow_server])
            == 0
        )
        wait_until(lambda: status_of(url)["version"] == "2", "/health to show version 2")
        after = status_of(url)
        _, _, version_body = http(f"{url}/version")
        code, _, body = http(f"{url}/invocations", b'{"inputs": {"x": [3.0]}}')
    assert json.loads(version_body)["version"] == "2"
    assert after["last_checked"] > before["last_checked"] and after["checks"] > before["checks"]
    assert (code, json.loads(body)) == (200, {"predictions": [2003.0]})


BAD_PAYLOADS = [
    ("application/json", b"{not json"),
    ("application/json", b'{"dataframe_records": [{"y": 1.0}]}'),
    ("application/json", b'{"dataframe_records": [{"x": "lots"}]}'),
    ("application/json", b'{"unknown_format": []}'),
    ("application/json", b""),
    ("text/csv", b"x\nnot-a-number\n"),
    ("text/plain", b"x=1"),
    ("application/json; charset=latin-1", b"{}"),
    ("application/json", b"[" * 100_000 + b"]" * 100_000),  # deeper than any parser recurses
]


def test_bad_payloads_get_a_4xx_with_a_clear_message_and_no_traceback(
    champion: str, mlflow_server: str, tmp_path: Path
) -> None:
    with running_serve(
        tmp_path / "serve.log", f"{champion}@champion", "--tracking-uri", mlflow_server
    ) as (url, _):
        answers = [http(f"{url}/invocations", body, ctype) for ctype, body in BAD_PAYLOADS]
        still_serving = http(f"{url}/invocations", b'{"inputs": {"x": [1.0]}}')[0]
    for (ctype, body), (code, _, answer) in zip(BAD_PAYLOADS, answers, strict=True):
        text = answer.decode()
        assert 400 <= code < 500, (ctype, body, code, text)
        assert "Traceback" not in text and "stack_trace" not in text, text
        if code == 400:
            assert json.loads(text)["message"].strip(), text
    assert still_serving == 200


def test_sigterm_finishes_the_request_in_flight_then_exits_0(
    champion: str, mlflow_server: str, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    started = tmp_path / "request-started"
    args = (f"{champion}@champion", "--tracking-uri", mlflow_server)
    env = {STARTED_MARKER_ENV: str(started)}
    with running_serve(log, *args, env=env) as (url, proc):
        answers: list[tuple[int, dict[str, str], bytes]] = []
        slow = b'{"dataframe_records": [{"x": 4.0, "delay_s": 3.0}]}'
        request = threading.Thread(target=lambda: answers.append(http(f"{url}/invocations", slow)))
        request.start()
        wait_until(started.exists, "the slow request to reach the model")
        proc.send_signal(signal.SIGTERM)
        request.join()
        assert proc.wait(timeout=60) == 0
        with pytest.raises(OSError):
            http(f"{url}/ping")
    assert [(code, json.loads(body)) for code, _, body in answers] == [
        (200, {"predictions": [1004.0]})
    ]
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize(
    "target, message",
    [("nosuchmodel@champion", "cannot serve nosuchmodel@champion"), ("bikes", "not MODEL@ALIAS")],
)
def test_an_unservable_target_is_one_clear_line_and_exit_1(
    target: str, message: str, mlflow_server: str, tmp_path: Path
) -> None:
    result = run_cli("serve", target, "--tracking-uri", mlflow_server, cwd=tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_serve_names_the_registry_before_anything_else(mlflow_server: str, tmp_path: Path) -> None:
    result = run_cli("serve", "nosuchmodel@champion", "--tracking-uri", mlflow_server, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"Registry: {mlflow_server} (from --tracking-uri)"


def forged_signature(body: bytes) -> dict[str, str]:
    """MLflow's headers, signed with a secret other than the server's."""
    from mlflow.webhooks.delivery import _generate_hmac_signature

    stamp = str(int(time.time()))
    return {
        "X_MLflow_Delivery_Id": "d-1",
        "X_MLflow_Timestamp": stamp,
        "X_MLflow_Signature": _generate_hmac_signature("guessed", "d-1", stamp, body.decode()),
    }


@pytest.fixture(scope="module")
def webhook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own that may deliver webhooks to plain http on loopback (tests only)."""
    # MLflow 3.17's constant is _MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS; the variable it reads has no "_".
    # No delivery retries: the first alias is set before `serve` listens, and a late retry of
    # it would be one more check than the switch under test.
    env = {
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES": "0",
    }
    with running_server(tmp_path_factory.mktemp("webhook_server"), env=env) as url:
        yield url


def test_a_signed_webhook_switches_versions_long_before_the_poll_would(
    webhook_server: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(webhook_server, webhook_server)
    name = f"hooked{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    for label in (1.0, 2.0):
        log_label_version(webhook_server, name, label)
    port = free_port()
    # Before any alias event: the server caches each event's webhook list for a minute.
    client.create_webhook(
        name="serve",
        url=f"http://127.0.0.1:{port}/webhook",
        events=["model_version_alias.created", "model_version_alias.deleted"],
        secret="s3cret-for-tests",
    )
    client.set_registered_model_alias(name, "champion", "1")
    args = (f"{name}@champion", "--refresh", "300", "--tracking-uri", webhook_server)
    env = {"MLFLOW_GITOPS_WEBHOOK_SECRET": "s3cret-for-tests"}
    with running_serve(tmp_path / "serve.log", *args, env=env, port=port) as (url, _):
        alias_event = json.dumps(
            {"entity": "model_version_alias", "action": "created", "data": {"name": name}}
        ).encode()
        unsigned = http(f"{url}/webhook", alias_event)[0]
        forged = http(f"{url}/webhook", alias_event, **forged_signature(alias_event))[0]
        client.set_registered_model_alias(name, "champion", "2")
        # A 300 s poll interval: only the webhook can explain a switch within this wait.
        wait_until(lambda: status_of(url)["version"] == "2", "the webhook to trigger a refresh")
        checks = status_of(url)["checks"]
    assert (unsigned, forged) == (401, 401)
    assert checks == 1, "one check, the one the webhook asked for"
    assert "s3cret-for-tests" not in (tmp_path / "serve.log").read_text()


SECRET = "s3cret-for-tests"
BIG_BODY_MIB = 128


def signed(body: bytes, delivery: str = "d-1", secret: str = SECRET) -> dict[str, str]:
    """MLflow's three webhook headers for `body`, signed now."""
    from mlflow.webhooks.delivery import _generate_hmac_signature

    stamp = str(int(time.time()))
    return {
        "X-MLflow-Delivery-Id": delivery,
        "X-MLflow-Timestamp": stamp,
        "X-MLflow-Signature": _generate_hmac_signature(secret, delivery, stamp, body.decode()),
    }


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s*(\d+) kB", status)[1]) / 1024  # type: ignore[index]


def post(url: str, headers: dict[str, str], body: Iterator[bytes] | None = None) -> int | None:
    """POST to /webhook, streaming `body` in chunks (chunked encoding), or with only the
    headers; the status, or None when the server closed the connection before taking it all."""
    port = int(url.rsplit(":", 1)[1])
    connection = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/webhook", body=body, headers=headers,
                           encode_chunked=body is not None)  # fmt: skip
        return connection.getresponse().status
    except (BrokenPipeError, ConnectionResetError):
        return None
    finally:
        connection.close()


def test_webhook_bodies_are_capped_before_they_are_read_and_replays_are_refused(
    champion: str, mlflow_server: str, tmp_path: Path
) -> None:
    args = (f"{champion}@champion", "--refresh", "300", "--tracking-uri", mlflow_server)
    env = {"MLFLOW_GITOPS_WEBHOOK_SECRET": SECRET}
    event = json.dumps({"entity": "model_version_alias", "action": "created",
                        "data": {"name": "other", "alias": "champion"}}).encode()  # fmt: skip
    with running_serve(tmp_path / "serve.log", *args, env=env) as (url, proc):
        assert http(f"{url}/webhook", event, **signed(event, "first"))[0] == 200
        before = peak_rss_mib(proc.pid)
        chunk = b"x" * (1024 * 1024)
        big = (chunk for _ in range(BIG_BODY_MIB))
        # Well-formed headers (a wrong signature, which only the body can show): streamed in.
        streamed = post(url, signed(event, "big", secret="guessed"), big)
        grew = peak_rss_mib(proc.pid) - before
        # A declared length over the cap is refused without waiting for the body; an unsigned
        # call is refused before its body, however long it says it is.
        huge = {"Content-Length": str(BIG_BODY_MIB * 1024 * 1024)}
        declared = post(url, {**signed(event, "declared"), **huge})
        unsigned = post(url, huge)
        replayed = http(f"{url}/webhook", event, **signed(event, "again"))[0]
        again = http(f"{url}/webhook", event, **signed(event, "again"))
        still = status_of(url)
    assert streamed in (413, None), (streamed, f"peak RSS grew {grew:.0f} MiB")  # or cut off
    assert grew < BIG_BODY_MIB / 4, f"peak RSS grew {grew:.0f} MiB on a {BIG_BODY_MIB} MiB body"
    assert (declared, unsigned) == (413, 401)
    assert replayed == 200
    assert again[0] == 409 and json.loads(again[2])["message"] == (
        "this delivery was already received"
    )
    assert still["checks"] == 0  # no event named the served alias

"""`mlflow-gitops controller` as a process against a real mlflow server, with a real bare
repository as its remote: pushes applied, drift healed or reported, bad commits kept out,
SIGTERM and two replicas. Each test reads the registry afterwards; none asserts a speed: a long
--interval makes a hook the only explanation for a quick apply."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import git
import pytest

from testing.access_log import counted_requests
from testing.cli import CLI_ENTRY, cli_environment, run_cli
from testing.proxy import FORWARD, fault_proxy
from testing.repos import commit_file, make_repo, work_tree
from testing.server import free_port, running_server, server_log
from testing.waiting import wait_until

pytestmark = pytest.mark.server

HOOK_SECRET = "git-hook-s3cret"
WEBHOOK_SECRET = "mlflow-webhook-s3cret"
# Long enough that only a hook (or the first reconcile at start) explains an apply.
NO_POLL = "300"


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A server of its own that delivers alias webhooks to a controller on `port` (loopback,
    plain http: allowed for tests only). The webhook is registered before any alias event: the
    server caches each event's receivers for a minute."""
    from mlflow import MlflowClient

    env = {
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        "MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES": "0",
    }
    port = free_port()
    with running_server(tmp_path_factory.mktemp("controller_server"), env=env) as url:
        MlflowClient(url, url).create_webhook(
            name="controller",
            url=f"http://127.0.0.1:{port}/hooks/mlflow",
            events=["model_version_alias.created", "model_version_alias.deleted"],
            secret=WEBHOOK_SECRET,
        )
        yield url, port


@pytest.fixture
def server(hooked: tuple[str, int]) -> str:
    return hooked[0]


def new_model(server: str, versions: int = 3) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(server, server)
    name = f"ctl{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    for i in range(1, versions + 1):
        client.create_model_version(name, source=f"s3://fixtures/{name}/{i}", await_creation_for=0)
    return name


def manifest(aliases: dict[str, dict[str, int]]) -> str:
    lines = ["version: 1", "models:"]
    for model, declared in aliases.items():
        lines += [f"  {model}:", "    aliases:"]
        lines += [f"      {alias}: {version}" for alias, version in declared.items()]
    return "\n".join(lines) + "\n"


class Origin:
    """A bare repository as the remote, and a work clone that pushes to it."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "origin.git"
        git.Repo.init(self.bare, bare=True, initial_branch="main")
        self.work = make_repo(root / "work")
        self.work.create_remote("origin", str(self.bare))
        self.url = f"file://{self.bare}"

    def push(self, text: str, message: str = "change", force: bool = False) -> str:
        sha = commit_file(self.work, "registry.yaml", text, message)
        self.work.git.push(*(["--force"] if force else []), "origin", "HEAD:refs/heads/main")
        return sha


def alias(server: str, model: str, name: str = "champion") -> int | None:
    from mlflow import MlflowClient

    aliases = MlflowClient(server, server).get_registered_model(model).aliases
    return int(aliases[name]) if name in aliases else None


def tags(server: str, model: str, version: int | None = None) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(server, server)
    if version is None:
        return dict(client.get_registered_model(model).tags)
    return dict(client.get_model_version(model, str(version)).tags)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def status(url: str) -> dict[str, Any]:
    code, body = get(f"{url}/api/status")
    assert code == 200
    result: dict[str, Any] = json.loads(body)["manifests"][0]
    return result


def reconciled_at(url: str, commit: str, result: str | None = None) -> bool:
    last = status(url).get("last_reconcile") or {}
    return last.get("commit") == commit and (result is None or last.get("result") == result)


def push_hook(url: str, secret: str = HOOK_SECRET) -> int:
    body = b'{"ref": "refs/heads/main"}'
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}
    return post(f"{url}/hooks/git", body, headers)


@contextlib.contextmanager
def controller(
    origin: Origin, server: str, log: Path, *args: str, port: int | None = None, **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The controller as a subprocess, listening on `port`; SIGTERMed (and awaited) at exit."""
    port = port or free_port()
    command = [
        sys.executable, *CLI_ENTRY, "controller", "--repo", origin.url,
        "--state-dir", str(log.with_suffix(".state")), "--listen", f"127.0.0.1:{port}",
        "--tracking-uri", server, *args,
    ]  # fmt: skip
    environment = cli_environment(
        {
            "MLFLOW_GITOPS_GIT_HOOK_SECRET": HOOK_SECRET,
            "MLFLOW_GITOPS_WEBHOOK_SECRET": WEBHOOK_SECRET,
            **env,
        }
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=environment, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _listening(url, process, log), "the controller to listen")
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _listening(url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the controller exited {process.returncode}:\n{log.read_text()}")
    try:
        return get(f"{url}/healthz")[0] == 200
    except OSError:
        return False


def in_sync_at(url: str, commit: str) -> bool:
    found = status(url)
    return bool(found["last_applied_commit"] == commit and found["in_sync"])


class Receiver:
    """A notification receiver on loopback that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kinds(self) -> list[str]:
        return [event["kind"] for event in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


def log_records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_a_push_is_applied_by_the_poll_and_at_once_after_a_signed_push_hook(
    server: str, tmp_path: Path
) -> None:
    model = new_model(server)
    origin = Origin(tmp_path)
    first = origin.push(manifest({model: {"champion": 1}}), "declare")
    log = tmp_path / "polling.log"
    with controller(origin, server, log, "--interval", "0.5") as (url, _):
        wait_until(lambda: reconciled_at(url, first, "applied"), "the first commit applied")
        second = origin.push(manifest({model: {"champion": 2}}), "promote")
        wait_until(lambda: reconciled_at(url, second, "applied"), "the poll to apply the push")
    assert alias(server, model) == 2
    assert json.loads(tags(server, model, 2)["mlflow-gitops.alias.champion"])["commit"] == second

    log = tmp_path / "hooked.log"
    with controller(origin, server, log, "--interval", NO_POLL) as (url, _):
        wait_until(lambda: reconciled_at(url, second, "no_changes"), "the start-up reconcile")
        third = origin.push(manifest({model: {"champion": 3}}), "promote again")
        forged = push_hook(url, secret="guessed")
        assert status(url)["last_reconcile"]["commit"] == second  # a forged hook moved nothing
        assert push_hook(url) == 202
        wait_until(lambda: reconciled_at(url, third, "applied"), "the push hook to apply")
    assert forged == 401
    assert alias(server, model) == 3
    records = log_records(log)
    applied = [r for r in records if r["event"] == "reconciled" and r["result"] == "applied"]
    assert applied[-1]["commit"] == third
    assert applied[-1]["changes"] == [
        {"address": f"{model}@champion", "from": 2, "to": 3, "reason": "promote",
         "status": "applied", "error": None}
    ]  # fmt: skip
    assert applied[-1]["plan"]["update"] == 1
    assert HOOK_SECRET not in log.read_text()


def test_a_hand_made_alias_change_is_healed_after_mlflow_webhook_with_self_heal(
    hooked: tuple[str, int], tmp_path: Path, receiver: Receiver
) -> None:
    from mlflow import MlflowClient

    server, port = hooked
    model = new_model(server)
    origin = Origin(tmp_path)
    sha = origin.push(manifest({model: {"champion": 2}}), "declare")
    log = tmp_path / "heal.log"
    args = ("--interval", NO_POLL, "--self-heal", "--notify", receiver.url)
    with controller(origin, server, log, *args, port=port) as (url, _):
        wait_until(lambda: reconciled_at(url, sha, "applied"), "the first apply")
        MlflowClient(server, server).set_registered_model_alias(model, "champion", "1")
        wait_until(lambda: status(url)["drift_heals"] == 1, "the webhook to trigger a heal")
        metrics = get(f"{url}/metrics")[1].decode()
        wait_until(lambda: "healed" in receiver.kinds(), "the healed notification")
    assert receiver.kinds() == ["applied", "healed"]
    healed = receiver.received[1]
    assert healed["commit"] == sha and healed["changes"][0]["from"] == 1
    assert f"{model}@champion" in healed["text"]
    assert alias(server, model) == 2
    audit = json.loads(tags(server, model, 2)["mlflow-gitops.alias.champion"])
    assert (audit["reason"], audit["from"], audit["commit"]) == ("self-heal", 1, sha)
    assert audit["actor"].startswith("mlflow-gitops controller on ")
    assert 'mlflow_gitops_drift_heals_total{manifest="registry.yaml"} 1.0' in metrics
    line = (
        f'mlflow_gitops_alias_in_sync{{alias="champion",manifest="registry.yaml",model="{model}"}}'
    )
    assert f"{line} 1.0" in metrics
    assert WEBHOOK_SECRET not in log.read_text()


def test_drift_without_self_heal_is_reported_in_metrics_and_status_and_left_alone(
    hooked: tuple[str, int], tmp_path: Path, receiver: Receiver
) -> None:
    from mlflow import MlflowClient

    server, port = hooked
    model = new_model(server)
    origin = Origin(tmp_path)
    sha = origin.push(manifest({model: {"champion": 2}}), "declare")
    log = tmp_path / "report.log"
    args = ("--interval", NO_POLL, "--notify", receiver.url)
    with controller(origin, server, log, *args, port=port) as (url, _):
        wait_until(lambda: reconciled_at(url, sha, "applied"), "the first apply")
        MlflowClient(server, server).set_registered_model_alias(model, "champion", "3")
        wait_until(lambda: not status(url)["in_sync"], "the webhook to report the drift")
        metrics = get(f"{url}/metrics")[1].decode()
        reported = status(url)
        assert push_hook(url) == 202  # another look: the same drift is not announced again
        wait_until(lambda: "drift" in receiver.kinds(), "the drift notification")
    assert alias(server, model) == 3
    assert reported["aliases"] == [
        {
            "model": model,
            "alias": "champion",
            "declared": 2,
            "live": 3,
            "copied_from": None,
            "in_sync": False,
        }
    ]
    assert reported["drift_heals"] == 0
    line = (
        f'mlflow_gitops_alias_in_sync{{alias="champion",manifest="registry.yaml",model="{model}"}}'
    )
    assert f"{line} 0.0" in metrics
    assert receiver.kinds() == ["applied", "drift"], "notified once per commit and drift"
    assert receiver.received[1]["changes"][0]["to"] == 2


def test_an_invalid_manifest_leaves_the_registry_as_it_was_and_the_controller_running(
    server: str, tmp_path: Path
) -> None:
    model = new_model(server)
    origin = Origin(tmp_path)
    good = origin.push(manifest({model: {"champion": 1}}), "declare")
    log = tmp_path / "invalid.log"
    with controller(origin, server, log, "--interval", NO_POLL) as (url, process):
        wait_until(lambda: reconciled_at(url, good, "applied"), "the first apply")
        bad = origin.push(manifest({model: {"champion": 2}}) + "  oops: [\n", "broken")
        assert push_hook(url) == 202
        wait_until(lambda: reconciled_at(url, bad, "refused"), "the broken commit refused")
        broken = status(url)
        assert get(f"{url}/healthz")[0] == 200
        assert alias(server, model) == 1
        gated = origin.push(manifest({model: {"champion": 9}}), "no such version")
        assert push_hook(url) == 202
        wait_until(lambda: reconciled_at(url, gated, "refused"), "the plan with errors")
        assert alias(server, model) == 1
        fixed = origin.push(manifest({model: {"champion": 2}}), "fixed")
        assert push_hook(url) == 202
        wait_until(lambda: reconciled_at(url, fixed, "applied"), "the fixed commit applied")
        assert process.poll() is None
    assert broken["last_applied_commit"] == good
    assert broken["last_reconcile"]["errors"][0].startswith("registry.yaml:")
    assert alias(server, model) == 2


def test_a_rewound_branch_is_reported_not_applied_unless_allowed(
    server: str, tmp_path: Path
) -> None:
    model = new_model(server)
    origin = Origin(tmp_path)
    origin.push(manifest({model: {"champion": 1}}), "declare")
    base = origin.work.head.commit.hexsha
    ahead = origin.push(manifest({model: {"champion": 2}}), "promote")
    log = tmp_path / "rewind.log"
    with controller(origin, server, log, "--interval", NO_POLL) as (url, _):
        wait_until(lambda: reconciled_at(url, ahead, "applied"), "the first apply")
        origin.work.git.reset("--hard", base)
        rewound = origin.push(manifest({model: {"champion": 3}}), "elsewhere", force=True)
        assert push_hook(url) == 202
        wait_until(lambda: reconciled_at(url, rewound, "refused"), "the rewind to be reported")
        assert alias(server, model) == 2
    with controller(origin, server, log, "--interval", NO_POLL, "--allow-rewind") as (url, _):
        wait_until(lambda: reconciled_at(url, rewound, "applied"), "the allowed rewind")
    assert alias(server, model) == 3


def test_sigterm_mid_apply_finishes_the_write_records_it_and_exits_zero(
    server: str, tmp_path: Path
) -> None:
    models = [new_model(server) for _ in range(2)]
    origin = Origin(tmp_path)
    sha = origin.push(manifest({m: {"champion": 2} for m in models}), "declare")
    log = tmp_path / "sigterm.log"
    with fault_proxy(server) as proxy:
        # Every alias write takes a while: the signal lands while the first is in flight.
        slow = proxy.add(FORWARD, method="POST", path="registered-models/alias", delay=2.0)
        with controller(origin, proxy.url, log, "--interval", NO_POLL) as (_, process):
            wait_until(lambda: slow.matched >= 1, "an alias write in flight")
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=10)  # the bound: Kubernetes waits 30 s
    assert code == 0, log.read_text()
    landed = [m for m in models if alias(server, m) == 2]
    assert landed, "the write in flight finished"
    for model in landed:
        assert json.loads(tags(server, model)["mlflow-gitops.last-applied"])["commit"] == sha
    stopped = log_records(log)[-1]
    assert stopped["event"] == "controller stopped" and "SIGTERM" in stopped["reason"]


def test_two_controllers_on_one_manifest_converge_and_lose_no_record(
    server: str, tmp_path: Path
) -> None:
    models = [new_model(server) for _ in range(3)]
    origin = Origin(tmp_path)
    first = origin.push(manifest({m: {"champion": 1} for m in models}), "declare")
    with (
        controller(origin, server, tmp_path / "a.log", "--interval", "0.3") as (a, _),
        controller(origin, server, tmp_path / "b.log", "--interval", "0.3") as (b, _),
    ):
        second = origin.push(manifest({m: {"champion": 2, "challenger": 3} for m in models}))
        for url in (a, b):
            wait_until(partial(in_sync_at, url, second), "both in sync at the second commit")
    for model in models:
        assert (alias(server, model), alias(server, model, "challenger")) == (2, 3)
        record = json.loads(tags(server, model)["mlflow-gitops.last-applied"])
        assert (record["aliases"], record["commit"]) == ({"challenger": 3, "champion": 2}, second)
        for name, version in (("champion", 2), ("challenger", 3)):
            audit = json.loads(tags(server, model, version)[f"mlflow-gitops.alias.{name}"])
            assert audit["commit"] == second
    assert first != second


def test_a_cycle_with_nothing_to_do_makes_the_requests_apply_makes_and_no_write(
    mlflow_server: str, mlflow_server_root: Path, tmp_path: Path
) -> None:
    model = new_model(mlflow_server)
    origin = Origin(tmp_path)
    sha = origin.push(manifest({model: {"champion": 1}}), "declare")
    log = tmp_path / "steady.log"
    with controller(origin, mlflow_server, log, "--interval", NO_POLL) as (url, _):
        wait_until(lambda: reconciled_at(url, sha, "applied"), "the first apply")
        before = status(url)["last_reconcile"]["started_at"]
        with counted_requests(mlflow_server, server_log(mlflow_server_root)) as counted:
            assert push_hook(url) == 202
            wait_until(
                lambda: status(url)["last_reconcile"]["started_at"] > before, "another cycle"
            )
        assert status(url)["last_reconcile"]["result"] == "no_changes"
    # The same reads as `apply` with nothing to do, in a clone of the same repository; and
    # not a single write.
    clone = git.Repo.clone_from(origin.url, tmp_path / "clone")
    with counted_requests(mlflow_server, server_log(mlflow_server_root)) as by_cli:
        applied = run_cli(
            "apply", "--auto-approve", "--tracking-uri", mlflow_server, cwd=work_tree(clone)
        )
    assert applied.returncode == 0, applied.stderr
    assert "No changes" in applied.stdout
    assert counted.by_endpoint() == by_cli.by_endpoint()
    assert counted.writes == 0


def test_an_unreachable_registry_is_retried_with_backoff_and_the_commit_applied_after(
    server: str, tmp_path: Path
) -> None:
    model = new_model(server)
    origin = Origin(tmp_path)
    first = origin.push(manifest({model: {"champion": 1}}), "declare")
    log = tmp_path / "unreachable.log"
    with (
        fault_proxy(server) as proxy,
        controller(origin, proxy.url, log, "--interval", NO_POLL) as (url, process),
    ):
        wait_until(lambda: reconciled_at(url, first, "applied"), "the first apply")
        proxy.refuse()
        second = origin.push(manifest({model: {"champion": 2}}), "promote")
        assert push_hook(url) == 202
        # No poll for 300 s and no further hook: only the backoff explains the retries.
        wait_until(lambda: len(errors_at(log, second)) >= 2, "a retry after the error")
        failed = status(url)
        proxy.resume()
        wait_until(lambda: reconciled_at(url, second, "applied"), "the retry to apply")
        assert process.poll() is None
    assert failed["last_reconcile"]["result"] == "error"
    assert failed["last_reconcile"]["summary"].startswith("cannot reach the MLflow registry")
    assert failed["last_applied_commit"] == first
    assert alias(server, model) == 2


def errors_at(log: Path, commit: str) -> list[dict[str, Any]]:
    return [
        r for r in log_records(log)
        if r["event"] == "reconciled" and r["commit"] == commit and r["result"] == "error"
    ]  # fmt: skip


def test_register_webhook_creates_the_alias_webhook_once_and_a_restart_updates_it(
    server: str, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    model = new_model(server)
    origin = Origin(tmp_path)
    sha = origin.push(manifest({model: {"champion": 1}}), "declare")
    hook = f"http://127.0.0.1:{free_port()}/hooks/mlflow"
    args = ("--interval", NO_POLL, "--register-webhook", hook)
    for run in ("first", "again"):
        log = tmp_path / f"{run}.log"
        with controller(origin, server, log, *args) as (url, _):
            wait_until(lambda: status(url)["last_reconcile"] is not None, "a reconcile")
            assert reconciled_at(url, sha)
        registered = [r for r in log_records(log) if r["event"] == "webhook registered"]
        assert [r["result"] for r in registered] == ["created" if run == "first" else "updated"]
        assert WEBHOOK_SECRET not in log.read_text()
    ours = [w for w in MlflowClient(server, server).list_webhooks() if w.url == hook]
    assert [(w.name, sorted(str(e) for e in w.events)) for w in ours] == [
        (
            "mlflow-gitops-controller",
            ["model_version_alias.created", "model_version_alias.deleted"],
        )
    ]


def test_each_path_is_a_manifest_of_its_own_in_status_and_metrics(
    server: str, tmp_path: Path
) -> None:
    first, second = new_model(server), new_model(server)
    origin = Origin(tmp_path)
    commit_file(origin.work, "teams/a.yaml", manifest({first: {"champion": 1}}), "team a")
    sha = origin.push(manifest({second: {"champion": 2}}), "team b")
    log = tmp_path / "paths.log"
    paths = ("--path", "teams/a.yaml", "--path", "registry.yaml")
    with controller(origin, server, log, "--interval", NO_POLL, *paths) as (url, _):
        wait_until(
            lambda: all(
                (m["last_reconcile"] or {}).get("result") == "applied"
                for m in json.loads(get(f"{url}/api/status")[1])["manifests"]
            ),
            "both manifests applied",
        )
        manifests = json.loads(get(f"{url}/api/status")[1])["manifests"]
        metrics = get(f"{url}/metrics")[1].decode()
    assert [(m["path"], m["last_applied_commit"]) for m in manifests] == [
        ("teams/a.yaml", sha),
        ("registry.yaml", sha),
    ]
    assert (alias(server, first), alias(server, second)) == (1, 2)
    for path, model in (("teams/a.yaml", first), ("registry.yaml", second)):
        series = f'alias="champion",manifest="{path}",model="{model}"'
        assert f"mlflow_gitops_alias_in_sync{{{series}}} 1.0" in metrics

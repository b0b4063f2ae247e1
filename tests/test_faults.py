"""Faults between the tool and a real `mlflow server`, injected by the loopback fault proxy.

For each fault: the exit code, a report that matches the registry read afterwards, and
convergence on a re-run with nothing outside the manifest changed. The CLI runs as a user runs
it, in its own process, with MLflow's retry settings left at the CLI's defaults unless a test
says otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import git
import pytest

from controller.state import LastApplied, audit_tag_key
from testing.cli import HANG_GUARD_S, run_cli, start_cli
from testing.proxy import BLACKHOLE, FORWARD, REFUSE, RESET_AFTER, STATUS, FaultProxy, fault_proxy
from testing.repos import commit_file, make_repo
from testing.server import kill_server, running_server
from testing.waiting import wait_until

ALIAS_WRITE = "registered-models/alias"


@pytest.fixture
def proxy(mlflow_server: str) -> Iterator[FaultProxy]:
    with fault_proxy(mlflow_server) as running:
        yield running


def write_manifest(folder: Path, name: str, aliases: dict[str, int]) -> Path:
    """Commit the manifest: only a committed record can authorise a later deletion."""
    lines = "".join(f"      {alias}: {version}\n" for alias, version in aliases.items())
    repo = git.Repo(folder) if (folder / ".git").exists() else make_repo(folder)
    text = f"version: 1\nmodels:\n  {name}:\n    aliases:\n{lines}"
    commit_file(repo, "registry.yaml", text, f"declare {sorted(aliases)}")
    return folder / "registry.yaml"


def live_aliases(client, name: str) -> dict[str, int]:
    return {a: int(v) for a, v in client.get_registered_model(name).aliases.items()}


def statuses(report: dict) -> dict[str, str]:
    return {c["alias"]: c["status"] for c in report["changes"]}


def assert_report_matches_registry(report: dict, live: dict[str, int]) -> None:
    """`applied` means the registry holds the value; `failed` and `skipped` mean it does not."""
    for change in report["changes"]:
        holds = live.get(change["alias"]) == change["to"]
        if change["status"] == "applied":
            assert holds, change
        elif change["status"] in ("failed", "skipped"):
            assert not holds, change


def assert_converges(
    folder: Path,
    url: str,
    client,
    name: str,
    declared: dict[str, int],
) -> None:
    """A re-run without faults applies the rest, exits 0, and leaves exactly the manifest."""
    rerun = run_cli(
        "apply", "--auto-approve", "--tracking-uri", url, "--format", "json", cwd=folder
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert live_aliases(client, name) == declared
    record = LastApplied.from_tags(client.get_registered_model(name).tags)
    assert record is not None and record.aliases == declared
    again = run_cli("plan", "--tracking-uri", url, "--detailed-exitcode", cwd=folder)
    assert again.returncode == 0, again.stdout


def many(count: int, version: int = 1) -> dict[str, int]:
    return {f"a{i:02d}": version for i in range(count)}


@pytest.mark.server
def test_a_plan_survives_one_transient_error(tmp_path, proxy: FaultProxy, make_model) -> None:
    name = make_model(versions=1)
    write_manifest(tmp_path, name, {"champion": 1})
    proxy.add(STATUS, method="GET", nth=1, status=503, retry_after="1")

    result = run_cli("plan", "--tracking-uri", proxy.url, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert f"+ {name}@champion: 1 (assign)" in result.stdout
    assert proxy.rules[0].fired == 1
    assert proxy.count("GET") >= 2  # the failed search, then its retry


@pytest.mark.server
def test_a_registry_asking_to_retry_in_an_hour_is_retried_within_the_cap(
    tmp_path, proxy: FaultProxy, make_model
) -> None:
    """urllib3 would sleep out a Retry-After of up to 6 hours: the CLI caps it at 5 s."""
    name = make_model(versions=1)
    write_manifest(tmp_path, name, {"champion": 1})
    proxy.add(STATUS, method="GET", nth=1, status=429, retry_after="3600")

    result = run_cli("plan", "--tracking-uri", proxy.url, cwd=tmp_path)  # else the hang guard fires

    assert result.returncode == 0, result.stderr
    assert f"+ {name}@champion: 1 (assign)" in result.stdout
    assert proxy.rules[0].fired == 1


def test_the_cli_caps_retry_after_in_the_retry_mlflow_builds(tmp_path: Path) -> None:
    """Retry-After stays honoured (issue 10), with a cap, in the session MLflow requests use."""
    probe = (
        "from controller.registry import Registry, configure_process\n"
        "from controller.target import RegistryTarget\n"
        "configure_process()\n"
        "Registry(RegistryTarget('http://127.0.0.1:9', 'http://127.0.0.1:9')).client\n"
        "from mlflow.utils.request_utils import _get_request_session\n"
        "session = _get_request_session(2, 1, 0.5, (429, 503), True, True)\n"
        "retry = session.adapters['http://'].max_retries\n"
        "print(retry.respect_retry_after_header, retry.retry_after_max, "
        "retry.new().retry_after_max)\n"
    )
    result = run_cli(cwd=tmp_path, entry=("-c", probe))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "5", "5"]


@pytest.mark.server
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_a_write_failing_with_a_transient_status_fails_only_its_own_change(
    tmp_path, proxy: FaultProxy, make_model, server_client, status: int
) -> None:
    name = make_model(versions=1)
    declared = many(8)
    write_manifest(tmp_path, name, declared)
    rule = proxy.add(STATUS, method="POST", path=ALIAS_WRITE, body='"a03"', status=status)

    result = run_cli(
        "apply", "--auto-approve", "--tracking-uri", proxy.url, "--format", "json", cwd=tmp_path
    )

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert statuses(report) == {**{a: "applied" for a in declared}, "a03": "failed"}
    (failed,) = [c for c in report["changes"] if c["status"] == "failed"]
    assert f"set alias {name}@a03 -> 1: HTTP {status}" in failed["error"]
    assert rule.fired == 3  # the first try and MLflow's two retries
    live = live_aliases(server_client, name)
    assert_report_matches_registry(report, live)
    record = LastApplied.from_tags(server_client.get_registered_model(name).tags)
    assert record is not None and record.aliases == {a: 1 for a in declared if a != "a03"}
    proxy.clear()
    assert_converges(tmp_path, proxy.url, server_client, name, declared)


@pytest.mark.server
@pytest.mark.parametrize(
    ("fault", "options"),
    [(RESET_AFTER, {}), (STATUS, {"status": 500, "forward": True})],
    ids=["reset-after-forwarding", "500-after-forwarding"],
)
def test_a_write_that_landed_but_lost_its_reply_is_applied_and_audited(
    tmp_path, proxy: FaultProxy, make_model, server_client, fault: str, options: dict
) -> None:
    name = make_model(versions=2)
    server_client.set_registered_model_alias(name, "old", "1")
    write_manifest(tmp_path, name, {"old": 1, "champion": 2})
    apply = run_cli(
        "apply", "--auto-approve", "--tracking-uri", proxy.url, cwd=tmp_path
    )  # record "old" as ours
    assert apply.returncode == 0, apply.stdout + apply.stderr
    declared = {"champion": 2}
    write_manifest(tmp_path, name, declared)  # now delete "old" and keep champion
    server_client.set_registered_model_alias(name, "champion", "1")  # drift to repair
    proxy.add(fault, method="POST", path=ALIAS_WRITE, **options)
    proxy.add(fault, method="DELETE", path=ALIAS_WRITE, **options)

    result = run_cli(
        "apply", "--auto-approve", "--tracking-uri", proxy.url, "--format", "json", cwd=tmp_path
    )

    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert statuses(report) == {"champion": "applied", "old": "applied"}
    for change in report["changes"]:
        assert change["error"] is None
        assert "the registry shows it although the write reported" in change["note"]
    assert live_aliases(server_client, name) == declared
    audit = server_client.get_model_version(name, "2").tags[audit_tag_key("champion")]
    assert json.loads(audit)["from"] == 1
    proxy.clear()
    assert_converges(tmp_path, proxy.url, server_client, name, declared)


@pytest.mark.server
def test_a_registry_that_refuses_mid_apply_leaves_every_attempted_write_unknown(
    tmp_path, proxy: FaultProxy, make_model, server_client
) -> None:
    name = make_model(versions=1)
    declared = many(12)
    write_manifest(tmp_path, name, declared)
    proxy.add(REFUSE, method="POST", path=ALIAS_WRITE, nth=5)

    result = run_cli(
        "apply", "--auto-approve", "--tracking-uri", proxy.url, "--format", "json", cwd=tmp_path
    )

    assert result.returncode == 1
    report = json.loads(result.stdout)
    # Four writers run at once, so how many writes start before one sees the refusal varies;
    # that no write starts after it is proven in test_apply.py.
    assert list(statuses(report).values()).count("unknown") >= 5, report
    assert set(statuses(report).values()) <= {"unknown", "skipped"}
    assert any(e.startswith("could not read back the registry") for e in report["errors"])
    live = live_aliases(server_client, name)
    assert_report_matches_registry(report, live)  # skipped ones never landed
    assert 4 <= len(live) < len(declared)
    assert LastApplied.from_tags(server_client.get_registered_model(name).tags) is None
    proxy.clear()
    proxy.resume()
    assert_converges(tmp_path, proxy.url, server_client, name, declared)


@pytest.mark.server
def test_a_blackholed_server_fails_a_plan_after_a_bounded_number_of_attempts(
    tmp_path, proxy: FaultProxy
) -> None:
    write_manifest(tmp_path, "bikes", {"champion": 1})
    proxy.add(BLACKHOLE)

    # A short per-request timeout keeps the test quick; the attempt count is the CLI's own.
    result = run_cli(
        "plan", "--tracking-uri", proxy.url, cwd=tmp_path, env={"MLFLOW_HTTP_REQUEST_TIMEOUT": "1"}
    )

    assert result.returncode == 1
    assert result.stderr.strip() == f"error: cannot reach the MLflow registry at {proxy.url}"
    assert proxy.count() == 3  # one try and two retries, each cut off by the timeout


def taken(pid: int, signum: signal.Signals) -> bool:
    """Whether the process has taken the signal (it is no longer pending). The kernel hands a
    process's signal to its main thread first, where Python runs the handler straight away; the
    held writes are released after this, so the handler runs before any of them returns."""
    pending = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("SigPnd:", "ShdPnd:")):
            pending |= int(line.split()[1], 16)
    return not pending & (1 << (signum - 1))


def apply_while_writes_are_held(
    proxy: FaultProxy, folder: Path, meanwhile: Callable[[subprocess.Popen[str]], None]
) -> tuple[subprocess.Popen[str], str, str]:
    """Start `apply --format json`, hold its alias writes at the proxy, run `meanwhile` once the
    first one is held, then let them through; return the process and its output."""
    gate = threading.Event()
    proxy.add(FORWARD, method="POST", path=ALIAS_WRITE, hold=gate)
    process = start_cli(
        "apply", "--auto-approve", "--tracking-uri", proxy.url, "--format", "json",
        cwd=folder,
        env={"MLFLOW_HTTP_REQUEST_TIMEOUT": "60"},  # held writes must not time out
    )  # fmt: skip
    try:
        wait_until(lambda: proxy.count("POST", ALIAS_WRITE) >= 1, "the first alias write")
        meanwhile(process)
        gate.set()
        stdout, stderr = process.communicate(timeout=HANG_GUARD_S)
    finally:
        process.kill()
    return process, stdout, stderr


@pytest.mark.server
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_apply_finishes_in_flight_writes_reports_and_records_what_landed(
    tmp_path, proxy: FaultProxy, make_model, server_client, signum: signal.Signals
) -> None:
    name = make_model(versions=1)
    declared = many(12)
    write_manifest(tmp_path, name, declared)

    def interrupt(process: subprocess.Popen[str]) -> None:
        process.send_signal(signum)
        wait_until(lambda: taken(process.pid, signum), f"the CLI to take {signum.name}")

    process, stdout, stderr = apply_while_writes_are_held(proxy, tmp_path, interrupt)

    assert process.returncode == 1, stderr
    report = json.loads(stdout)
    found = statuses(report)
    assert "applied" in found.values() and "skipped" in found.values(), found
    assert set(found.values()) == {"applied", "skipped"}
    assert f"interrupted by {signum.name}: no new writes were started" in report["errors"]
    live = live_aliases(server_client, name)
    assert_report_matches_registry(report, live)
    applied = {a for a, s in found.items() if s == "applied"}
    assert set(live) == applied
    record = LastApplied.from_tags(server_client.get_registered_model(name).tags)
    assert record is not None and set(record.aliases) == applied
    proxy.clear()
    assert_converges(tmp_path, proxy.url, server_client, name, declared)


@pytest.mark.server
def test_a_concurrent_apply_that_recorded_first_is_a_conflict_and_keeps_its_record(
    tmp_path, proxy: FaultProxy, mlflow_server: str, make_model, server_client
) -> None:
    name = make_model(versions=2)
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    write_manifest(ours, name, {"champion": 1})
    write_manifest(theirs, name, {"champion": 2, "challenger": 2})
    others: list[subprocess.CompletedProcess[str]] = []

    def apply_theirs_straight_in(_: subprocess.Popen[str]) -> None:
        others.append(
            run_cli("apply", "--auto-approve", "--tracking-uri", mlflow_server, cwd=theirs)
        )

    process, stdout, stderr = apply_while_writes_are_held(proxy, ours, apply_theirs_straight_in)
    (other,) = others

    assert other.returncode == 0, other.stdout + other.stderr
    assert process.returncode == 1, stderr
    report = json.loads(stdout)
    assert any(e.startswith(f"conflict on '{name}'") for e in report["errors"]), report
    record = LastApplied.from_tags(server_client.get_registered_model(name).tags)
    assert record is not None and record.aliases == {"champion": 2, "challenger": 2}
    assert_report_matches_registry(report, live_aliases(server_client, name))


@pytest.mark.server
def test_an_unwritable_job_summary_is_a_warning_not_a_failed_apply(
    tmp_path, make_model, mlflow_server: str, server_client
) -> None:
    name = make_model(versions=1)
    write_manifest(tmp_path, name, {"champion": 1})
    unwritable = tmp_path / "summary-is-a-folder"
    unwritable.mkdir()

    result = run_cli(
        "apply",
        "--auto-approve",
        "--tracking-uri",
        mlflow_server,
        cwd=tmp_path,
        env={"GITHUB_STEP_SUMMARY": str(unwritable), "GITHUB_OUTPUT": str(unwritable)},
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: could not write the job summary" in result.stderr
    assert "warning: could not write the step outputs" in result.stderr
    assert "Traceback" not in result.stderr
    assert live_aliases(server_client, name) == {"champion": 1}


@pytest.mark.server
def test_no_secret_reaches_any_channel_even_when_the_server_echoes_credentials(
    tmp_path, proxy: FaultProxy, make_model, server_client
) -> None:
    """stdout, stderr, JSON, Markdown, annotations, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, the
    saved plan and the registry's tags; with a 3-character password and a raw `@` in the URI."""
    name = make_model(versions=2)
    write_manifest(tmp_path, name, {"champion": 1, "challenger": 2})
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    env = {
        "MLFLOW_TRACKING_USERNAME": "ann",
        "MLFLOW_TRACKING_PASSWORD": "Qz7",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    uri = f"http://svc:Pa@ss-w0rd@127.0.0.1:{proxy.port}"
    proxy.add(STATUS, method="POST", path=ALIAS_WRITE, body='"challenger"', status=400, echo=True)

    runs = [
        run_cli("plan", "--tracking-uri", uri, "--out", "plan.json", cwd=tmp_path, env=env),
        *(
            run_cli("plan", "--tracking-uri", uri, "--format", fmt, cwd=tmp_path, env=env)
            for fmt in ("json", "markdown", "github")
        ),
        *(
            run_cli(
                "apply",
                "--auto-approve",
                "--tracking-uri",
                uri,
                "--format",
                fmt,
                cwd=tmp_path,
                env=env,
            )
            for fmt in ("text", "json", "markdown")
        ),
    ]
    registered = server_client.get_registered_model(name)
    tags = [*registered.tags.values()]
    for version in ("1", "2"):
        tags += server_client.get_model_version(name, version).tags.values()
    channels = {
        "stdout": "".join(r.stdout for r in runs),
        "stderr": "".join(r.stderr for r in runs),
        "saved plan": (tmp_path / "plan.json").read_text(),
        "GITHUB_OUTPUT": outputs.read_text(),
        "GITHUB_STEP_SUMMARY": summary.read_text(),
        "registry tags": "\n".join(tags),
    }

    secrets = ["Qz7", "Pa@ss-w0rd", "ss-w0rd", "svc:Pa", base64.b64encode(b"ann:Qz7").decode()]
    for channel, text in channels.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} leaked on {channel}"
    everything = "".join(channels.values())
    assert "Basic ***" in everything  # the server did echo them: the scan is not vacuous
    assert "http://***@127.0.0.1" in everything
    assert runs[-1].returncode == 1  # challenger's write was refused with a 400
    assert "HTTP 400" in channels["stdout"]


@pytest.mark.server  # starts its own servers, so no shared fixture marks it
def test_a_server_killed_mid_apply_leaves_attempted_writes_unknown_and_a_restart_converges(
    tmp_path, tmp_path_factory
) -> None:
    """SIGKILL of the server's process group after some writes; its store survives, as a
    crashed server's database does. Behind the proxy (a load balancer) the loss shows as 502s."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("killed_server")
    name = f"killed{os.getpid()}"
    declared = many(12)
    write_manifest(tmp_path, name, declared)
    with running_server(root) as first, fault_proxy(first) as proxied:
        client = MlflowClient(first, first)
        client.create_registered_model(name)
        client.create_model_version(name, source=f"s3://fixtures/{name}/1", await_creation_for=0)
        gate = threading.Event()
        proxied.add(FORWARD, method="POST", path=ALIAS_WRITE, nth=5, hold=gate)
        process = start_cli(
            "apply",
            "--auto-approve",
            "--tracking-uri",
            proxied.url,
            "--format",
            "json",
            cwd=tmp_path,
        )
        try:
            wait_until(lambda: proxied.rules[0].matched >= 5, "the fifth alias write")
            # Seen by the proxy is not yet landed: under load the first four may still be in
            # flight, and the registry must hold them before the kill for the checks below.
            wait_until(lambda: len(live_aliases(client, name)) >= 4, "the first four writes")
            kill_server(first)
            gate.set()
            stdout, stderr = process.communicate(timeout=HANG_GUARD_S)
        finally:
            process.kill()

        assert process.returncode == 1, stderr
        report = json.loads(stdout)
        assert "Traceback" not in stderr and "IncompleteRead" not in stdout
        assert set(statuses(report).values()) <= {"unknown", "skipped", "failed"}, report
        assert "unknown" in statuses(report).values()
        assert any(e.startswith("could not read back the registry") for e in report["errors"])

        with running_server(root) as second:
            proxied.upstream = second
            client = MlflowClient(second, second)
            live = live_aliases(client, name)
            assert_report_matches_registry(report, live)
            assert 4 <= len(live) < len(declared)
            assert LastApplied.from_tags(client.get_registered_model(name).tags) is None
            proxied.clear()
            assert_converges(tmp_path, proxied.url, client, name, declared)

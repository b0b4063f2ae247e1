"""The controller's pure parts: heals and their budget, backoff, statuses, results, log lines,
the metric series, the push-hook signature and the endpoints' answers. The loop itself runs as
a process against a real server in test_controller.py."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
from pathlib import Path

import pytest

from controller.apply import apply_plan
from controller.daemon.heals import (
    HOUR_S,
    HealBudget,
    conflicted,
    drift_key,
    heals,
    stale_records,
    without_heals,
)
from controller.daemon.http import Endpoints, serve_endpoints
from controller.daemon.logs import log_line
from controller.daemon.loop import Controller, Settings, alias_statuses, backoff, result_of
from controller.daemon.metrics import ControllerMetrics
from controller.daemon.service import lock_state_dir, parse_listen
from controller.daemon.status import ManifestStatus, Reconcile
from controller.errors import UsageError
from controller.manifest import parse_manifest
from controller.plan import make_plan
from controller.state import LastApplied
from controller.values import ApplyReport, ChangeResult, Event, Plan, Provenance
from controller.webhooks import alias_event, github_signature_is_valid
from testing.memory_registry import MemoryRegistry

PROVENANCE = Provenance(commit="c0ffee", actor="ann", applied_at="2026-11-29T00:00:00Z")


def plan_for(registry: MemoryRegistry, aliases: str) -> Plan:
    loaded = parse_manifest(f"version: 1\nmodels:\n  bikes:\n    aliases: {aliases}\n", "r.yaml")
    return make_plan(loaded, registry.read_state(loaded.manifest.models))


def drifted_registry() -> MemoryRegistry:
    """bikes@champion was applied as 2 and moved to 1 by hand; challenger is in sync."""
    registry = MemoryRegistry({"bikes": {"champion": 1, "challenger": 3}})
    registry.last_applied["bikes"] = LastApplied(aliases={"champion": 2, "challenger": 3})
    return registry


def test_a_change_back_to_what_was_last_applied_is_a_heal() -> None:
    plan = plan_for(drifted_registry(), "{champion: 2, challenger: 3}")
    assert [(c.address, c.reason) for c in heals(plan)] == [("bikes@champion", "drift")]
    assert drift_key(heals(plan)[0]) == ("bikes", "champion", 1, 2)


def test_a_commit_that_moves_a_drifted_alias_elsewhere_is_the_commit_s_change() -> None:
    plan = plan_for(drifted_registry(), "{champion: 4, challenger: 3}")
    assert heals(plan) == []
    assert [c.to_version for c in without_heals(plan).changes] == [4]


def test_leaving_a_heal_out_keeps_its_record_while_the_commit_s_change_is_applied() -> None:
    registry = drifted_registry()
    plan = plan_for(registry, "{champion: 2, challenger: 4}")
    report = apply_plan(without_heals(plan), registry, PROVENANCE)
    assert [(c.alias, c.status) for c in report.changes] == [("challenger", "applied")]
    assert registry.aliases["bikes"] == {"champion": 1, "challenger": 4}
    # The drifted alias keeps its record: the next check still sees drift, not an unknown alias.
    assert registry.last_applied["bikes"].aliases == {"champion": 2, "challenger": 4}


def test_a_record_another_writer_won_is_stale_when_live_matches_the_manifest() -> None:
    registry = MemoryRegistry({"bikes": {"champion": 2}})
    registry.last_applied["bikes"] = LastApplied(aliases={"champion": 1})  # the older commit's
    plan = plan_for(registry, "{champion: 2}")
    assert plan.changes == [] and stale_records(plan) == ["bikes"]
    apply_plan(plan, registry, PROVENANCE)
    assert registry.last_applied["bikes"].aliases == {"champion": 2}
    assert stale_records(plan_for(registry, "{champion: 2}")) == []


def test_drift_is_not_a_stale_record() -> None:
    assert stale_records(plan_for(drifted_registry(), "{champion: 2, challenger: 3}")) == []


def test_a_conflict_names_the_models_whose_record_apply_left_to_another_writer() -> None:
    plan = plan_for(drifted_registry(), "{champion: 2}")
    errors = ["conflict on 'bikes': another apply recorded last-applied since this plan read it"]
    assert conflicted(plan, errors) == {"bikes"}
    assert conflicted(plan, ["conflict on 'bikes2': ..."]) == set()


def test_heals_are_capped_per_hour_and_each_drift_is_healed_once() -> None:
    budget = HealBudget(per_hour=2)
    first, second, third = ("m", "a", 1, 2), ("m", "a", 3, 2), ("m", "b", 1, 2)
    assert budget.allows([first], 0.0)
    budget.spend([first], 0.0)
    assert not budget.allows([first], 1.0), "the same drift came back: not healed twice"
    budget.forget_all_but([])  # seen in sync again
    assert budget.allows([first], 1.0)
    budget.spend([second], 2.0)
    assert budget.left(3.0) == 0
    assert not budget.allows([third], 3.0)
    assert budget.allows([third], HOUR_S + 0.5), "the first heal left the window"


def test_backoff_doubles_from_one_second_up_to_the_interval() -> None:
    assert [backoff(n, 10.0) for n in range(6)] == [10.0, 1.0, 2.0, 4.0, 8.0, 10.0]


def test_alias_statuses_show_live_as_the_apply_left_it() -> None:
    plan = plan_for(drifted_registry(), "{champion: 2, challenger: 3}")
    before = alias_statuses(plan)
    assert [(a.alias, a.declared, a.live, a.in_sync) for a in before] == [
        ("challenger", 3, 3, True),
        ("champion", 2, 1, False),
    ]
    applied = ChangeResult.of(plan.changes[0], "applied")
    after = alias_statuses(plan, ApplyReport(changes=[applied]))
    assert all(a.in_sync for a in after)


def test_results_of_an_apply() -> None:
    plan = plan_for(MemoryRegistry({"bikes": {}}), "{champion: 2}")
    change = plan.changes[0]
    assert result_of(ApplyReport(changes=[ChangeResult.of(change, "applied")])) == "applied"
    refused = ApplyReport(changes=[ChangeResult.of(change, "skipped")], errors=["frozen"])
    assert result_of(refused) == "refused"
    assert result_of(ApplyReport(changes=[ChangeResult.of(change, "failed")])) == "error"


def test_log_lines_are_one_json_object_or_one_text_line() -> None:
    fields = {"commit": "abc", "changes": [{"address": "bikes@champion"}], "errors": []}
    record = json.loads(log_line("json", 0.25, "info", "reconciled", fields))
    assert record == {
        "time": "1970-01-01T00:00:00.250Z", "level": "info", "event": "reconciled", **fields,
    }  # fmt: skip
    text = log_line("text", 0.25, "info", "reconciled", fields)
    changes = 'changes=[{"address": "bikes@champion"}]'
    assert text == f"1970-01-01T00:00:00.250Z INFO reconciled commit=abc {changes}"
    assert "\n" not in log_line("json", 0, "error", "x", {"error": "line\nbreak"})


def test_metrics_carry_exactly_the_issue_s_series() -> None:
    metrics = ControllerMetrics()
    metrics.declare("registry.yaml")
    plan = plan_for(drifted_registry(), "{champion: 2, challenger: 3}")
    reconcile = Reconcile(
        commit="abc", result="applied", started_at=10.0, duration_seconds=0.5, summary="ok"
    )
    status = ManifestStatus(
        path="registry.yaml", registry="http://r", aliases=alias_statuses(plan),
        last_applied_commit="abc", last_success_at=10.5,
    )  # fmt: skip
    metrics.reconciled("registry.yaml", reconcile, heals=1)
    metrics.show(status)
    metrics.show(status.model_copy(update={"last_applied_commit": "def"}))
    text = metrics.text().decode()
    samples = {line.split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    m = 'manifest="registry.yaml"'
    assert {
        f'mlflow_gitops_alias_in_sync{{alias="champion",{m},model="bikes"}}',
        f'mlflow_gitops_alias_in_sync{{alias="challenger",{m},model="bikes"}}',
        *(f'mlflow_gitops_reconcile_total{{{m},result="{r}"}}'
          for r in ("applied", "no_changes", "error", "refused")),
        f'mlflow_gitops_reconcile_duration_seconds_count{{{m}}}',
        f'mlflow_gitops_last_applied_commit_info{{commit="def",{m}}}',
        f"mlflow_gitops_last_success_timestamp_seconds{{{m}}}",
        f"mlflow_gitops_drift_heals_total{{{m}}}",
    } <= samples  # fmt: skip
    assert f'mlflow_gitops_last_applied_commit_info{{commit="abc",{m}}}' not in samples
    assert f'mlflow_gitops_alias_in_sync{{alias="champion",{m},model="bikes"}} 0.0' in text
    assert f'mlflow_gitops_reconcile_total{{{m},result="applied"}} 1.0' in text
    names = {s.split("{")[0] for s in samples}
    assert {n for n in names if not n.startswith("mlflow_gitops_reconcile_duration")} == {
        "mlflow_gitops_alias_in_sync", "mlflow_gitops_reconcile_total",
        "mlflow_gitops_last_applied_commit_info", "mlflow_gitops_last_success_timestamp_seconds",
        "mlflow_gitops_drift_heals_total",
    }  # fmt: skip


def test_a_push_hook_is_believed_only_with_github_s_signature_of_the_body() -> None:
    body = b'{"ref": "refs/heads/main"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert github_signature_is_valid("s3cret", {"x-hub-signature-256": good}, body)
    assert not github_signature_is_valid("s3cret", {"X-Hub-Signature-256": good}, body + b" ")
    assert not github_signature_is_valid("other", {"X-Hub-Signature-256": good}, body)
    assert not github_signature_is_valid("s3cret", {"X-Hub-Signature-256": good[7:]}, body)
    assert not github_signature_is_valid("s3cret", {}, body)


def test_alias_events_name_the_model_and_alias() -> None:
    data = {"name": "bikes", "alias": "champion"}
    assert alias_event({"entity": "model_version_alias", "action": "deleted", "data": data}) == (
        "bikes",
        "champion",
    )
    assert alias_event({"entity": "model_version", "action": "created", "data": data}) is None
    assert alias_event({"entity": "model_version_alias", "action": "created", "data": 1}) is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:9", ("::1", 9)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
    ],
)
def test_listen_addresses(given: str, expected: tuple[str, int]) -> None:
    assert parse_listen(given) == expected


@pytest.mark.parametrize("given", ["8080", "host:", ":80", "host:99999", "host:http"])
def test_a_bad_listen_address_is_one_line(given: str) -> None:
    with pytest.raises(UsageError, match="is not HOST:PORT"):
        parse_listen(given)


class Recorded:
    def __call__(self, event: str, level: str = "info", **fields: object) -> None:
        self.last = (event, fields)


def controller(tmp_path: Path) -> Controller:
    settings = Settings(repo="https://user:tok@example.com/r.git", state_dir=tmp_path)
    return Controller(settings, log=Recorded())  # type: ignore[arg-type]


def test_endpoints_answer_from_the_status_and_never_show_credentials(tmp_path: Path) -> None:
    endpoints = Endpoints(controller(tmp_path))
    assert endpoints.get("/healthz")[0] == 200
    assert endpoints.get("/readyz")[0] == 503, "not ready before a reconcile succeeded"
    code, kind, body = endpoints.get("/api/status")
    assert (code, kind) == (200, "application/json")
    assert json.loads(body)["repo"] == "https://example.com/r.git"
    code, kind, page = endpoints.get("/")
    assert (code, kind) == (200, "text/html; charset=utf-8")
    assert b"mlflow-gitops controller" in page and b"tok" not in page
    assert endpoints.get("/nope")[0] == 404


def test_readiness_needs_a_success_within_three_intervals(tmp_path: Path) -> None:
    loop = controller(tmp_path)
    done = loop.status.manifests[0].model_copy(update={"last_success_at": 1000.0})
    loop.status = loop.status.model_copy(update={"manifests": [done]})
    assert loop.ready(now=1000.0 + 3 * 60)
    assert not loop.ready(now=1000.0 + 3 * 60 + 1)


def test_unsigned_hooks_are_refused_and_push_hooks_are_off_without_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_GITOPS_GIT_HOOK_SECRET", raising=False)
    monkeypatch.setenv("MLFLOW_GITOPS_WEBHOOK_SECRET", "s3cret")
    endpoints = Endpoints(controller(tmp_path))
    assert endpoints.git_hook({}, lambda limit: b"{}")[0] == 404
    assert endpoints.mlflow_hook({}, lambda limit: b"{}")[0] == 401


def test_a_second_controller_on_the_same_state_dir_is_refused(tmp_path: Path) -> None:
    first = lock_state_dir(tmp_path)
    with pytest.raises(UsageError, match="another controller is using --state-dir"):
        lock_state_dir(tmp_path)
    first.close()
    lock_state_dir(tmp_path).close()


def test_an_event_is_sent_once_and_the_memory_of_sent_events_stays_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[Event] = []
    settings = Settings(repo="file:///r.git", state_dir=tmp_path)
    loop = Controller(settings, log=Recorded(), notify=sent.append)  # type: ignore[arg-type]
    monkeypatch.setattr("controller.daemon.loop.MAX_REMEMBERED_EVENTS", 2)
    event = Event(kind="applied", manifest="registry.yaml", summary="1 applied")
    for key in [("a",), ("a",), ("b",), ("c",), ("a",)]:
        loop._once(key, event)
    assert len(sent) == 4, "a, b, c, then a again once it was forgotten"
    assert list(loop._notified) == [("c",), ("a",)]


def test_the_endpoints_over_http_check_hook_bodies_by_their_declared_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_GITOPS_GIT_HOOK_SECRET", "s3cret")
    loop = controller(tmp_path)
    loop._fetch_wanted = False
    server = serve_endpoints(Endpoints(loop), "127.0.0.1", 0)
    body = b'{"ref": "refs/heads/main"}'
    signed = {"X-Hub-Signature-256": "sha256=" + hmac.new(b"s3cret", body, "sha256").hexdigest()}

    def post(headers: dict[str, str]) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        connection.request("POST", "/hooks/git", body=body, headers=headers)
        status = connection.getresponse().status
        connection.close()
        return status

    try:
        assert post({"X-Hub-Signature-256": "sha256=00"}) == 401
        assert not loop._fetch_wanted
        # Only the headers are sent: the answer comes before a byte of the body is read.
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as raw:
            raw.sendall(b"POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 52428800\r\n\r\n")
            assert raw.recv(64).startswith(b"HTTP/1.1 413")
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        signature = signed["X-Hub-Signature-256"]
        head = f"POST /hooks/git HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: {signature}"
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as raw:
            raw.sendall(head.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
            assert raw.recv(64).startswith(b"HTTP/1.1 401"), "a body of undeclared length is empty"
        assert post(signed) == 202
        assert loop._fetch_wanted, "a signed push hook asks the loop to fetch"
    finally:
        server.shutdown()
        server.server_close()


def test_an_unreachable_registry_halts_one_apply_and_stop_halts_every_later_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry gone mid-apply stops that apply's new writes only: the next reconcile
    writes again. A stop halts the apply in flight and every later one."""
    from controller import api
    from controller.apply import UNREACHABLE, Halt

    halts: list[Halt] = []

    def apply(plan: Plan, registry: object, *, halt: Halt, **_: object) -> ApplyReport:
        halts.append(halt)
        if len(halts) == 1:
            halt.set(UNREACHABLE)  # as apply_plan does when a write cannot reach the registry
        return ApplyReport(registry=plan.registry, changes=[], errors=[UNREACHABLE])

    monkeypatch.setattr(api, "apply", apply)
    loop = controller(tmp_path)
    plan = plan_for(MemoryRegistry({"bikes": {"champion": 1}}), "{champion: 2}")
    act = lambda: loop._act(plan, None, "r.yaml", None)  # type: ignore[arg-type]  # noqa: E731

    assert act() is not None and act() is not None
    assert len(halts) == 2 and not halts[1].is_set()
    loop.stop("SIGTERM")
    assert halts[1].is_set() and halts[1].reason == "SIGTERM"  # the apply in flight
    assert act() is None and len(halts) == 2  # no apply once stopping

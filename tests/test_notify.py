"""Notifications without a registry: delivery to a real loopback receiver, retries, secrets,
the event each apply outcome makes, and the text a chat channel shows."""

from __future__ import annotations

import base64
import socket

import pytest

from controller import notify
from controller.notify import apply_event, apply_kind, plan_event, receivers
from controller.output import redact
from controller.render.notification import text
from controller.values import (
    ApplyReport,
    Change,
    ChangeResult,
    Event,
    EventChange,
    OwnershipChange,
    Plan,
    PlanProblem,
    PlanSource,
    RegistryRef,
)
from testing.receiver import receiver


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backoff's shape, not its length, is what these tests prove."""
    monkeypatch.setattr(notify, "BACKOFF_SECONDS", 0.01)


CHANGE = Change(
    model="bikes", alias="champion", action="update", reason="promote", **{"from": 2, "to": 3}
)
EVENT = Event(
    kind="applied",
    manifest="registry.yaml",
    registry="http://mlflow.internal:5000",
    commit="0123456789abcdef0123456789abcdef01234567",
    summary="Apply: 1 applied, 0 failed, 0 skipped.",
    changes=[EventChange(**CHANGE.model_dump(by_alias=True), status="applied")],
)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_each_receiver_gets_one_json_post_with_slack_text_and_the_event_fields() -> None:
    with receiver() as first, receiver() as second:
        warnings = notify.notify([first.url, second.url], EVENT)
    assert warnings == []
    for got in (first, second):
        assert len(got.posts) == 1
        post = got.posts[0]
        assert post.headers["Content-Type"] == "application/json"
        assert post.body["kind"] == "applied"
        assert post.body["changes"][0] == {
            "model": "bikes", "alias": "champion", "action": "update", "from": 2, "to": 3,
            "reason": "promote", "status": "applied", "error": None,
        }  # fmt: skip
        assert post.body["text"].startswith("✅ mlflow-gitops applied: registry.yaml at 0123456")
        assert "• ~ bikes@champion: 2 → 3 (promote): applied" in post.body["text"]


def test_a_receiver_answering_500_twice_then_200_gets_the_event_on_the_third_attempt() -> None:
    with receiver(500, 500) as flaky:
        warnings = notify.notify([flaky.url], EVENT)
    assert warnings == []
    assert len(flaky.posts) == 3
    assert [event["kind"] for event in flaky.events()] == ["applied"]


def test_a_receiver_failing_every_attempt_is_a_warning_naming_it_by_position_only() -> None:
    with receiver() as fine, receiver(500, 502, 503) as broken:
        warnings = notify.notify([fine.url, broken.url], EVENT)
    assert warnings == ["warning: notification receiver 2 of 2 failed: HTTP 503 (after 3 attempts)"]
    assert len(broken.posts) == 3
    assert len(fine.posts) == 1


def test_a_receiver_refusing_with_4xx_is_asked_once() -> None:
    with receiver(404) as gone:
        warnings = notify.notify([gone.url], EVENT)
    assert warnings == ["warning: notification receiver 1 of 1 failed: HTTP 404"]
    assert len(gone.posts) == 1


def test_a_dead_receiver_is_a_warning_without_its_url_and_the_others_still_hear() -> None:
    dead = f"http://hook:s3cret-pass@127.0.0.1:{closed_port()}/services/T0/B0/tok3n-in-path"
    with receiver() as alive:
        warnings = notify.notify([dead, alive.url], EVENT)
    assert warnings == [
        "warning: notification receiver 1 of 2 failed: connection refused (after 3 attempts)"
    ]
    assert len(alive.posts) == 1


def test_user_and_password_in_the_url_go_as_basic_auth_and_are_secrets_from_then_on() -> None:
    with receiver(path="/services/T0/B0/tok3n-in-path") as got:
        url = got.url.replace("http://", "http://hook:pa%40ss-word-9@")
        assert notify.notify([url], EVENT) == []
    assert (
        got.posts[0].headers["Authorization"]
        == "Basic " + base64.b64encode(b"hook:pa@ss-word-9").decode()
    )
    assert got.posts[0].path == "/services/T0/B0/tok3n-in-path"
    said = redact(
        f"to {url}, {got.url}, /services/T0/B0/tok3n-in-path, pa%40ss-word-9 pa@ss-word-9"
    )
    assert "tok3n" not in said
    assert "ss-word-9" not in said


def test_a_url_that_is_not_http_is_never_opened() -> None:
    assert notify.notify(["file:///etc/passwd", "ftp://example.com/x"], EVENT) == [
        "warning: notification receiver 1 of 2 failed: not an http(s) URL",
        "warning: notification receiver 2 of 2 failed: not an http(s) URL",
    ]


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/x", "http://[::1/x", "http://h\x00st/x"])
def test_a_url_urllib_cannot_use_is_a_warning_never_an_exception(url: str) -> None:
    [warning] = notify.notify([url], EVENT)
    assert warning.startswith("warning: notification receiver 1 of 1 failed: ")
    assert url not in warning


def test_no_receivers_means_no_work() -> None:
    assert notify.notify([], EVENT) == []


def test_receivers_come_from_the_option_then_the_variable_split_on_spaces_and_commas() -> None:
    environ = {
        notify.NOTIFY_URLS_VARIABLE: " http://a.example/1,http://b.example/2\n http://a.example/1 "
    }
    assert receivers(["http://c.example/3"], environ) == [
        "http://c.example/3",
        "http://a.example/1",
        "http://b.example/2",
    ]
    assert receivers([], {}) == []


def test_registry_text_cannot_mention_a_channel_link_or_break_lines_in_slack() -> None:
    hostile = EVENT.model_copy(
        update={
            "summary": "<!channel> look at <https://evil.example|this> & \x1b[31mred\nmore",
            "errors": ["line one\nline two"],
        }
    )
    shown = text(hostile)
    assert "<!channel>" not in shown
    assert (
        "&lt;!channel&gt; look at &lt;https://evil.example|this&gt; &amp; \\x1b[31mred\\nmore"
        in shown
    )
    assert "error: line one\\nline two" in shown


def test_a_long_event_is_cut_to_a_chat_message_and_says_how_much_is_left_out() -> None:
    many = EVENT.model_copy(update={"changes": EVENT.changes * 25})
    lines = text(many).splitlines()
    assert lines[-1] == "… and 5 more changes"
    assert len(lines) == 2 + 20 + 1


def test_the_run_link_is_a_slack_link() -> None:
    linked = EVENT.model_copy(update={"link": "https://github.com/o/r/actions/runs/1"})
    assert text(linked).endswith("\n<https://github.com/o/r/actions/runs/1|the run>")


# The event an apply makes, from the plan and the report the CLI already has.

PLAN = Plan(
    manifest_path="registry.yaml",
    registry=RegistryRef(uri="http://mlflow.internal:5000", source="--tracking-uri"),
    source=PlanSource(
        registry="http://mlflow.internal:5000", manifest_path="registry.yaml",
        manifest_sha256="0" * 64, commit="a" * 40, dirty=False,
    ),
    changes=[CHANGE],
)  # fmt: skip


def report(*statuses: str, errors: tuple[str, ...] = ()) -> ApplyReport:
    return ApplyReport(
        changes=[ChangeResult.of(CHANGE, status) for status in statuses],  # type: ignore[arg-type]
        errors=list(errors),
    )


@pytest.mark.parametrize(
    ("outcome", "kind"),
    [
        (report("applied"), "applied"),
        (report("applied", "failed"), "failed"),
        (report("applied", "unknown"), "unknown"),
        (report("failed", "unknown"), "failed"),
        (report("skipped", errors=("apply is frozen: release week",)), "refused"),
        (report("applied", errors=("could not record last-applied for 'bikes'",)), "failed"),
        (report(), None),
        (
            ApplyReport(ownership=[OwnershipChange(model="churn", kind="take_over", previous="a")]),
            "applied",
        ),
    ],
)
def test_each_apply_outcome_is_one_kind_of_event(outcome: ApplyReport, kind: str | None) -> None:
    assert apply_kind(PLAN, outcome) == kind


def test_a_plan_with_errors_is_a_refused_apply_naming_them() -> None:
    broken = PLAN.model_copy(
        update={"changes": [], "errors": [PlanProblem(model="bikes", message="no version 9")]}
    )
    event = apply_event(broken, report(), "registry.yaml")
    assert event is not None
    assert (event.kind, event.errors) == ("refused", ["no version 9"])


def test_the_apply_event_names_the_commit_the_registry_and_the_verdict() -> None:
    event = apply_event(PLAN, report("applied"), "registry.yaml")
    assert event is not None
    assert event.commit == "a" * 40
    assert event.registry == "http://mlflow.internal:5000"
    assert event.summary == "Apply: 1 applied, 0 failed, 0 skipped."


def test_an_uncommitted_manifest_says_so_instead_of_a_commit() -> None:
    assert PLAN.source
    local = PLAN.model_copy(update={"source": PLAN.source.model_copy(update={"dirty": True})})
    event = apply_event(local, report("applied"), "registry.yaml")
    assert event is not None
    assert event.commit == "local, uncommitted"
    assert "registry.yaml at local, uncommitted on" in text(event)


def test_drift_is_a_plan_with_changes_or_errors_and_nothing_else() -> None:
    drift = plan_event(PLAN, "registry.yaml")
    assert drift is not None
    assert drift.kind == "drift"
    assert drift.changes[0].status is None
    assert plan_event(PLAN.model_copy(update={"changes": []}), "registry.yaml") is None

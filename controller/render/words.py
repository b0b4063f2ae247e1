"""Evidence and gate results in words, shared by the text and Markdown renderers."""

from __future__ import annotations

from datetime import timedelta

from controller.schedule import show_duration
from controller.state import AUDIT_TAG_PREFIX
from controller.values import Change, ChangeResult, GateResult, SignatureDiff, VersionEvidence

PASS, FAIL = "✓", "✗"


def number(value: float | None) -> str:
    """A metric as people read it: six significant digits, no float noise."""
    if value is None:
        return "—"
    return f"{value:.6g}"


def delta(before: float | None, after: float | None) -> str:
    if before is None or after is None:
        return ""
    return f"{after - before:+.4g}"


def age(version: VersionEvidence) -> str:
    if version.age_seconds is None:
        return "unknown age"
    return f"{show_duration(timedelta(seconds=version.age_seconds))} old"


def created(version: VersionEvidence) -> str:
    """`2026-11-29 04:07 UTC (3d 2h old) by ann`."""
    when = (version.created_at or "").replace("T", " ").removesuffix("Z")[:16]
    text = f"{when} UTC ({age(version)})" if when else age(version)
    return f"{text} by {version.creator}" if version.creator else text


def signature(version: VersionEvidence, diff: SignatureDiff | None = None) -> str:
    if version.has_signature is None:
        return "unreadable"
    if not version.has_signature:
        return "none"
    if diff is None or diff.empty:
        return "yes"
    return "yes (" + ", ".join(diff_words(diff)) + ")"


def diff_words(diff: SignatureDiff) -> list[str]:
    return [
        *(f"+{c}" for c in diff.added),
        *(f"-{c}" for c in diff.removed),
        *(f"~{c}" for c in diff.changed),
    ]


def tags(version: VersionEvidence) -> str:
    """Tags as key=value; this tool's own audit tags only name their alias: anyone with EDIT
    can write one, so only a gate that git confirms (promotes_from) says the tool set it."""
    plain = [f"{k}={v}" for k, v in version.tags.items() if not k.startswith(AUDIT_TAG_PREFIX)]
    held = [
        k.removeprefix(AUDIT_TAG_PREFIX) for k in version.tags if k.startswith(AUDIT_TAG_PREFIX)
    ]
    if held:
        plain.append("mlflow-gitops audit tags " + ", ".join(f"@{alias}" for alias in held))
    return ", ".join(plain) or "none"


def metric(version: VersionEvidence, name: str) -> str:
    """`69.7695 (step 3, 2026-11-29 04:33 UTC)` for a gated metric: which value was judged."""
    shown = number(version.metrics.get(name))
    point = version.metric_points.get(name)
    if point is None:
        return shown
    where = []
    if point.step is not None:
        when = (point.logged_at or "").replace("T", " ").replace("Z", " UTC")
        where.append(f"step {point.step}, {when}")
    if point.later:
        where.append(f"{point.later} logged after registration not counted")
    return f"{shown} ({'; '.join(where)})"


def run(version: VersionEvidence) -> str:
    if not version.run_id:
        return "no run"
    return f"run {version.run_id[:8]}" + (" (run deleted)" if version.run_deleted else "")


def metrics(version: VersionEvidence) -> str:
    shown = " ".join(f"{k}={metric(version, k)}" for k in version.metrics) or "no metrics"
    return shown + (f" (+{version.metrics_hidden} more)" if version.metrics_hidden else "")


def gate_mark(result: GateResult) -> str:
    mark = PASS if result.passed else FAIL
    actual = number(result.actual) if isinstance(result.actual, float) else result.actual
    shown = "missing" if actual is None else actual
    return f"{mark} {result.gate} = {shown} (expected {result.expected})"


def reason(change: Change) -> str:
    """The change's reason; for a rollback, with the gate checks it waived and why."""
    waiver = change.rollback.waiver(change.alias) if change.rollback else None
    return f"{change.reason}; {waiver}" if waiver else change.reason


def rollback_time(result: ChangeResult) -> str | None:
    """How long an applied rollback took from its commit, or None."""
    lane = result.rollback
    if result.rollback_seconds is None or lane is None or lane.commit is None:
        return None
    return f"moved {result.rollback_seconds} s after the rollback commit {lane.commit[:7]}"

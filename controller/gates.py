"""Promotion gates: does a version meet its alias's policy? Judges only: evidence.py shapes what
it reads, review.py asks it per change. Pure: evidence in, results out.

The same checks run in `plan` (so a reviewer sees them) and again in `apply` on fresh data
(so a version un-approved after review is not promoted).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from controller.policy import Gate, MetricBounds, PromotesFrom, TagPattern, tag_matches
from controller.schedule import parse_duration, show_duration
from controller.state import audit_tag_key
from controller.trust import HoldStart
from controller.values import Change, CopyRef, GateResult, VersionEvidence


@dataclass(frozen=True)
class Context:
    """What a gate may look at besides the version itself."""

    current: VersionEvidence | None = None  # the version the alias holds now
    live_aliases: dict[str, int] = field(default_factory=dict)  # of the same model
    moves: tuple[Change, ...] = ()  # the plan's changes to the same model
    # (alias, version) -> why git does not confirm the audit tag there; None: it does.
    audits: Mapping[tuple[str, int], str | None] = field(default_factory=dict)
    # (alias, version) -> since when it has held the alias, on records git confirms (a soak).
    held_since: Mapping[tuple[str, int], HoldStart] = field(default_factory=dict)
    now: datetime | None = None  # the plan's clock, which a soak is measured against
    copy: CopyRef | None = None  # the change is a copy of this version held elsewhere


def metric_names(gate: Gate | None) -> list[str]:
    """The metrics a gate reads, so the plan gathers and shows exactly those."""
    if gate is None:
        return []
    return list(dict.fromkeys([*gate.metrics, *gate.better_than_current]))


def check(gate: Gate, version: VersionEvidence, context: Context) -> list[GateResult]:
    """Every check the gate declares, each with what was expected and what was found."""
    results = [_tag(key, want, version) for key, want in gate.require_tags.items()]
    if gate.require_signature:
        results.append(_signature(version))
    if gate.promotes_from:
        results.append(_promotes_from(gate.promotes_from, version, context))
    results += [_bounds(name, bounds, version) for name, bounds in gate.metrics.items()]
    results += [
        _better(name, direction, version, context.current)
        for name, direction in gate.better_than_current.items()
    ]
    if gate.min_age:
        results.append(_min_age(gate.min_age, version))
    return results


def _num(value: float) -> str:
    """An observed metric in messages: six significant digits, not 69.76952601683935."""
    return f"{value:.6g}"


def failures(results: Iterable[GateResult]) -> list[GateResult]:
    return [result for result in results if not result.passed]


def _result(gate: str, passed: bool, expected: str, actual: object, message: str) -> GateResult:
    shown = actual if actual is None or isinstance(actual, int | float | bool) else str(actual)
    return GateResult(gate=gate, passed=passed, expected=expected, actual=shown, message=message)


def _tag(key: str, want: str | TagPattern, version: VersionEvidence) -> GateResult:
    value = version.tags.get(key)
    expected = f"matches /{want.pattern}/" if isinstance(want, TagPattern) else f"= {want}"
    passed = tag_matches(want, value)
    if value is None:
        message = f"tag {key} is not set, expected {expected}"
    else:
        message = f"tag {key} is {value!r}, expected {expected}"
    return _result(f"require_tags.{key}", passed, expected, value, message)


def _signature(version: VersionEvidence) -> GateResult:
    if version.has_signature is None:
        actual, message = "unreadable", "the MLmodel file could not be read"
    elif version.has_signature:
        actual, message = "present", "the MLmodel has a signature"
    else:
        actual, message = "missing", "the MLmodel has no signature"
    return _result("require_signature", bool(version.has_signature), "present", actual, message)


def _promotes_from(wanted: PromotesFrom, version: VersionEvidence, context: Context) -> GateResult:
    """It comes from `wanted.alias`, and has soaked there long enough when a soak is declared;
    with a `source`, it is a copy whose version holds the alias in that registry now."""
    if wanted.source is not None:
        return _holds_in_source(wanted.source, wanted.alias, context.copy)
    held = _holds(wanted.alias, version, context)
    if not held.passed or wanted.soak is None:
        return held
    return _soak(wanted.alias, wanted.soak, version, context)


def _holds_in_source(source: str, alias: str, copy: CopyRef | None) -> GateResult:
    """The copied version holds `alias` in the source registry, as it was read for this plan."""
    expected = f"holds {alias} in {source}"
    if copy is None or copy.source != source:
        where = "not a copy" if copy is None else f"a copy from {copy.source or 'this registry'}"
        message = f"promotes_from names source {source!r}, but this alias is {where}"
        return _result("promotes_from", False, expected, where, message)
    if alias in copy.aliases:
        return _result("promotes_from", True, expected, expected, f"{copy.named()} {expected}")
    held = ", ".join(copy.aliases) or "no alias"
    message = f"{copy.named()} does not hold {alias} in {source} (it holds {held})"
    return _result("promotes_from", False, expected, f"holds {held}", message)


def _holds(source: str, version: VersionEvidence, context: Context) -> GateResult:
    """It holds `source` and keeps it, or this plan moves `source` off it and the tool set it
    there: an audit tag that git confirms (trust.py), since anyone with EDIT can write one."""
    holder = context.live_aliases.get(source)
    moved_off = any(c.alias == source and c.from_version == version.version for c in context.moves)
    expected = f"holds {source}"
    if holder == version.version and not moved_off:
        return _result("promotes_from", True, expected, f"holds {source}", f"holds {source} now")
    audited = (source, version.version) in context.audits
    doubt = context.audits.get((source, version.version))
    if moved_off and audited and doubt is None:
        return _result(
            "promotes_from",
            True,
            expected,
            f"held {source}",
            f"held {source} (set by mlflow-gitops, confirmed by git), which this plan moves on",
        )
    if moved_off and doubt is not None:
        message = (
            f"version {version.version} holds {source}, but its {audit_tag_key(source)} tag "
            f"{doubt}, and this plan moves it on"
        )
        return _result("promotes_from", False, expected, f"{source} not confirmed", message)
    if moved_off:
        actual = f"{source} was set by hand"
        message = (
            f"version {version.version} holds {source}, but it was not set by mlflow-gitops "
            f"(no {audit_tag_key(source)} tag) and this plan moves it on"
        )
        return _result("promotes_from", False, expected, actual, message)
    where = "nowhere" if holder is None else f"on version {holder}"
    return _result(
        "promotes_from",
        False,
        expected,
        f"{source} is {where}",
        f"version {version.version} does not hold {source} ({source} is {where})",
    )


def _soak(source: str, soak: timedelta, version: VersionEvidence, context: Context) -> GateResult:
    """Held `source` for at least `soak`, counted from when trust.hold_start says the hold
    began (its reviewed commit and confirmed apply, the later): never from a registry tag alone.
    """
    short = soak < timedelta(hours=1)  # a rehearsal's soak: its seconds matter

    def shown(delta: timedelta) -> str:
        """Hours up to two days (`30h`, as soaks are written), then days and hours."""
        hours, rest = divmod(delta, timedelta(hours=1))
        if not hours or delta >= timedelta(days=2):
            return show_duration(delta, seconds_under_an_hour=short)
        minutes = rest // timedelta(minutes=1)
        return f"{hours}h" + (f" {minutes}m" if minutes else "")

    expected = f"held {source} for {shown(soak)}"
    start = context.held_since.get((source, version.version))
    if start is None or start.since is None or context.now is None:
        why = start.why if start and start.why else "nothing records when it started"
        message = f"version {version.version} holds {source}, but its soak is not counted: {why}"
        return _result("promotes_from", False, expected, "soak not counted", message)
    held = max(context.now - start.since, timedelta(0))
    actual = f"held {source} for {shown(held)}"
    if held >= soak:
        return _result("promotes_from", True, expected, actual, f"{actual}, needs {shown(soak)}")
    allowed = (start.since + soak).astimezone(UTC)
    if not short and (allowed.second or allowed.microsecond):  # a minute shown is never early
        allowed = allowed.replace(second=0, microsecond=0) + timedelta(minutes=1)
    when = allowed.strftime("%Y-%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M")
    message = f"{actual}, needs {shown(soak)} (allowed from {when} UTC)"
    return _result("promotes_from", False, expected, actual, message)


def _bounds(name: str, bounds: MetricBounds, version: VersionEvidence) -> GateResult:
    expected = ", ".join(
        f"{word} {limit}"
        for word, limit in (("min", bounds.min), ("max", bounds.max))
        if limit is not None
    )
    value = version.metrics.get(name)
    gate = f"metrics.{name}"
    if version.run_deleted:
        return _run_deleted(gate, expected, name, version)
    if value is None:
        return _result(gate, False, expected, None, _missing(name, version))
    if not math.isfinite(value):
        return _not_finite(gate, expected, value)
    if bounds.min is not None and value < bounds.min:
        return _result(
            gate, False, expected, value, f"metric {name} {_num(value)} < min {bounds.min}"
        )
    if bounds.max is not None and value > bounds.max:
        return _result(
            gate, False, expected, value, f"metric {name} {_num(value)} > max {bounds.max}"
        )
    return _result(gate, True, expected, value, f"metric {name} {_num(value)} within {expected}")


def _missing(name: str, version: VersionEvidence) -> str:
    point = version.metric_points.get(name)
    if point is not None and point.later:
        return (
            f"metric {name} was only logged after version {version.version} was registered "
            f"({point.later} value(s), not counted)"
        )
    return f"metric {name} is missing"


def _run_deleted(gate: str, expected: str, name: str, version: VersionEvidence) -> GateResult:
    """A deleted run's metrics are still readable, but nobody stands behind them any more."""
    message = f"metric {name} of version {version.version} does not count: run deleted"
    return _result(gate, False, expected, "run deleted", message)


def _not_finite(gate: str, expected: str, value: float) -> GateResult:
    """NaN compares false with every bound, so it would pass them all; inf beats every value."""
    return _result(gate, False, expected, value, f"{gate} = {_num(value)}: not a finite number")


def _better(
    name: str, direction: str, version: VersionEvidence, current: VersionEvidence | None
) -> GateResult:
    """Beat the version being replaced; with nothing to beat, only the metric must exist."""
    gate = f"better_than_current.{name}"
    value = version.metrics.get(name)
    baseline = current.metrics.get(name) if current else None
    deleted = next((v for v in (version, current) if v is not None and v.run_deleted), None)
    if deleted is not None:
        return _run_deleted(gate, f"{direction} than the current version", name, deleted)
    if current is None or baseline is None:
        expected = f"{direction} than the current version"
        if value is None:
            return _result(gate, False, expected, None, _missing(name, version))
        if not math.isfinite(value):
            return _not_finite(gate, expected, value)
        if current is None:
            return _result(gate, True, expected, value, f"no current version to compare {name}")
        return _result(
            gate, True, expected, value, f"current version {current.version} has no metric {name}"
        )
    expected = f"{direction} than {_num(baseline)} (version {current.version})"
    if value is None:
        return _result(gate, False, expected, None, _missing(name, version))
    if not math.isfinite(value):
        return _not_finite(gate, expected, value)
    if not math.isfinite(baseline):
        message = f"metric {name} of version {current.version} = {_num(baseline)}: "
        return _result(gate, False, expected, value, message + "not a finite number to beat")
    passed = value < baseline if direction == "lower" else value > baseline
    message = (
        f"metric {name} {_num(value)} {'is' if passed else 'is not'} {direction} than "
        f"{_num(baseline)} of version {current.version}"
    )
    return _result(gate, passed, expected, value, message)


def _min_age(min_age: str, version: VersionEvidence) -> GateResult:
    expected = f"at least {min_age}"
    if version.age_seconds is None:
        return _result("min_age", False, expected, None, "the creation time is unknown")
    age = timedelta(seconds=version.age_seconds)
    shown = show_duration(age)
    passed = age >= parse_duration(min_age)
    message = f"created {shown} ago" + ("" if passed else f", less than min_age {min_age}")
    return _result("min_age", passed, expected, shown, message)

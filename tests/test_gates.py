"""Gate checks over plain evidence: each gate passing and failing, with expected and actual."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.gates import Context, check, failures
from controller.policy import Gate
from controller.review import evidence_needs
from controller.state import audit_tag_key
from controller.trust import HoldStart
from controller.values import Change, VersionEvidence


def version(number: int = 4, **facts: object) -> VersionEvidence:
    return VersionEvidence.model_validate({"version": number, "status": "READY", **facts})


NO_CONTEXT = Context()


def results(gate: dict, proposed: VersionEvidence, context: Context = NO_CONTEXT) -> list[tuple]:
    return [
        (r.gate, r.passed, r.expected, r.actual, r.message)
        for r in check(Gate.model_validate(gate), proposed, context)
    ]


def test_metric_bounds_pass_and_fail_with_the_numbers() -> None:
    gate = {"metrics": {"rmse": {"max": 120.0}, "r2": {"min": 0.8, "max": 1.0}}}
    assert results(gate, version(metrics={"rmse": 131.2, "r2": 0.9})) == [
        ("metrics.rmse", False, "max 120.0", 131.2, "metric rmse 131.2 > max 120.0"),
        ("metrics.r2", True, "min 0.8, max 1.0", 0.9, "metric r2 0.9 within min 0.8, max 1.0"),
    ]
    assert results({"metrics": {"r2": {"min": 0.8}}}, version(metrics={"r2": 0.5}))[0][4] == (
        "metric r2 0.5 < min 0.8"
    )


def test_a_missing_metric_fails_its_gate() -> None:
    assert results({"metrics": {"rmse": {"max": 1.0}}}, version()) == [
        ("metrics.rmse", False, "max 1.0", None, "metric rmse is missing")
    ]


def test_required_tags_exact_and_pattern() -> None:
    gate = {"require_tags": {"validation_status": "approved", "owner": {"pattern": "team-.+"}}}
    good = version(tags={"validation_status": "approved", "owner": "team-bikes"})
    assert [r[1] for r in results(gate, good)] == [True, True]
    bad = version(tags={"validation_status": "pending", "owner": "someone-team-x"})
    assert results(gate, bad) == [
        ("require_tags.validation_status", False, "= approved", "pending",
         "tag validation_status is 'pending', expected = approved"),
        ("require_tags.owner", False, "matches /team-.+/", "someone-team-x",
         "tag owner is 'someone-team-x', expected matches /team-.+/"),
    ]  # fmt: skip
    assert results(gate, version())[0][4] == "tag validation_status is not set, expected = approved"


def test_signature_required_present_missing_or_unreadable() -> None:
    gate = {"require_signature": True}
    assert results(gate, version(has_signature=True))[0][1] is True
    assert results(gate, version(has_signature=False))[0][3:] == (
        "missing",
        "the MLmodel has no signature",
    )
    assert results(gate, version(has_signature=None))[0][1:4] == (False, "present", "unreadable")


def test_better_than_current_compares_with_the_version_replaced() -> None:
    gate = {"better_than_current": {"rmse": "lower", "r2": "higher"}}
    current = Context(current=version(3, metrics={"rmse": 110.0, "r2": 0.8}))
    worse = version(metrics={"rmse": 131.2, "r2": 0.9})
    assert results(gate, worse, current) == [
        ("better_than_current.rmse", False, "lower than 110 (version 3)", 131.2,
         "metric rmse 131.2 is not lower than 110 of version 3"),
        ("better_than_current.r2", True, "higher than 0.8 (version 3)", 0.9,
         "metric r2 0.9 is higher than 0.8 of version 3"),
    ]  # fmt: skip


def test_better_than_current_passes_a_first_assignment_but_not_a_missing_metric() -> None:
    gate = {"better_than_current": {"rmse": "lower"}}
    assert results(gate, version(metrics={"rmse": 5.0}))[0][1] is True
    assert results(gate, version())[0][1:] == (
        False,
        "lower than the current version",
        None,
        "metric rmse is missing",
    )


def test_min_age_against_the_plans_clock() -> None:
    gate = {"min_age": "24h"}
    assert results(gate, version(age_seconds=3 * 3600))[0][1:] == (
        False,
        "at least 24h",
        "3h",
        "created 3h ago, less than min_age 24h",
    )
    assert results(gate, version(age_seconds=2 * 86400))[0][1] is True
    assert results(gate, version())[0][4] == "the creation time is unknown"


def _move(alias: str, old: int, new: int) -> Change:
    return Change(model="bikes", alias=alias, action="update", from_version=old, to_version=new,
                  reason="promote")  # fmt: skip


def test_promotes_from_passes_when_the_version_holds_the_alias_now() -> None:
    context = Context(live_aliases={"challenger": 4})
    assert results({"promotes_from": "challenger"}, version(4), context)[0][1] is True


def test_promotes_from_passes_when_the_plan_moves_the_alias_off_a_version_the_tool_set() -> None:
    context = Context(
        live_aliases={"challenger": 4},
        moves=(_move("challenger", 4, 5),),
        audits={("challenger", 4): None},  # its audit tag, confirmed by git
    )
    tagged = version(4, tags={audit_tag_key("challenger"): "{}"})
    assert results({"promotes_from": "challenger"}, tagged, context)[0][1:4] == (
        True,
        "holds challenger",
        "held challenger",
    )


def test_promotes_from_fails_on_an_audit_tag_git_does_not_confirm() -> None:
    why = "names no commit of this manifest's history (none)"
    context = Context(
        live_aliases={"challenger": 4},
        moves=(_move("challenger", 4, 5),),
        audits={("challenger", 4): why},
    )
    tagged = version(4, tags={audit_tag_key("challenger"): "{}"})
    assert results({"promotes_from": "challenger"}, tagged, context)[0][1:] == (
        False,
        "holds challenger",
        "challenger not confirmed",
        f"version 4 holds challenger, but its {audit_tag_key('challenger')} tag {why}, "
        "and this plan moves it on",
    )


def test_promotes_from_fails_otherwise() -> None:
    gate = {"promotes_from": "challenger"}
    # Set by hand (no audit tag), then moved on by this plan: not proof it went through review.
    by_hand = Context(live_aliases={"challenger": 4}, moves=(_move("challenger", 4, 5),))
    assert results(gate, version(4), by_hand)[0][1] is False
    elsewhere = Context(live_aliases={"challenger": 5})
    assert results(gate, version(4), elsewhere)[0][3:] == (
        "challenger is on version 5",
        "version 4 does not hold challenger (challenger is on version 5)",
    )
    assert failures(check(Gate(promotes_from="challenger"), version(4), Context()))[0].actual == (
        "challenger is nowhere"
    )


NOT_FINITE = (float("nan"), float("inf"), float("-inf"))


def test_nan_and_infinity_fail_every_metric_bound_saying_so() -> None:
    gate = {"metrics": {"rmse": {"max": 60.0}, "r2": {"min": 0.8}}}
    for value in NOT_FINITE:
        shown = f"{value:.6g}"
        outcome = results(gate, version(metrics={"rmse": value, "r2": value}))
        assert [(r[0], r[1], r[4]) for r in outcome] == [
            ("metrics.rmse", False, f"metrics.rmse = {shown}: not a finite number"),
            ("metrics.r2", False, f"metrics.r2 = {shown}: not a finite number"),
        ]


def test_nan_and_infinity_fail_better_than_current_on_either_side() -> None:
    gate = {"better_than_current": {"rmse": "lower"}}
    finite = Context(current=version(3, metrics={"rmse": 110.0}))
    for value in NOT_FINITE:
        proposed = version(metrics={"rmse": value})
        for context in (finite, NO_CONTEXT):  # with a version to beat, and a first assignment
            assert results(gate, proposed, context)[0][1] is False
        assert results(gate, proposed, finite)[0][4] == (
            f"better_than_current.rmse = {value:.6g}: not a finite number"
        )
        broken = Context(current=version(3, metrics={"rmse": value}))
        assert results(gate, version(metrics={"rmse": 5.0}), broken)[0][1:2] == (False,)
        assert results(gate, version(metrics={"rmse": 5.0}), broken)[0][4] == (
            f"metric rmse of version 3 = {value:.6g}: not a finite number to beat"
        )


def test_a_deleted_runs_metrics_fail_bounds_and_comparisons_on_either_side() -> None:
    deleted = version(metrics={"rmse": 5.0}, run_deleted=True)
    assert results({"metrics": {"rmse": {"max": 60.0}}}, deleted)[0][1:] == (
        False, "max 60.0", "run deleted", "metric rmse of version 4 does not count: run deleted",
    )  # fmt: skip
    gate = {"better_than_current": {"rmse": "lower"}}
    assert results(gate, deleted)[0][1] is False
    replaced = Context(current=version(3, metrics={"rmse": 110.0}, run_deleted=True))
    assert results(gate, version(metrics={"rmse": 5.0}), replaced)[0][4] == (
        "metric rmse of version 3 does not count: run deleted"
    )


def test_only_the_metrics_a_gate_compares_are_read_for_the_version_replaced() -> None:
    gate = Gate.model_validate(
        {
            "metrics": {"rmse": {"max": 1.0}, "r2": {"min": 0.5}},
            "better_than_current": {"mae": "lower"},
        }
    )
    changes = [_move("champion", 3, 4), _move("shadow", 1, 2)]
    gates = {"champion": gate}
    needs = evidence_needs(changes, lambda model, alias: gates.get(alias))
    assert needs.histories == {("bikes", 4): {"rmse", "r2", "mae"}, ("bikes", 3): {"mae"}}
    # The metrics of the shadow change's versions, which no gate reads, are not read at all.
    assert needs.runs == {("bikes", 4), ("bikes", 3)}
    assert needs.signatures == set()


NOON = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SOAK = {"promotes_from": {"alias": "challenger", "soak": "24h"}}


def soaking(since: datetime | None, why: str | None = None) -> Context:
    return Context(
        live_aliases={"challenger": 7},
        held_since={("challenger", 7): HoldStart(since, why)},
        now=NOON,
    )


def test_a_soak_not_yet_met_says_how_long_and_when_it_will_be_allowed() -> None:
    assert results(SOAK, version(7), soaking(NOON - timedelta(hours=5)))[0][1:] == (
        False,
        "held challenger for 24h",
        "held challenger for 5h",
        "held challenger for 5h, needs 24h (allowed from 2026-12-04 07:00 UTC)",
    )


def test_a_soak_met_passes_with_the_time_held() -> None:
    assert results(SOAK, version(7), soaking(NOON - timedelta(hours=30)))[0][1:] == (
        True,
        "held challenger for 24h",
        "held challenger for 30h",
        "held challenger for 30h, needs 24h",
    )


def test_a_short_soak_counts_seconds_and_never_shows_an_early_minute() -> None:
    gate = {"promotes_from": {"alias": "challenger", "soak": "90s"}}
    since = NOON - timedelta(seconds=61)
    assert results(gate, version(7), soaking(since))[0][4] == (
        "held challenger for 1m 1s, needs 1m 30s (allowed from 2026-12-03 12:00:29 UTC)"
    )
    long_gate = {"promotes_from": {"alias": "challenger", "soak": "1d"}}
    assert results(long_gate, version(7), soaking(since))[0][4].endswith(
        "(allowed from 2026-12-04 11:59 UTC)"
    )
    odd = NOON + timedelta(seconds=30)  # allowed at 12:00:30 the next day: shown as 12:01
    assert results(long_gate, version(7), soaking(odd))[0][4].endswith(
        "(allowed from 2026-12-04 12:01 UTC)"
    )


def test_a_soak_without_a_start_git_confirms_is_not_counted() -> None:
    why = "its mlflow-gitops.audit.challenger tag names no commit of this manifest's history"
    assert results(SOAK, version(7), soaking(None, why))[0][1:] == (
        False,
        "held challenger for 24h",
        "soak not counted",
        f"version 7 holds challenger, but its soak is not counted: {why}",
    )
    unknown = Context(live_aliases={"challenger": 7}, now=NOON)
    assert results(SOAK, version(7), unknown)[0][4].endswith("nothing records when it started")


def test_a_soak_needs_the_alias_held_first() -> None:
    elsewhere = soaking(NOON - timedelta(days=3))
    elsewhere = Context(live_aliases={"challenger": 8}, held_since=elsewhere.held_since, now=NOON)
    assert results(SOAK, version(7), elsewhere)[0][3] == "challenger is on version 8"


def test_a_rollback_waives_the_soak_with_the_rest_of_promotes_from() -> None:
    gate = Gate.model_validate(SOAK)
    assert "promotes_from" in gate.soft_checks()
    assert gate.without(gate.soft_checks()).promotes_from is None
    enforced = Gate.model_validate({**SOAK, "on_rollback": "enforce"})
    assert enforced.soft_checks() == []

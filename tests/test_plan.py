"""The three-way plan, as a pure function of declared, live and last-applied state."""

from __future__ import annotations

from controller.manifest import parse_manifest
from controller.plan import make_plan, moved_aliases
from controller.state import LastApplied, LiveModel, LiveState
from controller.values import Change, Plan

READY_VERSIONS = {1: "READY", 2: "READY", 3: "READY", 4: "READY"}


def manifest(aliases: str, prune: bool = False):
    text = (
        f"version: 1\nmodels:\n  bikes:\n    prune: {str(prune).lower()}\n    aliases:\n{aliases}"
    )
    return parse_manifest(text, "registry.yaml")


def live(aliases: dict[str, int], last: dict[str, int] | None = None, versions=None) -> LiveState:
    return LiveState(
        models={
            "bikes": LiveModel(
                name="bikes",
                aliases=aliases,
                versions=READY_VERSIONS if versions is None else versions,
                last_applied=LastApplied(aliases=last) if last is not None else None,
            )
        }
    )


def only_change(plan: Plan) -> Change:
    assert not plan.errors
    assert len(plan.changes) == 1, plan.changes
    return plan.changes[0]


def test_new_alias_is_created_with_reason_assign() -> None:
    change = only_change(make_plan(manifest("      champion: 3\n"), live({})))
    assert (change.action, change.from_version, change.to_version, change.reason) == (
        "create",
        None,
        3,
        "assign",
    )


def test_higher_version_is_a_promote() -> None:
    change = only_change(make_plan(manifest("      champion: 4\n"), live({"champion": 3})))
    assert (change.action, change.reason) == ("update", "promote")


def test_lower_version_is_a_rollback() -> None:
    plan = make_plan(manifest("      champion: 2\n"), live({"champion": 3}, last={"champion": 3}))
    change = only_change(plan)
    assert (change.action, change.from_version, change.to_version, change.reason) == (
        "update",
        3,
        2,
        "rollback",
    )


def test_alias_moved_outside_git_is_drift() -> None:
    plan = make_plan(manifest("      champion: 3\n"), live({"champion": 1}, last={"champion": 3}))
    assert only_change(plan).reason == "drift"


def test_alias_deleted_outside_git_is_recreated_as_drift() -> None:
    plan = make_plan(manifest("      champion: 3\n"), live({}, last={"champion": 3}))
    change = only_change(plan)
    assert (change.action, change.reason) == ("create", "drift")


def test_promotion_and_drift_together_count_as_drift() -> None:
    plan = make_plan(manifest("      champion: 4\n"), live({"champion": 1}, last={"champion": 3}))
    assert only_change(plan).reason == "drift"


def test_declared_null_deletes_a_present_alias() -> None:
    change = only_change(make_plan(manifest("      shadow: null\n"), live({"shadow": 2})))
    assert (change.action, change.from_version, change.to_version, change.reason) == (
        "delete",
        2,
        None,
        "removed",
    )


def test_declared_null_and_absent_is_unchanged() -> None:
    plan = make_plan(manifest("      shadow: null\n"), live({}))
    assert plan.changes == [] and plan.summary.unchanged == 1


def test_alias_taken_out_of_the_manifest_is_removed_when_it_was_last_applied() -> None:
    plan = make_plan(
        manifest("      champion: 3\n"),
        live({"champion": 3, "challenger": 4}, last={"champion": 3, "challenger": 4}),
    )
    change = only_change(plan)
    assert (change.alias, change.action, change.reason) == ("challenger", "delete", "removed")


def test_undeclared_alias_is_pruned_when_prune_is_true() -> None:
    plan = make_plan(manifest("      champion: 3\n", prune=True), live({"champion": 3, "old": 1}))
    change = only_change(plan)
    assert (change.alias, change.action, change.reason) == ("old", "delete", "prune")


def test_undeclared_alias_never_applied_is_unmanaged_and_left_alone() -> None:
    plan = make_plan(manifest("      champion: 3\n"), live({"champion": 3, "old": 1}))
    assert plan.changes == []
    assert [(u.alias, u.version) for u in plan.unmanaged] == [("old", 1)]


def test_missing_model_is_an_error_at_its_manifest_line() -> None:
    plan = make_plan(manifest("      champion: 3\n"), LiveState())
    assert [(e.model, e.message, e.line) for e in plan.errors] == [
        ("bikes", "registered model 'bikes' does not exist", 3)
    ]


def test_missing_version_is_an_error_at_the_value() -> None:
    plan = make_plan(manifest("      champion: 9\n"), live({}))
    assert [(e.alias, e.message, e.line, e.col) for e in plan.errors] == [
        ("champion", "version 9 of model 'bikes' does not exist", 6, 17)
    ]
    assert plan.changes == []


def test_version_that_is_not_ready_is_an_error() -> None:
    plan = make_plan(
        manifest("      champion: 2\n"), live({}, versions={1: "READY", 2: "FAILED_REGISTRATION"})
    )
    assert [e.message for e in plan.errors] == [
        "version 2 of model 'bikes' is FAILED_REGISTRATION, not READY"
    ]


def test_summary_counts_each_action_and_unchanged() -> None:
    plan = make_plan(
        manifest("      a: 1\n      b: 2\n      c: 3\n      d: null\n"),
        live({"a": 1, "b": 1, "d": 4}),
    )
    assert plan.summary.model_dump() == {
        "create": 1,
        "update": 1,
        "delete": 1,
        "unchanged": 1,
        "release": 0,
    }


def test_plan_json_has_the_contracted_shape() -> None:
    data = make_plan(manifest("      champion: 4\n"), live({"champion": 3, "old": 1})).model_dump(
        mode="json", by_alias=True
    )
    assert data["changes"] == [
        {
            "model": "bikes",
            "alias": "champion",
            "action": "update",
            "from": 3,
            "to": 4,
            "reason": "promote",
            "copy": None,  # a copy's source, model and version, and the verified copy found
            "evidence": None,  # filled in by review.review, with the registry's facts
            "gates": [],
            "rollback": None,  # a rollback lane, read from git history (records.rollbacks)
        }
    ]
    assert data["unmanaged"] == [{"model": "bikes", "alias": "old", "version": 1}]
    assert data["summary"] == {
        "create": 0,
        "update": 1,
        "delete": 0,
        "unchanged": 0,
        "release": 0,
    }
    assert data["errors"] == []


def test_saved_plan_round_trips_exactly() -> None:
    plan = make_plan(manifest("      champion: 4\n"), live({"champion": 3}))
    assert Plan.model_validate_json(plan.model_dump_json(by_alias=True)) == plan


def test_moved_aliases_names_what_changed_since_the_plan() -> None:
    plan = make_plan(manifest("      champion: 4\n"), live({"champion": 3, "old": 1}))
    assert moved_aliases(plan, live({"champion": 3, "old": 1})) == []
    assert moved_aliases(plan, live({"champion": 2})) == [
        "bikes@champion (plan saw 3, now 2)",
        "bikes@old (plan saw 1, now None)",
    ]

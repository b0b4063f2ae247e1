"""Ownership changes as plan changes, and the adoption papercuts' messages: pure, no server."""

from __future__ import annotations

import pytest

from controller.manifest import parse_manifest
from controller.ownership import former_identities
from controller.plan import make_plan, ownership_changes
from controller.registry.errors import translate
from controller.render import github, markdown, text
from controller.state import LiveModel, LiveState
from controller.suggest import did_you_mean
from controller.target import RegistryTarget
from controller.values import ApplyReport, ModelSnapshot, OwnershipChange, Plan

ME = "github.com/acme/models:registry.yaml"


def snapshot(owner: str | None, removed: bool = False) -> ModelSnapshot:
    return ModelSnapshot(declared={"prod": 1}, observed={"prod": 1}, owner=owner, removed=removed)


def test_each_kind_of_hand_change_comes_from_the_snapshot_alone() -> None:
    snapshots = {
        "fraud": snapshot(None),
        "churn": snapshot("team-a/models:registry.yaml"),
        "bikes": snapshot(ME),
        "gone": snapshot(ME, removed=True),
    }
    assert ownership_changes(snapshots, ME, ["old"]) == [
        OwnershipChange(model="fraud", kind="adopt"),
        OwnershipChange(model="churn", kind="take_over", previous="team-a/models:registry.yaml"),
        OwnershipChange(model="old", kind="release"),
    ]
    assert ownership_changes(snapshots, None, []) == []  # no identity: apply records none


def only_a_take_over() -> Plan:
    loaded = parse_manifest(
        "version: 1\nmodels:\n  churn:\n    take_over: true\n    aliases: {prod: 1}\n",
        "registry.yaml",
    )
    live = LiveState(
        models={"churn": LiveModel("churn", {"prod": 1}, {1: "READY"}, owner="team-a/models")}
    )
    return make_plan(loaded, live, {}, ME)


def test_a_plan_that_only_takes_a_model_over_has_changes_in_every_format() -> None:
    plan = only_a_take_over()
    assert plan.changes == [] and plan.has_changes
    assert plan.exit_code(detailed=True) == 2
    shown = text.plan(plan)
    assert "  * churn: take over from team-a/models" in shown
    assert "No changes" not in shown
    assert shown.endswith(
        "Plan: 0 to create, 0 to update, 0 to delete, 1 to take over. 1 unchanged."
    )
    comment = markdown.plan(plan)
    assert (
        "#### Ownership" in comment and "- `churn`: **take over** from `team-a/models`" in comment
    )
    assert "No changes" not in comment
    assert github.plan_annotations(plan) == (
        "::warning title=ownership change::churn: take over from team-a/models"
    )
    assert plan.model_dump(mode="json")["ownership"] == [
        {"model": "churn", "kind": "take_over", "previous": "team-a/models"}
    ]


def test_the_apply_report_counts_the_models_that_changed_hands() -> None:
    report = ApplyReport(
        ownership=[OwnershipChange(model="fraud", kind="adopt")], released=[], changes=[]
    )
    shown = text.report(report)
    assert "  * fraud: first adoption ... done" in shown
    assert shown.endswith("Apply: 0 applied, 0 failed, 0 skipped; 1 model changed hands.")
    assert "#### Changed hands" in markdown.report(report)


def test_a_model_owned_by_this_manifests_former_identity_gets_the_fix() -> None:
    loaded = parse_manifest("version: 1\nmodels:\n  churn:\n    aliases: {prod: 1}\n", "r.yaml")
    old = "/home/ann/models:r.yaml"
    live = LiveState(models={"churn": LiveModel("churn", {"prod": 1}, {1: "READY"}, owner=old)})
    plan = make_plan(loaded, live, {}, "github.com/acme/models:r.yaml", former_owners={old})
    (error,) = plan.errors
    assert error.where == "r.yaml:3:3"
    assert f"is managed by {old}, which is this manifest's identity from before" in error.message
    assert error.message.endswith(
        f"keep the old one with the line `name: {old}` at the top of r.yaml"
    )
    # Without the former identity it is another manifest's model, as before.
    (other,) = make_plan(loaded, live, {}, "github.com/acme/models:r.yaml").errors
    assert "set take_over: true" in other.message and "name:" not in other.message


def test_former_identities_are_the_derivations_this_manifest_no_longer_has() -> None:
    remote = "https://github.com/acme/models.git"
    found = former_identities(None, remote, "/home/ann/models", "registry.yaml", "registry.yaml")
    assert "/home/ann/models:registry.yaml" in found
    assert "github.com/acme/models:registry.yaml" not in found
    assert former_identities("team", remote, "/home/ann/models", "registry.yaml", "x") == set()


@pytest.mark.parametrize(
    ("typed", "known", "hint"),
    [
        ("fruad", ["fraud", "bikes"], "; did you mean 'fraud'?"),
        ("champoin", ["champion", "challenger"], "; did you mean 'champion'?"),
        ("zzz", ["fraud", "bikes"], ""),
    ],
)
def test_did_you_mean_suggests_only_a_close_name(typed: str, known: list[str], hint: str) -> None:
    assert did_you_mean(typed, known) == hint


class Unauthorized(Exception):
    error_code = "UNAUTHENTICATED"

    def get_http_status_code(self) -> int:
        return 401


def test_a_401_names_the_credential_variables_and_which_are_set_never_their_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ann")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret-Qz7")
    uri = "https://ann:s3cret-Qz7@mlflow.example.com"
    target = RegistryTarget(uri, uri)
    message = str(translate(Unauthorized("Unauthorized"), target, ""))
    assert message.startswith("permission denied by the MLflow registry at https://***@mlflow")
    assert message.endswith(
        "credentials come from MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and "
        "MLFLOW_TRACKING_PASSWORD (set: MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD)"
    )
    assert "s3cret" not in message and "\n" not in message

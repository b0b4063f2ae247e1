"""apply_plan's failure paths, against a small in-memory registry behind the same protocol.

The happy paths and the real faults are proven against a real server (test_reconcile.py);
these are the branches a server cannot be made to take on demand.
"""

from __future__ import annotations

import json

from controller.apply import Halt, apply_plan
from controller.errors import RegistryError
from controller.manifest import parse_manifest
from controller.plan import make_plan
from controller.state import LAST_APPLIED_TAG, LastApplied
from controller.values import Plan, Provenance
from testing.memory_registry import MemoryRegistry

PROVENANCE = Provenance(commit="c0ffee", actor="ann", applied_at="2026-11-29T00:00:00Z")


def plan_for(registry: MemoryRegistry, manifest: str) -> Plan:
    loaded = parse_manifest(f"version: 1\nmodels:\n{manifest}", "registry.yaml")
    return make_plan(loaded, registry.read_state(loaded.manifest.models))


def statuses(report) -> list[tuple[str, str]]:
    return [(c.alias, c.status) for c in report.changes]


def test_unreachable_mid_apply_skips_the_rest_and_records_only_what_landed() -> None:
    registry = MemoryRegistry({"bikes": {}}, unreachable_after_writes=1)
    plan = plan_for(registry, "  bikes:\n    aliases: {a: 1, b: 2, c: 3}\n")
    report = apply_plan(plan, registry, PROVENANCE)
    assert statuses(report) == [("a", "applied"), ("b", "failed"), ("c", "skipped")]
    assert report.exit_code == 1
    assert registry.aliases == {"bikes": {"a": 1}}
    assert registry.last_applied["bikes"].aliases == {"a": 1}
    assert set(registry.version_tags) == {("bikes", 1, "mlflow-gitops.alias.a")}


def test_a_read_back_that_disagrees_fails_the_change_and_keeps_it_out_of_last_applied() -> None:
    registry = MemoryRegistry({"bikes": {}}, overwrite_with=4)
    plan = plan_for(registry, "  bikes:\n    aliases: {champion: 2}\n")
    report = apply_plan(plan, registry, PROVENANCE)
    assert statuses(report) == [("champion", "failed")]
    assert report.changes[0].error == "read-back shows bikes@champion -> 4, expected 2"
    assert registry.last_applied.get("bikes") is None
    assert registry.version_tags == {}


def test_a_read_back_that_cannot_reach_the_registry_leaves_attempted_changes_unknown() -> None:
    registry = MemoryRegistry({"bikes": {}})
    plan = plan_for(registry, "  bikes:\n    aliases: {champion: 2}\n")
    registry.fail_read = True
    report = apply_plan(plan, registry, PROVENANCE)
    assert statuses(report) == [("champion", "unknown")]
    assert (report.changes[0].error or "").startswith("could not read back the registry")
    assert report.errors == [
        "could not read back the registry: cannot reach the MLflow registry at memory://"
    ]
    assert report.exit_code == 1
    assert registry.last_applied == {} and registry.version_tags == {}


def test_a_failed_last_applied_write_is_an_error_though_the_alias_landed() -> None:
    registry = MemoryRegistry({"bikes": {}}, fail_last_applied=True)
    plan = plan_for(registry, "  bikes:\n    aliases: {champion: 2}\n")
    report = apply_plan(plan, registry, PROVENANCE)
    assert statuses(report) == [("champion", "applied")]
    assert registry.aliases == {"bikes": {"champion": 2}}
    assert report.errors == [
        "could not record last-applied for 'bikes': MLflow registry at memory://: tag rejected"
    ]
    assert report.exit_code == 1


def test_a_failed_audit_tag_is_an_error_though_the_alias_landed() -> None:
    registry = MemoryRegistry({"bikes": {}}, fail_tags=True)
    plan = plan_for(registry, "  bikes:\n    aliases: {champion: 2}\n")
    report = apply_plan(plan, registry, PROVENANCE)
    assert statuses(report) == [("champion", "applied")]
    assert registry.last_applied["bikes"].aliases == {"champion": 2}
    (error,) = report.errors
    assert error == (
        "could not write the audit tag for bikes@champion: "
        "MLflow registry at memory://: tag rejected"
    )


def test_the_audit_tag_records_provenance_and_the_previous_version() -> None:
    registry = MemoryRegistry({"bikes": {"champion": 1}})
    plan = plan_for(registry, "  bikes:\n    aliases: {champion: 2}\n")
    apply_plan(plan, registry, PROVENANCE)
    tag = registry.version_tags[("bikes", 2, "mlflow-gitops.alias.champion")]
    assert json.loads(tag) == {
        "alias": "champion",
        "actor": "ann",
        "applied_at": "2026-11-29T00:00:00Z",
        "commit": "c0ffee",
        "from": 1,
        "manifest_sha256": None,
    }


def test_a_mangled_last_applied_tag_reads_as_never_applied() -> None:
    for mangled in ["{", "[]", '{"aliases": {"champion": "x"}}', '{"aliases": 3}', ""]:
        assert LastApplied.from_tags({LAST_APPLIED_TAG: mangled}) is None, mangled
    registry = MemoryRegistry({"bikes": {"champion": 1, "old": 1}})
    registry.last_applied["bikes"] = LastApplied.from_tags({LAST_APPLIED_TAG: "{"}) or LastApplied(
        {}
    )
    plan = plan_for(registry, "  bikes:\n    aliases: {champion: 2}\n")
    assert [(c.alias, c.reason) for c in plan.changes] == [("champion", "promote")]
    assert [u.alias for u in plan.unmanaged] == ["old"]


class LosingReplies(MemoryRegistry):
    """Applies every write, then raises as if the reply was lost on the way back."""

    def set_alias(self, model: str, alias: str, version: int) -> None:
        super().set_alias(model, alias, version)
        raise RegistryError("set alias: the connection broke before a reply")


def test_a_write_whose_reply_was_lost_is_applied_when_the_read_back_shows_it() -> None:
    registry = LosingReplies({"bikes": {}})
    plan = plan_for(registry, "  bikes:\n    aliases: {champion: 2}\n")

    report = apply_plan(plan, registry, PROVENANCE)

    assert statuses(report) == [("champion", "applied")]
    assert report.changes[0].error is None
    assert "connection broke" in (report.changes[0].note or "")
    assert report.exit_code == 0
    assert registry.last_applied["bikes"].aliases == {"champion": 2}
    assert ("bikes", 2, "mlflow-gitops.alias.champion") in registry.version_tags


class RejectingWrites(MemoryRegistry):
    def set_alias(self, model: str, alias: str, version: int) -> None:
        raise RegistryError(f"set alias {model}@{alias} -> {version}: HTTP 503 from memory://")


def test_a_model_whose_changes_all_failed_gets_no_record_at_all() -> None:
    registry = RejectingWrites({"bikes": {"champion": 1}})
    plan = plan_for(registry, "  bikes:\n    aliases: {champion: 1, challenger: 2}\n")

    report = apply_plan(plan, registry, PROVENANCE)

    assert statuses(report) == [("challenger", "failed")]
    assert "HTTP 503" in (report.changes[0].error or "")
    assert registry.last_applied == {} and registry.version_tags == {}


class RecordedByAnother(MemoryRegistry):
    """Another apply records last-applied while this one writes."""

    def set_alias(self, model: str, alias: str, version: int) -> None:
        super().set_alias(model, alias, version)
        self.last_applied[model] = LastApplied({"champion": 9}, commit="theirs")


def test_a_last_applied_recorded_meanwhile_is_a_conflict_and_is_not_overwritten() -> None:
    registry = RecordedByAnother({"bikes": {}})
    plan = plan_for(registry, "  bikes:\n    aliases: {champion: 2}\n")

    report = apply_plan(plan, registry, PROVENANCE)

    assert statuses(report) == [("champion", "applied")]
    assert len(report.errors) == 1 and report.errors[0].startswith("conflict on 'bikes'")
    assert report.exit_code == 1
    assert registry.last_applied["bikes"].commit == "theirs"


class InterruptedAfterFirstWrite(MemoryRegistry):
    halt: Halt | None = None

    def set_alias(self, model: str, alias: str, version: int) -> None:
        super().set_alias(model, alias, version)
        assert self.halt is not None
        self.halt.set("interrupted by SIGTERM")


def test_an_interrupted_apply_starts_no_new_writes_and_records_what_landed() -> None:
    registry = InterruptedAfterFirstWrite({"bikes": {}})
    registry.halt = Halt()
    plan = plan_for(registry, "  bikes:\n    aliases: {a: 1, b: 2, c: 3}\n")

    report = apply_plan(plan, registry, PROVENANCE, registry.halt)

    assert statuses(report) == [("a", "applied"), ("b", "skipped"), ("c", "skipped")]
    assert report.changes[1].error == "not attempted: interrupted by SIGTERM"
    assert report.errors == ["interrupted by SIGTERM: no new writes were started"]
    assert report.exit_code == 1
    assert registry.aliases["bikes"] == {"a": 1}
    assert registry.last_applied["bikes"].aliases == {"a": 1}


def test_the_read_back_reads_only_the_models_written_to_and_still_records_the_others() -> None:
    registry = MemoryRegistry(aliases={"bikes": {"champion": 1}, "cars": {"prod": 2}, "gone": {}})
    plan = plan_for(
        registry,
        "  bikes:\n    aliases:\n      champion: 2\n"
        "  cars:\n    aliases:\n      prod: 2\n"
        "  gone:\n    aliases:\n      prod: 1\n",
    )
    del registry.aliases["gone"]  # deleted after the plan read it: its write fails
    registry.reads.clear()

    report = apply_plan(plan, registry, PROVENANCE)

    assert registry.reads == [["bikes", "gone"]]
    assert {r.address: r.status for r in report.changes} == {
        "bikes@champion": "applied",
        "gone@prod": "failed",
    }
    # cars was not written to, and matched: adopted from what the plan observed.
    assert registry.last_applied["cars"].aliases == {"prod": 2}
    assert registry.last_applied["bikes"].aliases == {"champion": 2}
    assert "gone" not in registry.last_applied

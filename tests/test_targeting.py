"""`--target` as pure functions: which addresses a manifest admits, and what a target keeps."""

from __future__ import annotations

import pytest

from controller.apply import apply_plan
from controller.errors import UsageError
from controller.manifest import parse_manifest
from controller.plan import make_plan, targeting, within_target
from controller.state import LastApplied, LiveModel, LiveState
from controller.values import Address, Provenance
from testing.memory_registry import MemoryRegistry

PROVENANCE = Provenance(commit="c0ffee", actor="ann", applied_at="2026-12-02T00:00:00Z")

MANIFEST = parse_manifest(
    "version: 1\nmodels:\n"
    "  bikes:\n    aliases:\n      champion: 1\n      challenger: 2\n"
    "  churn:\n    aliases:\n      champion: 9\n",
    "registry.yaml",
)
READY = {1: "READY", 2: "READY", 3: "READY"}


def model(name: str, aliases: dict[str, int], last: dict[str, int] | None = None) -> LiveModel:
    applied = LastApplied(aliases=last) if last else None
    return LiveModel(name=name, aliases=aliases, versions=dict(READY), last_applied=applied)


def test_a_model_an_alias_and_a_removed_model_are_targets() -> None:
    target = targeting(["bikes@champion", "old", "bikes@champion"], MANIFEST, {"old": {"a": 1}})
    assert target.addresses == [Address(model="bikes", alias="champion"), Address(model="old")]
    assert (target.models, target.total) == (2, 3)
    assert target.headline == "Targeted plan: 2 of 3 models; the rest is not checked"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("nosuch", "--target nosuch: no model 'nosuch' in registry.yaml"),
        ("nosuch@champion", "--target nosuch@champion: no model 'nosuch' in registry.yaml"),
        (
            "bikes@nosuch",
            "--target bikes@nosuch: model 'bikes' has no alias 'nosuch' in registry.yaml",
        ),
    ],
)
def test_an_unknown_target_is_refused(given: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        targeting([given], MANIFEST, {})
    assert str(raised.value) == message


def test_a_targeted_plan_holds_only_its_target_and_the_rest_of_its_model_is_a_warning() -> None:
    live = LiveState(models={"bikes": model("bikes", {"champion": 3, "challenger": 3})})
    live.models["bikes"].versions.pop(2)  # challenger's declared version is gone
    target = targeting(["bikes@champion"], MANIFEST, {})
    plan = within_target(make_plan(MANIFEST, live, target=target))
    assert [c.address for c in plan.changes] == ["bikes@champion"]
    assert list(plan.models) == ["bikes"]  # churn is neither read nor planned
    assert plan.errors == []
    assert [(w.model, w.alias) for w in plan.warnings] == [("bikes", "challenger")]
    assert plan.exit_code() == 0


def test_a_removed_model_outside_the_target_is_left_alone() -> None:
    owned = {"old": model("old", {"champion": 1}, last={"champion": 1})}
    live = LiveState(models={"bikes": model("bikes", {"champion": 3, "challenger": 2})})
    plan = make_plan(
        MANIFEST, live, owned, target=targeting(["bikes"], MANIFEST, owned_aliases(owned))
    )
    assert (plan.removed_models, [c.address for c in plan.changes]) == ([], ["bikes@champion"])
    removing = make_plan(
        MANIFEST, live, owned, target=targeting(["old"], MANIFEST, owned_aliases(owned))
    )
    assert (removing.removed_models, [c.address for c in removing.changes]) == (
        ["old"],
        ["old@champion"],
    )


def owned_aliases(owned: dict[str, LiveModel]) -> dict[str, dict[str, int]]:
    return {name: m.aliases for name, m in owned.items()}


def test_last_applied_keeps_its_record_for_the_aliases_outside_the_target() -> None:
    """challenger drifted (3, applied as 1): a champion-only apply must not forget that."""
    registry = MemoryRegistry(
        {"bikes": {"champion": 1, "challenger": 3}},
        last_applied={"bikes": LastApplied(aliases={"champion": 1, "challenger": 1})},
    )
    loaded = parse_manifest(
        "version: 1\nmodels:\n  bikes:\n    aliases: {champion: 2, challenger: 1}\n", "r.yaml"
    )
    target = targeting(["bikes@champion"], loaded, {})
    plan = make_plan(loaded, registry.read_state(["bikes"]), target=target)
    report = apply_plan(plan, registry, PROVENANCE)
    assert [(c.address, c.status) for c in report.changes] == [("bikes@champion", "applied")]
    assert report.target == target
    assert registry.aliases == {"bikes": {"champion": 2, "challenger": 3}}
    assert registry.last_applied["bikes"].aliases == {"champion": 2, "challenger": 1}

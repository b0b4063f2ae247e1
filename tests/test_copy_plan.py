"""Copies as the pure core sees them: the manifest's shapes and their problems, the plan's
changes, what every format shows, and what a saved plan must still declare. No server."""

from __future__ import annotations

import json

import pytest

from controller.errors import ManifestError, PlanFileError
from controller.manifest import CopyFrom, parse_manifest
from controller.output import redact
from controller.plan import make_plan
from controller.render import json as json_render
from controller.render import markdown, text
from controller.saved_plan import with_manifest_policy
from controller.state import LastApplied, LiveModel, LiveState
from controller.values import CopyRef

SOURCES = "sources:\n  staging:\n    tracking_uri: http://mlflow-staging:5000\n"
STAGING_V7 = CopyRef(
    source="staging", registry="http://mlflow-staging:5000", model="bikes", version=7
)


def manifest(aliases: str, top: str = SOURCES):
    return parse_manifest(
        f"version: 1\n{top}models:\n  bikes:\n    aliases:\n{aliases}", "registry.yaml"
    )


def problems(aliases: str, top: str = SOURCES, track: str = "") -> list[str]:
    with pytest.raises(ManifestError) as caught:
        manifest(aliases + track, top)
    return [str(p) for p in caught.value.problems]


def live(aliases: dict[str, int], last: dict[str, int] | None = None) -> LiveState:
    model = LiveModel(
        name="bikes",
        aliases=aliases,
        versions={1: "READY", 2: "READY", 5: "READY"},
        last_applied=LastApplied(aliases=last) if last is not None else None,
    )
    return LiveState(models={"bikes": model})


def test_an_alias_value_is_a_version_or_a_copy_with_defaults() -> None:
    loaded = manifest(
        "      champion: {source: staging, version: 7}\n"
        "      shadow: {model: bikes-staging, version: 3}\n"
        "      challenger: 2\n"
    )
    aliases = loaded.manifest.models["bikes"].aliases
    assert aliases["champion"] == CopyFrom(source="staging", version=7)
    assert aliases["shadow"] == CopyFrom(model="bikes-staging", version=3)
    assert aliases["challenger"] == 2
    assert loaded.manifest.sources["staging"].tracking_uri == "http://mlflow-staging:5000"


def test_copy_problems_point_at_their_line_and_column() -> None:
    found = problems(
        "      a: {source: prod, version: 1}\n"
        "      b: {model: bikes, version: 3}\n"
        "      c: {source: staging, version: 0}\n"
        '      d: {source: staging, version: "3"}\n'
        "      e: {source: staging}\n"
        "      f: {source: staging, version: 2, run: x}\n"
    )
    assert found == [
        "registry.yaml:10:37: versions start at 1: write a version number, or null to delete "
        "the alias",
        "registry.yaml:11:37: write 3 without quotes (got '3')",
        "registry.yaml:12:10: missing required key 'version'",
        "registry.yaml:13:40: unknown key 'run'",
    ]
    assert problems(
        "      a: {source: prod, version: 1}\n      b: {model: bikes, version: 3}\n"
    ) == [
        "registry.yaml:8:19: bikes@a: source 'prod' is not declared under sources (staging)",
        "registry.yaml:9:10: bikes@b: a copy names another registry (source) or another model; "
        "for this model's own version write b: 3",
    ]


def test_sources_carry_no_credentials_and_names_fit_a_variable() -> None:
    with_password = SOURCES.replace("http://", "http://ann:hunter2@")
    (found,) = problems("      a: 1\n", top=with_password)
    assert found.startswith("registry.yaml:4:19: source 'staging': tracking_uri must not carry")
    assert "hunter2" not in found and "MLFLOW_GITOPS_SOURCE_STAGING_TRACKING_TOKEN" in found
    (found,) = problems("      a: 1\n", top=SOURCES.replace("staging", "Staging-1"))
    assert "source name 'Staging-1'" in found


def test_a_copy_cannot_be_tracked() -> None:
    found = problems(
        "      a: {source: staging, version: 1}\n", track="    track:\n      a: latest\n"
    )
    assert found == [
        "registry.yaml:10:7: track: bikes@a is a copy; tracking proposes this model's own "
        "versions only"
    ]


def test_a_copy_not_made_yet_is_a_change_to_the_source_version() -> None:
    loaded = manifest("      champion: {source: staging, version: 7}\n")
    plan = make_plan(loaded, live({"champion": 5}), copies={("bikes", "champion"): STAGING_V7})
    (change,) = plan.changes
    assert (change.action, change.from_version, change.to_version, change.reason) == (
        "update",
        5,
        None,
        "promote",
    )
    assert change.copy_from == STAGING_V7
    assert text.change_line(change) == "~ bikes@champion: 5 -> staging bikes v7 (copy) (promote)"
    created = make_plan(loaded, live({}), copies={("bikes", "champion"): STAGING_V7}).changes[0]
    assert text.change_line(created) == "+ bikes@champion: staging bikes v7 (copy) (assign)"


def test_an_alias_on_the_verified_copy_is_unchanged_and_elsewhere_moves_to_it() -> None:
    loaded = manifest("      champion: {source: staging, version: 7}\n")
    found = {("bikes", "champion"): STAGING_V7.model_copy(update={"local": 2})}
    assert make_plan(loaded, live({"champion": 2}), copies=found).changes == []
    (change,) = make_plan(loaded, live({"champion": 1}), copies=found).changes
    assert (change.to_version, change.copy_from and change.copy_from.local) == (2, 2)


def test_a_copy_that_could_not_be_read_is_a_problem_at_its_value() -> None:
    loaded = manifest("      champion: {source: staging, version: 7}\n      shadow: 1\n")
    why = "copy: cannot read staging bikes v7 from source 'staging' (http://mlflow-staging:5000)"
    plan = make_plan(loaded, live({}), copies={("bikes", "champion"): why})
    assert [(e.alias, e.where, e.message) for e in plan.errors] == [
        ("champion", "registry.yaml:8:17", why)
    ]
    assert [c.alias for c in plan.changes] == ["shadow"]  # the rest is still planned


def test_every_format_names_the_copy_and_its_source() -> None:
    loaded = manifest("      champion: {source: staging, version: 7}\n")
    plan = make_plan(loaded, live({"champion": 5}), copies={("bikes", "champion"): STAGING_V7})
    assert "bikes@champion: 5 -> staging bikes v7 (copy) (promote)" in text.plan(plan)
    assert "staging bikes v7 (copy)" in markdown.plan(plan)
    (change,) = json.loads(json_render.plan(plan))["changes"]
    assert change["copy"] == {
        "source": "staging",
        "registry": "http://mlflow-staging:5000",
        "model": "bikes",
        "version": 7,
        "local": None,
        "aliases": [],
    }


def test_a_saved_plan_must_declare_the_copy_the_manifest_declares() -> None:
    loaded = manifest("      champion: {source: staging, version: 7}\n")
    plan = make_plan(loaded, live({}), copies={("bikes", "champion"): STAGING_V7})
    assert with_manifest_policy(plan, loaded, "plan.json").changes == plan.changes
    for forged in (
        STAGING_V7.model_copy(update={"version": 8}),
        STAGING_V7.model_copy(update={"registry": "http://evil:5000"}),
    ):
        snapshot = plan.models["bikes"].model_copy(update={"declared": {"champion": forged}})
        edited = plan.model_copy(update={"models": {"bikes": snapshot}})
        with pytest.raises(PlanFileError, match="what it declares for 'bikes'"):
            with_manifest_policy(edited, loaded, "plan.json")


def test_a_source_credential_never_reaches_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_GITOPS_SOURCE_STAGING_TRACKING_TOKEN", "tok-123")
    monkeypatch.setenv("MLFLOW_GITOPS_SOURCE_STAGING_TRACKING_USERNAME", "ann")
    monkeypatch.setenv("MLFLOW_GITOPS_SOURCE_STAGING_TRACKING_PASSWORD", "pw-456")
    echoed = "tok-123 pw-456 YW5uOnB3LTQ1Ng=="  # the last: base64 of ann:pw-456
    assert redact(echoed) == "*** *** ***"


def test_an_edit_writes_a_copy_on_one_line_and_replaces_one_written_so() -> None:
    from controller.edit import set_alias
    from controller.errors import EditError

    text = "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion: 3  # prod\n"
    copied = set_alias(text, "bikes", "champion", "{source: staging, version: 7}")
    assert copied == text.replace("3  #", "{source: staging, version: 7}  #")
    again = set_alias(copied, "bikes", "champion", "{source: staging, version: 8}")
    assert again == text.replace("3  #", "{source: staging, version: 8}  #")
    assert set_alias(again, "bikes", "champion", "4") == text.replace("3  #", "4  #")
    block = "version: 1\nmodels:\n  bikes:\n    aliases:\n      champion:\n        version: 7\n"
    with pytest.raises(EditError, match="one-line copy"):
        set_alias(block, "bikes", "champion", "4")


def test_the_controller_shows_a_copy_as_its_verified_local_version() -> None:
    from controller.daemon.loop import alias_statuses

    loaded = manifest("      champion: {source: staging, version: 7}\n")
    found = {("bikes", "champion"): STAGING_V7.model_copy(update={"local": 2})}
    (status,) = alias_statuses(make_plan(loaded, live({"champion": 2}), copies=found))
    assert (status.declared, status.live, status.in_sync) == (2, 2, True)
    (status,) = alias_statuses(
        make_plan(loaded, live({}), copies={("bikes", "champion"): STAGING_V7})
    )
    assert (status.declared, status.copied_from, status.in_sync) == (
        None,
        "staging bikes v7",
        False,
    )

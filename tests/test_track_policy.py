"""`track:` in the manifest, checked offline, and the pure choice of the version to track."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.commit_message import parse_subject
from controller.errors import ManifestError
from controller.manifest import parse_manifest
from controller.policy import TagPattern, TrackPolicy
from controller.state import LiveVersion
from controller.tracking import decide, newest_match, tag_mismatches
from testing.cli import run_cli

HEAD = "version: 1\nmodels:\n  bikes:\n    aliases: {champion: 4, challenger: 5}\n    track:\n"


def problems(track_lines: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(HEAD + track_lines, "registry.yaml")
    return [str(p) for p in caught.value.problems]


def test_both_policy_shapes_load() -> None:
    loaded = parse_manifest(
        HEAD + "      challenger: latest\n"
        "      champion: {latest: {tags: {validation_status: approved, "
        'stage: {pattern: "prod|staging"}}}}\n',
        "registry.yaml",
    )
    track = loaded.manifest.models["bikes"].track
    assert track["challenger"] == TrackPolicy()
    assert track["champion"].tags == {
        "validation_status": "approved",
        "stage": TagPattern(pattern="prod|staging"),
    }


def test_an_unknown_policy_points_at_its_value() -> None:
    assert problems("      challenger: newest\n") == [
        "registry.yaml:6:19: a track policy is 'latest' or {latest: {tags: {KEY: VALUE or "
        "{pattern: REGEX}}}}, got 'newest'"
    ]


def test_a_misspelt_tags_key_is_an_error() -> None:
    (problem,) = problems("      champion: {latest: {tag: {a: b}}}\n")
    assert problem.startswith("registry.yaml:6:17: a track policy is 'latest' or")


def test_a_tag_value_that_is_not_a_string_is_an_error() -> None:
    assert problems("      champion: {latest: {tags: {approved: true}}}\n") == [
        "registry.yaml:6:17: tag 'approved' must be an exact string or {pattern: REGEX}, "
        "got true (quote numbers and booleans: tag values are strings)"
    ]


def test_a_regex_that_does_not_compile_points_at_the_pattern() -> None:
    assert problems('      champion: {latest: {tags: {stage: {pattern: "prod|("}}}}\n') == [
        "registry.yaml:6:51: tag 'stage': pattern 'prod|(' is not a valid regex: "
        "missing ), unterminated subpattern at position 5"
    ]


def test_only_declared_aliases_can_be_tracked() -> None:
    assert problems("      shadow: latest\n") == [
        "registry.yaml:6:7: track: model 'bikes' declares no alias 'shadow' under aliases"
    ]


def test_an_alias_declared_null_cannot_be_tracked() -> None:
    text = HEAD.replace("challenger: 5", "challenger: null") + "      challenger: latest\n"
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "registry.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "registry.yaml:6:7: track: bikes@challenger is declared null (must not exist), "
        "so it cannot be tracked"
    ]


def test_track_alias_names_follow_mlflows_rules() -> None:
    (problem,) = problems("      v3: latest\n")
    assert problem.startswith("registry.yaml:6:7: alias 'v3' is reserved by MLflow")


APPROVED = {"validation_status": "approved"}


def test_tag_matcher_explains_each_mismatch() -> None:
    required: dict[str, str | TagPattern] = {
        **APPROVED,
        "stage": TagPattern(pattern="prod|staging"),
    }
    assert tag_mismatches(required, {"validation_status": "approved", "stage": "prod"}) == []
    assert tag_mismatches(required, {"stage": "production"}) == [
        "tag 'validation_status' is missing",
        "tag stage='production' does not match /prod|staging/",
    ]
    assert tag_mismatches(required, {"validation_status": "rejected", "stage": "staging"}) == [
        "tag validation_status='rejected' is not 'approved'"
    ]


VERSIONS = [
    LiveVersion(4, "READY", {"validation_status": "approved"}),
    LiveVersion(5, "READY", {}),
    LiveVersion(6, "PENDING_REGISTRATION", {"validation_status": "approved"}),
    LiveVersion(7, "FAILED_REGISTRATION", {}),
]


def test_newest_ready_version_wins_and_tags_narrow_it() -> None:
    assert newest_match(VERSIONS, TrackPolicy()) == 5
    assert newest_match(VERSIONS, TrackPolicy(tags=APPROVED)) == 4
    assert newest_match([], TrackPolicy()) is None


def test_decisions_move_only_forward() -> None:
    policy = TrackPolicy()
    assert decide("bikes", "challenger", 3, policy, VERSIONS).decision == "bump"
    assert decide("bikes", "challenger", 5, policy, VERSIONS).decision == "up-to-date"
    held = decide("bikes", "challenger", 9, policy, VERSIONS)
    assert (held.decision, held.candidate) == ("hold", 5)
    assert held.reason == "declared 9 is newer than 5; tracking never moves back"
    none = decide("bikes", "champion", 4, TrackPolicy(tags={"x": "y"}), VERSIONS)
    assert (none.decision, none.candidate, none.reason) == (
        "no-candidate",
        None,
        "no READY version with x=y",
    )


def test_update_commit_subjects_read_back_as_updates() -> None:
    edit = parse_subject("update bikes@challenger: 5 -> 6")
    assert edit is not None
    assert (edit.kind, edit.address, edit.from_version, edit.to_version) == (
        "update",
        "bikes@challenger",
        5,
        6,
    )


def test_validate_reports_track_problems_one_line_each(tmp_path: Path) -> None:
    manifest = tmp_path / "registry.yaml"
    manifest.write_text(HEAD + "      shadow: latest\n      champion: {latest: {tags: {a: 1}}}\n")
    result = run_cli("validate", "-f", str(manifest), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        f"{manifest}:6:7: track: model 'bikes' declares no alias 'shadow' under aliases\n"
        f"{manifest}:7:17: tag 'a' must be an exact string or {{pattern: REGEX}}, got 1 "
        "(quote numbers and booleans: tag values are strings)\n"
    )


def test_track_problems_come_with_every_other_problem() -> None:
    text = HEAD.replace("version: 1", "version: 2") + (
        '      shadow: latest\n      champion: {latest: {tags: {stage: {pattern: "("}}}}\n'
    )
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "registry.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "registry.yaml:1:10: unsupported manifest version 2 (supported: 1)",
        "registry.yaml:6:7: track: model 'bikes' declares no alias 'shadow' under aliases",
        "registry.yaml:7:51: tag 'stage': pattern '(' is not a valid regex: "
        "missing ), unterminated subpattern at position 0",
    ]

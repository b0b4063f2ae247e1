"""trust.py decides from git's word which of our registry records to believe; gitops reads it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from controller.gitops import recorded_commits
from controller.state import (
    AUDIT_TAG_PREFIX,
    LAST_APPLIED_TAG,
    AuditRecord,
    LastApplied,
    LiveModel,
    RawVersion,
)
from controller.trust import (
    Claim,
    HoldStart,
    RecordedCommit,
    audit_claim,
    audit_claims,
    doubt,
    hold_start,
    record_deletions,
)
from controller.values import Change, CommitInfo, HistoryEntry, ModelSnapshot, Plan
from testing.repos import commit_file, make_repo

DECLARED = "version: 1\nmodels:\n  fraud:\n    aliases:\n      prod: 1\n"
SHA = "a" * 40


def claim(version: int | None = 1, commit: str | None = SHA) -> Claim:
    return Claim("fraud", "prod", version, commit, "mlflow-gitops.last-applied")


def test_a_claim_is_confirmed_by_an_ancestor_commit_that_declared_it() -> None:
    history = {SHA: RecordedCommit(SHA, on_history=True, manifest=DECLARED)}
    assert doubt(claim(), history, "registry.yaml") is None


def test_a_claim_is_doubted_for_each_thing_git_does_not_confirm() -> None:
    on_line = {SHA: RecordedCommit(SHA, on_history=True, manifest=DECLARED)}
    released = "version: 1\nmodels: {}\nrelease:\n  - fraud\n"
    cases = {
        claim(commit=None): "names no commit of this manifest's history (none)",
        claim(commit="local, uncommitted"): "(local, uncommitted)",
        claim(version=None): "does not record fraud@prod",
        claim(commit="b" * 40): "which is not on this checkout's history",
        claim(version=2): "whose manifest does not declare fraud@prod: 2",
    }
    for case, why in cases.items():
        assert why in (doubt(case, on_line, "registry.yaml") or ""), case
    elsewhere = {SHA: RecordedCommit(SHA, on_history=False, shallow=True)}
    assert "shallow clone" in (doubt(claim(), elsewhere, "registry.yaml") or "")
    broken = {SHA: RecordedCommit(SHA, on_history=True, manifest="version: [")}
    assert "missing or does not parse" in (doubt(claim(), broken, "registry.yaml") or "")
    handed_over = {SHA: RecordedCommit(SHA, True, manifest=DECLARED, later=(("c" * 40, released),))}
    assert f"the later commit {'c' * 12} released fraud" in (
        doubt(claim(), handed_over, "registry.yaml") or ""
    )
    # Declared again now: this manifest manages it, whatever happened in between.
    assert doubt(claim(), handed_over, "registry.yaml", declared={"fraud"}) is None


def test_only_deletions_on_the_records_word_alone_need_confirming() -> None:
    def deletion(alias: str) -> Change:
        return Change(model="fraud", alias=alias, action="delete", from_version=1,
                      to_version=None, reason="removed")  # fmt: skip

    def snapshot(**kw: object) -> ModelSnapshot:
        return ModelSnapshot(declared={"gone": None}, observed={"prod": 1, "gone": 1}, **kw)

    record = LastApplied(aliases={"prod": 1}, commit=SHA)
    models = {"fraud": LiveModel(name="fraud", last_applied=record)}
    changes = [deletion("prod"), deletion("gone")]  # `gone: null` is the manifest's own word
    plan = Plan(models={"fraud": snapshot()}, changes=changes)
    assert record_deletions(plan, models) == [
        Claim("fraud", "prod", 1, SHA, "mlflow-gitops.last-applied")
    ]
    pruned = Plan(models={"fraud": snapshot(prune=True)}, changes=changes)
    assert record_deletions(pruned, models) == []  # unmanaged: delete would delete it anyway
    assert record_deletions(plan, {}) == [Claim("fraud", "prod", None, None, LAST_APPLIED_TAG)]


def test_only_well_formed_audit_tags_on_a_version_the_plan_moves_off_are_claims() -> None:
    tag = json.dumps({"alias": "challenger", "commit": SHA})
    key = AUDIT_TAG_PREFIX + "challenger"

    def version(number: int, tags: dict[str, str]) -> RawVersion:
        return RawVersion(model="m", version=number, status="READY", tags=tags)

    versions = [
        version(3, {key: tag}),
        version(4, {key: tag}),  # not moved off by the plan
        version(5, {key: "{"}),
        version(6, {AUDIT_TAG_PREFIX + "champion": tag}),  # key and value disagree
    ]
    moves = [
        Change(model="m", alias="challenger", action="update", from_version=v, to_version=9,
               reason="promote")
        for v in (3, 5, 6)
    ]  # fmt: skip
    assert audit_claims(versions, moves) == [
        Claim("m", "challenger", 3, SHA, AUDIT_TAG_PREFIX + "challenger")
    ]


def test_recorded_commits_reads_ancestry_the_manifest_and_later_releases(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    first = commit_file(repo, "registry.yaml", DECLARED, "declare")
    repo.git.checkout("-b", "side")
    side = commit_file(repo, "registry.yaml", DECLARED.replace("1", "2"), "side")
    repo.git.checkout("main")
    commit_file(repo, "other.txt", "x", "unrelated")
    released = "version: 1\nmodels: {}\nrelease:\n  - fraud\n"
    last = commit_file(repo, "registry.yaml", released, "hand over")
    path = tmp_path / "repo" / "registry.yaml"

    facts = recorded_commits(path, [first, side, "f" * 40, "local, uncommitted", last])
    assert set(facts) == {first, side, "f" * 40, last}  # never asks git about a non-sha
    assert facts[first].on_history and facts[first].manifest == DECLARED
    assert facts[first].later == ((last, released),)
    assert not facts[side].on_history and not facts["f" * 40].on_history
    assert facts[last].on_history and facts[last].later == ()
    assert recorded_commits(tmp_path / "nowhere" / "registry.yaml", [first]) == {}


def _entry(
    sha: str, to_version: int | None, committed: str, alias: str = "challenger"
) -> HistoryEntry:
    commit = CommitInfo(sha, committed, "ann", "promote", committed)
    return HistoryEntry.model_validate(
        {"commit": commit, "model": "bikes", "alias": alias, "from": None, "to": to_version,
         "kind": "assign"}
    )  # fmt: skip


def _audit(applied_at: str, commit: str = "c" * 40) -> AuditRecord:
    return AuditRecord("challenger", commit, "ci", applied_at, None)


SOAK_CLAIM = Claim("bikes", "challenger", 7, "c" * 40, AUDIT_TAG_PREFIX + "challenger")
# Newest first: challenger went to 7 in commit b at 10:00, after an older stretch on 7 in a.
SOAK_HISTORY = [
    _entry("b" * 40, 7, "2026-12-03T10:00:00+00:00"),
    _entry("d" * 40, 6, "2026-12-02T10:00:00+00:00"),
    _entry("a" * 40, 7, "2026-12-01T10:00:00+00:00"),
]


def test_a_hold_starts_at_its_confirmed_apply_after_the_commit_that_declared_it() -> None:
    start = hold_start(SOAK_CLAIM, SOAK_HISTORY, _audit("2026-12-03T10:05:00Z"), None)
    assert start == HoldStart(datetime(2026, 12, 3, 10, 5, tzinfo=UTC))


def test_no_hold_start_without_a_confirmed_apply_of_the_current_stretch() -> None:
    why = "names no commit of this manifest's history (none)"
    cases = {
        "no mlflow-gitops.alias.challenger tag records its apply": (None, None),
        f"its mlflow-gitops.alias.challenger tag {why}": (_audit("2026-12-03T10:05:00Z"), why),
        # The genuine record of the older stretch, put back by hand: it predates commit b.
        f"its mlflow-gitops.alias.challenger tag records an apply before commit {'b' * 12} "
        "declared challenger: 7": (_audit("2026-12-01T10:05:00Z"), None),
        "its mlflow-gitops.alias.challenger tag has no readable applied_at": (_audit("None"), None),
    }
    for message, (record, doubted) in cases.items():
        assert hold_start(SOAK_CLAIM, SOAK_HISTORY, record, doubted) == HoldStart(None, message)
    assert hold_start(SOAK_CLAIM, SOAK_HISTORY[1:2], _audit("2026-12-03T10:05:00Z"), None) == (
        HoldStart(None, "no commit in the manifest's history declares challenger: 7")
    )


def test_the_audit_claim_is_the_tag_of_that_alias_on_that_version() -> None:
    tag = _audit("2026-12-03T10:05:00Z").to_tag_value()
    raw = RawVersion(
        model="bikes", version=7, status="READY", tags={AUDIT_TAG_PREFIX + "challenger": tag}
    )
    claim, record = audit_claim(raw, "challenger")
    assert claim == SOAK_CLAIM and record is not None
    assert audit_claim(raw, "champion") == (None, None)
    mangled = RawVersion(
        model="bikes", version=7, status="READY", tags={AUDIT_TAG_PREFIX + "challenger": "{"}
    )
    assert audit_claim(mangled, "challenger") == (None, None)

"""Our registry records checked against git: the shell around trust.py that plan and apply call.

Git is asked only when a record must authorise something (a deletion on its word, a
`promotes_from` pass on an audit tag), and then about the commits those records name.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from controller.errors import GitError
from controller.gitops import manifest_revisions, recorded_commits
from controller.history import alias_changes, rollback_lanes
from controller.manifest import LoadedManifest
from controller.plan import leave_unconfirmed
from controller.state import LiveModel, RawVersion
from controller.trust import (
    Audits,
    Claim,
    Doubt,
    RecordedCommit,
    audit_claims,
    audit_verdicts,
    commits_named,
    doubts,
    record_deletions,
    refusal,
)
from controller.values import Plan


def _history(path: str | None, claims: list[Claim]) -> dict[str, RecordedCommit]:
    """What git says about the commits the claims name; without a manifest path, nothing."""
    return recorded_commits(path, commits_named(claims)) if claims and path else {}


def _unconfirmed(
    plan: Plan, models: Mapping[str, LiveModel], path: str | None, declared: Collection[str] = ()
) -> list[Doubt]:
    claims = record_deletions(plan, models)
    return doubts(claims, _history(path, claims), path or "the manifest", declared)


def confirm_deletions(plan: Plan, loaded: LoadedManifest, models: Mapping[str, LiveModel]) -> Plan:
    """The plan without the deletions whose last-applied record git does not confirm, each
    a plan problem instead."""
    declared = loaded.manifest.models.keys()
    return leave_unconfirmed(plan, loaded, _unconfirmed(plan, models, loaded.path, declared))


def unconfirmed_deletions(plan: Plan, models: Mapping[str, LiveModel]) -> str | None:
    """For `apply --plan`: why the records read now do not authorise the saved deletions."""
    path = plan.source.manifest_path if plan.source else None
    found = _unconfirmed(plan, models, path)
    return "; ".join(refusal(claim, why) for claim, why in found) or None


def confirmed_audits(
    plan: Plan, path: str | None, versions: Mapping[tuple[str, int], RawVersion]
) -> Audits:
    """Which audit tags git confirms, for the versions a change moves an alias off."""
    claims = audit_claims(versions.values(), plan.changes)
    return audit_verdicts(claims, _history(path, claims), path or "the manifest")


def rollbacks(plan: Plan, path: str | None) -> Plan:
    """The plan with its rollback lanes read from the manifest's git history (history.py).

    Without a readable history (no git, a shallow clone) no change is a rollback, so every
    gate check stands."""
    marked = any(c.rollback for c in plan.changes)
    if path is None or not (marked or any(c.sets for c in plan.changes)):
        return plan
    try:
        entries, _ = alias_changes(manifest_revisions(path))
    except GitError:
        entries = []
    return rollback_lanes(plan, entries)

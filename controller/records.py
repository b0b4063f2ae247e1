"""Our registry records checked against git: the shell around trust.py that plan and apply call.

Git is asked only when a record must authorise something (a deletion on its word, a
`promotes_from` pass on an audit tag), and then about the commits those records name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping

from controller.errors import GitError
from controller.gitops import manifest_revisions, recorded_commits
from controller.history import HistoryEntry, alias_changes, rollback_lanes
from controller.manifest import LoadedManifest
from controller.plan import leave_unconfirmed
from controller.policy import Gate
from controller.state import LiveModel, RawVersion
from controller.trust import (
    Audits,
    Claim,
    Doubt,
    HoldStart,
    RecordedCommit,
    audit_claim,
    audit_claims,
    audit_verdicts,
    commits_named,
    doubt,
    doubts,
    hold_start,
    record_deletions,
    refusal,
)
from controller.values import Change, Plan

# (model, alias, version) -> since when that version has held that alias (trust.hold_start).
HoldStarts = Mapping[tuple[str, str, int], HoldStart]


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


class AliasHistory:
    """The alias changes in the manifest's git history, read at most once however many ask
    (a plan's rollback lanes and its soaks walk the same commits). Made per plan: a
    controller's next cycle makes a new one, and sees the commits pushed since."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._read: list[HistoryEntry] | GitError | None = None

    def entries(self) -> list[HistoryEntry]:
        """Newest first; none without a manifest path. Raises GitError (each time asked) when
        the history cannot be read: no git, a shallow clone."""
        if self.path is None:
            return []
        if self._read is None:
            try:
                self._read = alias_changes(manifest_revisions(self.path))[0]
            except GitError as exc:
                self._read = exc
        if isinstance(self._read, GitError):
            raise self._read
        return self._read


def rollbacks(plan: Plan, history: AliasHistory) -> Plan:
    """The plan with its rollback lanes read from the manifest's git history (history.py).

    Without a readable history (no git, a shallow clone) no change is a rollback, so every
    gate check stands."""
    marked = any(c.rollback for c in plan.changes)
    if history.path is None or not (marked or any(c.sets for c in plan.changes)):
        return plan
    try:
        entries = history.entries()
    except GitError:
        entries = []
    return rollback_lanes(plan, entries)


def hold_starts(
    changes: Iterable[Change],
    gate_of: Callable[[str, str], Gate | None],
    history: AliasHistory,
    versions: Mapping[tuple[str, int], RawVersion],
) -> HoldStarts:
    """For each change whose gate declares a soak: since when the proposed version has held
    the alias it must come from, on the manifest's git history and a confirmed apply record.
    Git is read only when some gate declares a soak."""
    wanted: dict[tuple[str, str, int], Claim | None] = {}
    records = {}
    for change in changes:
        # A copy's version holds its aliases in the registry it comes from: no soak here.
        local = change.to_version is not None and change.copy_from is None
        gate = gate_of(change.model, change.alias) if local else None
        source = gate.promotes_from if gate else None
        if source is None or source.soak is None or change.to_version is None:
            continue
        claim, record = audit_claim(versions.get((change.model, change.to_version)), source.alias)
        key = (change.model, source.alias, change.to_version)
        wanted[key], records[key] = claim, record
    if not wanted:
        return {}
    path = history.path
    try:
        entries = history.entries()
    except GitError as exc:  # a shallow clone, or no git: no soak can be counted
        return {
            key: HoldStart(None, f"the manifest's history is unreadable: {exc}") for key in wanted
        }
    claims = [claim for claim in wanted.values() if claim is not None]
    recorded = _history(path, claims)
    starts = {}
    for key, claim in wanted.items():
        own = claim or Claim(*key, commit=None, tag="")
        why = doubt(claim, recorded, path or "the manifest") if claim else None
        starts[key] = hold_start(own, entries, records[key], why)
    return starts

"""`update`, the bot's move: bump tracked aliases (tracking.py decides) to the newest matching
version, each through promotion.py's edit path, so it lands as a reviewable one-line change.

A bot that moved aliases in the registry would bypass review; this one edits the manifest
the way `promote` does (one line), and with --commit puts each bump on its own branch, so
each is reviewed, planned, gated and merged on its own (as Renovate and Argo CD Image
Updater do for images).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from controller.clock import now
from controller.errors import UpdateError
from controller.gates import failures
from controller.gitops import (
    local_branches,
    manifest_checkout,
    remote_branches,
    starting_branch,
    switch_to,
)
from controller.manifest import CopyFrom, LoadedManifest, load_manifest
from controller.policy import TrackPolicy
from controller.promotion import AliasRequest, Delivery, branch_stem, edit_alias
from controller.records import AliasHistory, hold_starts
from controller.registry import Registry, open_registry, registry_ref
from controller.review import assess, evidence_needs
from controller.suggest import did_you_mean
from controller.target import TargetFlags
from controller.tracking import decide, hold_of
from controller.values import Change, HistoryEntry, RegistryRef, TrackedAlias

BRANCH_PREFIX = "update/"
NO_GIT = Delivery()


@dataclass(frozen=True)
class Tracked:
    model: str
    alias: str
    declared: int
    policy: TrackPolicy


@dataclass(frozen=True)
class Updates:
    """What update decided per tracked alias, and the registry it read (None: nothing is
    tracked, so no registry was asked)."""

    aliases: list[TrackedAlias]
    registry: RegistryRef | None = None


@dataclass(frozen=True)
class Branches:
    """The bump branches that exist: locally, and on the remote when pushing (else None)."""

    local: set[str]
    remote: set[str] | None

    @property
    def all(self) -> set[str]:
        return self.local | (self.remote or set())


def bump_branch(model: str, alias: str, version: int) -> str:
    """One branch per bump, named by its target version: a newer version gets a new branch."""
    return f"{bump_branch_prefix(model, alias)}{version}"


def bump_branch_prefix(model: str, alias: str) -> str:
    return f"{BRANCH_PREFIX}{branch_stem(model, alias)}-v"


def _local(value: int | CopyFrom | None) -> int:
    return value if isinstance(value, int) else 0


def tracked_aliases(loaded: LoadedManifest, model: str | None, alias: str | None) -> list[Tracked]:
    """All tracked aliases, or those of MODEL (and ALIAS); naming an untracked one is an error."""
    models = loaded.manifest.models
    if model is not None and model not in models:
        raise UpdateError(f"{loaded.path} declares no model {model!r}{did_you_mean(model, models)}")
    found = [
        # `validate` refuses a tracked alias declared null, so there is a version here.
        # `validate` refuses a tracked copy too.
        Tracked(name, tracked, _local(spec.aliases[tracked]), policy)
        for name, spec in models.items()
        if model in (None, name)
        for tracked, policy in spec.track.items()
        if alias in (None, tracked)
    ]
    if alias is not None and not found:
        raise UpdateError(f"{loaded.path} does not track {model}@{alias} (see track:)")
    return found


def update(
    path: str,
    model: str | None = None,
    alias: str | None = None,
    *,
    flags: TargetFlags,
    delivery: Delivery = NO_GIT,
) -> Updates:
    """Decide every tracked alias in one batched read, then edit (or commit) each bump."""
    loaded = load_manifest(path)
    tracked = tracked_aliases(loaded, model, alias)
    remote = delivery.remote if delivery.push else None
    start = starting_branch(path, remote) if delivery.commit else None
    if not tracked:
        return Updates([])
    registry = open_registry(flags, loaded.manifest.tracking_uri, loaded.path)
    versions = registry.read_versions({t.model for t in tracked})
    history = AliasHistory(loaded.path)  # holds and soaks: one walk of the manifest's history
    entries = _history(path, history)
    decisions = [
        decide(
            t.model,
            t.alias,
            t.declared,
            t.policy,
            versions.get(t.model, []),
            hold_of(entries, t.model, t.alias),
        )
        for t in tracked
    ]
    decisions = _through_gates(loaded, registry, decisions, now(), history)
    if start is None:
        edited = [
            _edit_in_place(path, d, d.candidate) if d.candidate and d.decision == "bump"
            else d
            for d in decisions
        ]  # fmt: skip
        return Updates(edited, registry_ref(registry))
    branches = Branches(
        local_branches(path, BRANCH_PREFIX),
        remote_branches(path, remote, BRANCH_PREFIX) if remote else None,
    )
    bumped = [
        _commit_bump(path, d, d.candidate, start, branches, delivery)
        if d.candidate and d.decision == "bump"
        else d
        for d in decisions
    ]
    return Updates(bumped, registry_ref(registry))


def _history(path: str, history: AliasHistory) -> list[HistoryEntry]:
    """The manifest's alias changes, for its holds; none outside git. A shallow clone is
    refused (gitops): a hold cut off from history would let a rolled-back version return."""
    if manifest_checkout(path).root is None:
        return []
    return history.entries()


def _through_gates(
    loaded: LoadedManifest,
    registry: Registry,
    decisions: list[TrackedAlias],
    at: datetime,
    history: AliasHistory,
) -> list[TrackedAlias]:
    """A bump whose candidate fails its alias's gates is skipped, saying which gate and why:
    the pull request would only fail its plan. Facts are read for gated bumps only, batched."""
    gated = [
        d
        for d in decisions
        if d.decision == "bump" and d.candidate and loaded.manifest.gate_for(d.model, d.alias)
    ]
    if not gated:
        return decisions
    moves = {
        d.address: Change(
            model=d.model,
            alias=d.alias,
            action="update",
            from_version=d.declared,
            to_version=d.candidate,
            reason="promote",
        )
        for d in gated
    }
    live = registry.read_state({d.model for d in gated})
    raws = registry.read_evidence(evidence_needs(moves.values(), loaded.manifest.gate_for), live)
    # A soak is counted as plan counts it, so a bump is not proposed before its time.
    holds = hold_starts(moves.values(), loaded.manifest.gate_for, history, raws)
    verdicts: dict[str, TrackedAlias] = {}
    for d in gated:
        move = moves[d.address]
        gate = loaded.manifest.gate_for(d.model, d.alias)
        assessed = assess(move, gate, live, raws, at, (move,), holds=holds)
        failed = "; ".join(f.message for f in failures(assessed.gates))
        if assessed.evidence is None or assessed.evidence.to_version is None:
            reason = f"skipped: {d.candidate} could not be read to check its gate"
        elif failed:
            reason = f"skipped: {d.candidate} fails its gate: {failed}"
        else:
            continue
        verdicts[d.address] = d.model_copy(update={"decision": "gated", "reason": reason})
    return [verdicts.get(d.address, d) for d in decisions]


def _request(decision: TrackedAlias, version: int, delivery: Delivery) -> AliasRequest:
    # The version was just read as READY: no second registry check (offline).
    return AliasRequest("update", decision.model, decision.alias, version, delivery=delivery)


def _edit_in_place(path: str, decision: TrackedAlias, version: int) -> TrackedAlias:
    edit_alias(load_manifest(path), _request(decision, version, NO_GIT))
    return decision


def _commit_bump(
    path: str,
    decision: TrackedAlias,
    version: int,
    start: str,
    branches: Branches,
    delivery: Delivery,
) -> TrackedAlias:
    """Commit the bump on its own branch from `start`, then go back to `start`."""
    branch = bump_branch(decision.model, decision.alias, version)
    if branch in branches.all:
        reason = f"branch {branch} already holds this bump"
        if branches.remote is not None and branch not in branches.remote:
            reason += f", but only here: push it with git push -u {delivery.remote} {branch}"
        return decision.model_copy(
            update={"decision": "branch-exists", "reason": reason, "branch": branch}
        )
    older = _older_bump_branches(decision.model, decision.alias, version, branches.all)
    try:
        request = _request(decision, version, replace(delivery, branch=branch))
        edit = edit_alias(load_manifest(path), request)
    finally:
        switch_to(path, start)
    return decision.model_copy(
        update={
            "branch": edit.branch,
            "commit": edit.commit,
            "pull_request_url": edit.pull_request_url,
            "supersedes": older,
        }
    )


def _older_bump_branches(model: str, alias: str, version: int, existing: set[str]) -> list[str]:
    """Bump branches of the same alias to a lower version: the new bump supersedes them."""
    pattern = re.compile(re.escape(bump_branch_prefix(model, alias)) + r"(\d+)")
    older = [
        (int(match[1]), name)
        for name in existing
        if (match := pattern.fullmatch(name)) and int(match[1]) < version
    ]
    return [name for _, name in sorted(older)]

"""`update`: bump tracked aliases to the newest matching version, as reviewable edits.

A bot that moved aliases in the registry would bypass review; this one edits the manifest
the way `promote` does (one line), and with --commit puts each bump on its own branch, so
each is reviewed, planned, gated and merged on its own (as Renovate and Argo CD Image
Updater do for images).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from controller import api
from controller.gitops import branches_starting_with, starting_branch, switch_to
from controller.manifest import LoadedManifest, TrackPolicy, load_manifest
from controller.tracking import TrackedAlias, decide

BRANCH_PREFIX = "update/"
NO_GIT = api.Delivery()


class UpdateError(api.PromotionError):
    """An update was refused before anything was written."""


@dataclass(frozen=True)
class Tracked:
    model: str
    alias: str
    declared: int
    policy: TrackPolicy


def bump_branch(model: str, alias: str, version: int) -> str:
    """One branch per bump, named by its target version: a newer version gets a new branch."""
    return f"{bump_branch_prefix(model, alias)}{version}"


def bump_branch_prefix(model: str, alias: str) -> str:
    return f"{BRANCH_PREFIX}{api._ref_part(model)}-{api._ref_part(alias)}-v"


def tracked_aliases(loaded: LoadedManifest, model: str | None, alias: str | None) -> list[Tracked]:
    """All tracked aliases, or those of MODEL (and ALIAS); naming an untracked one is an error."""
    models = loaded.manifest.models
    if model is not None and model not in models:
        raise UpdateError(f"{loaded.path} declares no model {model!r}")
    found = [
        # `validate` refuses a tracked alias declared null, so there is a version here.
        Tracked(name, tracked, spec.aliases[tracked] or 0, policy)
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
    flags: api.TargetFlags,
    delivery: api.Delivery = NO_GIT,
) -> list[TrackedAlias]:
    """Decide every tracked alias in one batched read, then edit (or commit) each bump."""
    loaded = load_manifest(path)
    tracked = tracked_aliases(loaded, model, alias)
    remote = delivery.remote if delivery.push else None
    start = starting_branch(path, remote) if delivery.commit else None
    if not tracked:
        return []
    registry = api.open_registry(flags, loaded.manifest.tracking_uri)
    versions = registry.read_versions({t.model for t in tracked})
    decisions = [
        decide(t.model, t.alias, t.declared, t.policy, versions.get(t.model, [])) for t in tracked
    ]
    if start is None:
        return [
            _edit_in_place(path, d, d.candidate, flags) if d.candidate and d.decision == "bump"
            else d
            for d in decisions
        ]  # fmt: skip
    existing = branches_starting_with(path, BRANCH_PREFIX, remote)
    return [
        _commit_bump(path, d, d.candidate, start, existing, flags, delivery)
        if d.candidate and d.decision == "bump"
        else d
        for d in decisions
    ]


def _edit_in_place(
    path: str, decision: TrackedAlias, version: int, flags: api.TargetFlags
) -> TrackedAlias:
    # The version was just read as READY: no second registry check (offline=True).
    api._edit_alias("update", path, decision.model, decision.alias, version, flags, True, NO_GIT)
    return decision


def _commit_bump(
    path: str,
    decision: TrackedAlias,
    version: int,
    start: str,
    existing: set[str],
    flags: api.TargetFlags,
    delivery: api.Delivery,
) -> TrackedAlias:
    """Commit the bump on its own branch from `start`, then go back to `start`."""
    branch = bump_branch(decision.model, decision.alias, version)
    if branch in existing:
        return replace(
            decision,
            decision="branch-exists",
            reason=f"branch {branch} already holds this bump",
            branch=branch,
        )
    older = _older_bump_branches(decision.model, decision.alias, version, existing)
    try:
        edit = api._edit_alias(
            "update", path, decision.model, decision.alias, version, flags, True,
            replace(delivery, branch=branch),
        )  # fmt: skip
    finally:
        switch_to(path, start)
    return replace(
        decision,
        branch=edit.branch,
        commit=edit.commit,
        pull_request_url=edit.pull_request_url,
        supersedes=older,
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


def update_text(path: str, results: list[TrackedAlias]) -> str:
    """One line per tracked alias; a bump also says where it went."""
    if not results:
        return f"{path}: no tracked aliases (declare them under track:)"
    lines = []
    for result in results:
        head = f"{result.address}: {result.declared}"
        if result.decision == "bump":
            lines.append(f"~ {head} -> {result.candidate} ({result.reason})")
            if result.commit:
                lines.append(f"    committed {result.commit[:7]} on branch {result.branch}")
            if result.pull_request_url:
                lines.append(f"    open a pull request: {result.pull_request_url}")
            lines += [f"    supersedes branch {name}" for name in result.supersedes]
        elif result.decision == "branch-exists":
            lines.append(f"= {head} -> {result.candidate} ({result.reason}; nothing to do)")
        else:
            lines.append(f"  {head} ({result.reason})")
    bumped = sum(result.decision == "bump" for result in results)
    tracked = f"{len(results)} tracked alias{'' if len(results) == 1 else 'es'}"
    if not bumped:
        lines.append(f"\n{path}: nothing to update ({tracked}).")
    else:
        done = "committed" if any(result.commit for result in results) else "edited"
        lines.append(f"\n{path}: {bumped} of {tracked} {done}.")
    return "\n".join(lines)


def update_json(path: str, results: list[TrackedAlias]) -> dict[str, object]:
    return {"manifest": path, "tracked": [result.to_json_dict() for result in results]}

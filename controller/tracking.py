"""Which version a tracked alias should move to: pure, over what the registry layer reads.

Tracking only ever proposes a forward move (a higher version than the declared one), and
after a commit moved the alias back, only a version newer than the one it left (a hold), so a
deliberate rollback in the manifest is never undone by the bot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controller.policy import TagPattern, TrackPolicy, tag_matches
from controller.state import READY, LiveVersion
from controller.values import Decision, HistoryEntry, TrackedAlias


def tag_mismatches(required: Mapping[str, str | TagPattern], tags: Mapping[str, str]) -> list[str]:
    """Why `tags` fail the required ones, one phrase per tag; empty when they all match."""
    reasons = []
    for key, want in required.items():
        actual = tags.get(key)
        if tag_matches(want, actual):
            continue
        if actual is None:
            reasons.append(f"tag {key!r} is missing")
        elif isinstance(want, TagPattern):
            reasons.append(f"tag {key}={actual!r} does not match /{want.pattern}/")
        else:
            reasons.append(f"tag {key}={actual!r} is not {want!r}")
    return reasons


def newest_match(versions: Iterable[LiveVersion], policy: TrackPolicy) -> int | None:
    """The highest READY version whose tags satisfy the policy, or None."""
    matching = [
        v.version for v in versions if v.status == READY and not tag_mismatches(policy.tags, v.tags)
    ]
    return max(matching, default=None)


def decide(
    model: str,
    alias: str,
    declared: int,
    policy: TrackPolicy,
    versions: Iterable[LiveVersion],
    held: Hold | None = None,
) -> TrackedAlias:
    """Compare the declared version with the newest matching one; only forward is a bump,
    and while `held`, only past the version the rollback left."""

    def verdict(candidate: int | None, decision: Decision, reason: str) -> TrackedAlias:
        return TrackedAlias(
            model=model,
            alias=alias,
            declared=declared,
            candidate=candidate,
            decision=decision,
            reason=reason,
        )

    candidate = newest_match(versions, policy)
    if candidate is None:
        return verdict(None, "no-candidate", f"no {wanted(policy)}")
    if candidate == declared:
        return verdict(candidate, "up-to-date", "up to date")
    if candidate < declared:
        reason = f"declared {declared} is newer than {candidate}; tracking never moves back"
        return verdict(candidate, "hold", reason)
    if held is not None and candidate <= held.left:
        reason = (
            f"held: rolled back from {held.left} in {held.commit[:7]}; "
            f"waiting for a version newer than {held.left}"
        )
        return verdict(candidate, "hold", reason)
    return verdict(candidate, "bump", f"newer version {candidate}")


@dataclass(frozen=True)
class Hold:
    """A commit moved the alias back from `left` and nothing moved it forward since."""

    left: int
    commit: str


def hold_of(entries: Iterable[HistoryEntry], model: str, alias: str) -> Hold | None:
    """The hold on MODEL@ALIAS from its marked history entries (history.alias_changes)."""
    for entry in entries:
        if entry.holds and entry.model == model and entry.alias == alias and entry.from_version:
            return Hold(entry.from_version, entry.commit.sha)
    return None


def wanted(policy: TrackPolicy) -> str:
    """What the policy asks for, as people read it: `READY version with stage=/prod|staging/`."""
    tags = ", ".join(
        f"{key}=/{want.pattern}/" if isinstance(want, TagPattern) else f"{key}={want}"
        for key, want in policy.tags.items()
    )
    return "READY version" + (f" with {tags}" if tags else "")

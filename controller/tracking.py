"""Which version a tracked alias should move to: pure, over what the registry layer reads.

Tracking only ever proposes a forward move (a higher version than the declared one), so a
deliberate rollback in the manifest is never undone by the bot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from controller.policy import TagPattern, TrackPolicy, tag_matches
from controller.state import READY, LiveVersion
from controller.values import Decision, TrackedAlias


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
) -> TrackedAlias:
    """Compare the declared version with the newest matching one; only forward is a bump."""

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
    return verdict(candidate, "bump", f"newer version {candidate}")


def wanted(policy: TrackPolicy) -> str:
    """What the policy asks for, as people read it: `READY version with stage=/prod|staging/`."""
    tags = ", ".join(
        f"{key}=/{want.pattern}/" if isinstance(want, TagPattern) else f"{key}={want}"
        for key, want in policy.tags.items()
    )
    return "READY version" + (f" with {tags}" if tags else "")

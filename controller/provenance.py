"""Who applied what: the commit only if it was the file applied, the actor from CI or git."""

from __future__ import annotations

from datetime import UTC, datetime

from controller.github_actions import ci_actor
from controller.gitops import head_commit_and_user
from controller.values import UNCOMMITTED, Plan, Provenance


def provenance(plan: Plan) -> Provenance:
    """The commit only if the planned manifest was that commit's file; the actor from GitHub
    Actions when there, otherwise from the manifest's repository."""
    actor = ci_actor()
    if not actor and plan.manifest_path:
        _, actor = head_commit_and_user(plan.manifest_path)
    applied_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    source = plan.source
    return Provenance(
        commit=source.committed if source else UNCOMMITTED,
        actor=actor,
        applied_at=applied_at,
        manifest_sha256=source.manifest_sha256 if source else None,
    )

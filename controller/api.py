"""The library surface: the operations the CLI runs, callable from Python too.

validate, plan, apply, import_, history, promote, rollback and update. Each returns a value from
values.py or raises a GitopsError; none of them prints.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from controller.apply import apply_plan
from controller.errors import ModelNotFound, PlanFileError, StalePlanError, UsageError
from controller.github_actions import ci_commit_and_actor
from controller.gitops import head_commit_and_user, manifest_revisions
from controller.history import alias_changes, select
from controller.manifest import LoadedManifest, Manifest, ModelSpec, dump_manifest, load_manifest
from controller.plan import make_plan, moved_aliases
from controller.promotion import Delivery, promote, rollback
from controller.registry import Registry
from controller.review import active_freeze, recheck, review, wanted_versions
from controller.target import TargetFlags, resolve_target
from controller.update import update
from controller.values import ApplyReport, ChangeResult, HistoryEntry, Plan, Provenance

__all__ = [
    "Delivery",
    "FreezeOverride",
    "TargetFlags",
    "apply",
    "history",
    "import_",
    "load_plan",
    "open_registry",
    "plan",
    "plan_to_apply",
    "promote",
    "rollback",
    "save_plan",
    "update",
    "validate",
]


def validate(path: str) -> LoadedManifest:
    """Load and check a manifest offline; raises ManifestError with every problem found."""
    return load_manifest(path)


def open_registry(flags: TargetFlags, manifest_uri: str | None) -> Registry:
    return Registry(resolve_target(flags, manifest_uri))


def now() -> datetime:
    """The clock gates and freeze windows read: $MLFLOW_GITOPS_NOW (ISO 8601) pins it."""
    pinned = os.environ.get("MLFLOW_GITOPS_NOW")
    if not pinned:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(pinned.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"MLFLOW_GITOPS_NOW={pinned!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def plan(loaded: LoadedManifest, registry: Registry, *, at: datetime | None = None) -> Plan:
    """Read the declared models in batches, diff them, then gather evidence for the changes."""
    live = registry.read_state(loaded.manifest.models)
    draft = make_plan(loaded, live)
    versions = registry.read_evidence(wanted_versions(draft))
    reviewed = review(draft, loaded, live, versions, at or now())
    return reviewed.model_copy(update={"commit": provenance(loaded.path).commit})


def plan_to_apply(
    manifest_path: str, plan_path: str | None, flags: TargetFlags
) -> tuple[Plan, Registry, LoadedManifest | None]:
    """The plan apply will carry out: a saved one, or one computed now from the manifest.

    Also returns the manifest it loaded (for its warnings), if any.
    """
    if plan_path is None:
        loaded = load_manifest(manifest_path)
        registry = open_registry(flags, loaded.manifest.tracking_uri)
        return plan(loaded, registry), registry, loaded
    saved = load_plan(plan_path)
    manifest_file = saved.manifest_path or manifest_path
    found = load_manifest(manifest_file) if Path(manifest_file).exists() else None
    registry = open_registry(flags, found.manifest.tracking_uri if found else None)
    return saved, registry, found


def provenance(manifest_path: str | None) -> Provenance:
    """Commit and actor from GitHub Actions when there, otherwise from the manifest's repo."""
    commit, actor = ci_commit_and_actor()
    if manifest_path and not (commit and actor):
        git_commit, git_user = head_commit_and_user(manifest_path)
        commit, actor = commit or git_commit, actor or git_user
    applied_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Provenance(commit=commit, actor=actor, applied_at=applied_at)


def _refused(plan: Plan, reason: str) -> ApplyReport:
    """A report for a plan that must not be applied: nothing was written."""
    return ApplyReport(
        changes=[ChangeResult.of(c, "skipped", reason) for c in plan.changes], errors=[reason]
    )


@dataclass(frozen=True)
class FreezeOverride:
    """Why an apply goes ahead inside a freeze window; recorded in the audit tags."""

    reason: str


def apply(
    plan: Plan,
    registry: Registry,
    *,
    saved: bool = False,
    at: datetime | None = None,
    override: FreezeOverride | None = None,
) -> ApplyReport:
    """Apply a plan: not in a freeze, a saved one only if nothing moved, gates checked afresh."""
    if plan.errors:
        return _refused(plan, "the plan has errors; nothing was applied")
    moment = at or now()
    frozen = active_freeze(plan, moment) if plan.changes else None
    if frozen and override is None:
        return _refused(
            plan,
            f"apply is frozen: {frozen}; nothing was applied "
            "(apply --override-freeze --reason TEXT to go ahead)",
        )
    if saved:  # a plan computed in this command already saw fresh data
        live = registry.read_state(plan.models)
        moved = moved_aliases(plan, live)
        if moved:
            raise StalePlanError(
                "the saved plan is stale; these aliases moved since it was made: "
                + ", ".join(moved)
                + ". Run plan again."
            )
        gated = plan.model_copy(
            update={"changes": [c for c in plan.changes if c.address in plan.gate_specs]}
        )
        # Fresh facts for the gated changes only; the whole plan, for promotes_from's moves.
        failed = recheck(plan, live, registry.read_evidence(wanted_versions(gated)), moment)
        if failed:
            return _refused(
                plan, "gates fail on fresh data; nothing was applied: " + "; ".join(failed)
            )
    record = provenance(plan.manifest_path)
    if frozen and override is not None:
        record = replace(record, freeze_override=f"{override.reason} (during {frozen})")
    return apply_plan(plan, registry, record)


def save_plan(plan: Plan, path: str) -> None:
    Path(path).write_text(json.dumps(plan.to_json_dict(), indent=2) + "\n", encoding="utf-8")


def load_plan(path: str) -> Plan:
    try:
        return Plan.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such file") from None
    except (OSError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise PlanFileError(f"{path}: not a saved plan ({first})") from None


def import_(registry: Registry, names: list[str], all_models: bool) -> str:
    """A manifest declaring the live aliases, so an existing registry can adopt the tool."""
    wanted = registry.read_all_model_names() if all_models else names
    live = registry.read_state(wanted)
    missing = sorted(set(wanted) - set(live.models))
    if missing:
        raise ModelNotFound("no such registered model: " + ", ".join(missing))
    manifest = Manifest(
        version=1,
        models={
            name: ModelSpec(aliases=dict(sorted(live.models[name].aliases.items())))
            for name in sorted(live.models)
        },
    )
    return dump_manifest(manifest)


def history(
    path: str, model: str | None = None, alias: str | None = None, limit: int | None = None
) -> tuple[list[HistoryEntry], list[str]]:
    """Alias changes across the manifest's git history, newest first, and skip warnings."""
    entries, warnings = alias_changes(manifest_revisions(path))
    return select(entries, model, alias, limit), warnings

"""The library surface: the operations the CLI runs, callable from Python too.

validate, plan, apply, import_, history, promote, rollback and update. Each returns a value from
values.py or raises a GitopsError; none of them prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from controller.apply import Halt, apply_plan
from controller.clock import now
from controller.errors import (
    ApplyRefused,
    ModelNotFound,
    RegistryError,
    StalePlanError,
)
from controller.github_actions import ci_actor, in_github_actions
from controller.gitops import head_commit_and_user, manifest_checkout, manifest_revisions
from controller.history import alias_changes, select
from controller.manifest import (
    LoadedManifest,
    Manifest,
    ModelSpec,
    dump_manifest,
    load_manifest,
    manifest_sha256,
)
from controller.output import redact, without_credentials
from controller.ownership import owner_identity
from controller.plan import make_plan, moved_aliases
from controller.promotion import Delivery, promote, rollback
from controller.registry import Registry, open_registry, registry_ref
from controller.review import active_freeze, recheck, review, wanted_versions
from controller.saved_plan import check_manifest, check_registry, read_plan, write_plan
from controller.state import LiveModel
from controller.target import TargetFlags
from controller.update import update
from controller.values import (
    UNCOMMITTED,
    ApplyReport,
    ChangeResult,
    HistoryEntry,
    Plan,
    PlanSource,
    Provenance,
)

__all__ = [
    "Delivery",
    "FreezeOverride",
    "Halt",
    "TargetFlags",
    "apply",
    "history",
    "import_",
    "open_registry",
    "plan",
    "plan_to_apply",
    "promote",
    "registry_ref",
    "rollback",
    "update",
    "validate",
    "write_plan",
]


def validate(path: str) -> LoadedManifest:
    """Load and check a manifest offline; raises ManifestError with every problem found."""
    return load_manifest(path)


def plan(loaded: LoadedManifest, registry: Registry, *, at: datetime | None = None) -> Plan:
    """Read the models this manifest owns (one search), then the other declared models and
    every declared model's versions in batches; then gather evidence and check the gates."""
    checkout = manifest_checkout(loaded.path)
    owner = owner_identity(
        loaded.manifest.name,
        checkout.remote_url,
        checkout.root,
        checkout.path_in_repo,
        loaded.path,
    )
    owned = registry.read_owned(owner)
    live = registry.read_state(loaded.manifest.models, known=owned)
    ref = registry_ref(registry)
    source = PlanSource(
        registry=without_credentials(registry.target.registry_uri),
        manifest_path=loaded.path,
        manifest_sha256=loaded.sha256,
        commit=checkout.commit,
        dirty=checkout.dirty,
    )
    made = make_plan(loaded, live, owned, owner)
    versions = registry.read_evidence(wanted_versions(made))
    reviewed = review(made, loaded, live, versions, at or now())
    return reviewed.model_copy(update={"registry": ref, "source": source})


def plan_to_apply(
    manifest_path: str, plan_path: str | None, flags: TargetFlags, *, manifest_given: bool = True
) -> tuple[Plan, Registry, LoadedManifest | None]:
    """The plan apply will carry out: a saved one, or one computed now from the manifest.

    Also returns the manifest it loaded (for its warnings), if any. A saved plan goes to the
    registry it records unless a flag or MLflow's environment names one, and then only if that
    is the same registry; `manifest_given` (an explicit -f) must name the same bytes.
    """
    if plan_path is None:
        loaded = load_manifest(manifest_path)
        registry = open_registry(flags, loaded.manifest.tracking_uri, loaded.path, for_apply=True)
        return plan(loaded, registry), registry, loaded
    saved, source = read_plan(plan_path)
    if manifest_given:
        check_manifest(source, manifest_sha256(manifest_path), manifest_path, plan_path)
    # The recorded registry, unless a flag or MLflow's environment names one, which must then
    # be the same; the embedded default is never guessed.
    environment = (os.environ.get(v) for v in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"))
    named = any((flags.tracking_uri, flags.registry_uri, *environment))
    recorded = None if named else source.registry
    registry = open_registry(flags, recorded, f"the saved plan {plan_path}", for_apply=True)
    check_registry(source, without_credentials(registry.target.registry_uri), plan_path)
    return saved.model_copy(update={"registry": registry_ref(registry)}), registry, None


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


def _refuse_uncommitted_in_ci(plan: Plan) -> None:
    """In CI the manifest applied must be one a reviewer could have seen: a commit's."""
    source = plan.source
    if in_github_actions() and (source is None or source.committed == UNCOMMITTED):
        where = source.manifest_path if source else "the manifest"
        commit = (source.commit if source else None) or "none"
        raise ApplyRefused(
            f"refusing to apply an uncommitted manifest in GitHub Actions: {where} differs "
            f"from commit {commit[:12]} (or is not in git); apply only what a commit declares"
        )


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
    halt: Halt | None = None,
    at: datetime | None = None,
    override: FreezeOverride | None = None,
) -> ApplyReport:
    """Apply a plan: not in a freeze, a saved one only if nothing moved, gates checked afresh.

    Setting `halt` (from a signal handler, say) starts no new writes; the rest still runs.
    """
    if plan.errors:
        return _refused(plan, "the plan has errors; nothing was applied")
    _refuse_uncommitted_in_ci(plan)
    moment = at or now()
    frozen = active_freeze(plan, moment) if plan.changes else None
    if frozen and override is None:
        return _refused(
            plan,
            f"apply is frozen: {frozen}; nothing was applied "
            "(apply --override-freeze --reason TEXT to go ahead)",
        )
    if saved:  # a plan computed in this command already saw fresh data
        live = registry.read_state([*plan.models, *plan.released])
        moved = moved_aliases(plan, live)
        if moved:
            raise StalePlanError(
                "the saved plan is stale; these aliases moved since it was made: "
                + ", ".join(moved)
                + ". Run plan again."
            )
        # Its snapshot holds no released model: only the owner tag says it is this manifest's.
        foreign = [
            f"{name!r} ({_managed_by(live.models.get(name))})"
            for name in plan.released
            if name not in live.models or live.models[name].owner != plan.owner
        ]
        if foreign:
            raise StalePlanError(
                "the saved plan releases models this manifest does not manage: "
                + ", ".join(foreign)
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
    record = provenance(plan)
    if frozen and override is not None:
        record = replace(record, freeze_override=f"{override.reason} (during {frozen})")
    return apply_plan(plan, registry, record, halt)


def _managed_by(model: LiveModel | None) -> str:
    if model is None:
        return "not found"
    return f"managed by {model.owner}" if model.owner else "not managed"


def import_(registry: Registry, names: list[str], all_models: bool) -> str:
    """A manifest declaring the live aliases, so an existing registry can adopt the tool."""
    wanted = registry.read_all_model_names() if all_models else names
    if not wanted:
        raise RegistryError(
            f"no registered models found in {redact(registry.target.registry_uri)}; is that "
            "the registry you meant? Name it with --tracking-uri or MLFLOW_TRACKING_URI"
        )
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

"""The library surface: the operations the CLI runs, callable from Python too.

validate, plan, apply, import_, history, promote, rollback and update. Each returns a value from
values.py or raises a GitopsError; none of them prints.
"""

from __future__ import annotations

from datetime import UTC, datetime

from controller.apply import apply_plan
from controller.errors import ModelNotFound, StalePlanError
from controller.github_actions import ci_commit_and_actor
from controller.gitops import head_commit_and_user, manifest_revisions
from controller.history import alias_changes, select
from controller.manifest import (
    LoadedManifest,
    Manifest,
    ModelSpec,
    dump_manifest,
    load_manifest,
    manifest_sha256,
)
from controller.output import without_credentials
from controller.plan import make_plan, moved_aliases
from controller.promotion import Delivery, promote, rollback
from controller.registry import Registry
from controller.saved_plan import check_manifest, check_registry, read_plan, write_plan
from controller.target import TargetFlags, resolve_target
from controller.update import update
from controller.values import (
    ApplyReport,
    ChangeResult,
    HistoryEntry,
    Plan,
    PlanSource,
    Provenance,
)

__all__ = [
    "Delivery",
    "TargetFlags",
    "apply",
    "history",
    "import_",
    "open_registry",
    "plan",
    "plan_to_apply",
    "promote",
    "rollback",
    "update",
    "validate",
    "write_plan",
]


def validate(path: str) -> LoadedManifest:
    """Load and check a manifest offline; raises ManifestError with every problem found."""
    return load_manifest(path)


def open_registry(flags: TargetFlags, manifest_uri: str | None) -> Registry:
    return Registry(resolve_target(flags, manifest_uri))


def plan(loaded: LoadedManifest, registry: Registry) -> Plan:
    """Read exactly the declared models, in batches, and diff them against the manifest."""
    live = registry.read_state(loaded.manifest.models)
    return make_plan(loaded, live).model_copy(update={"source": _source(loaded, registry)})


def _source(loaded: LoadedManifest, registry: Registry) -> PlanSource:
    """Where the plan came from, recorded so a saved copy applies only to the same."""
    commit, _ = head_commit_and_user(loaded.path)
    return PlanSource(
        registry=without_credentials(registry.target.registry_uri),
        manifest_path=loaded.path,
        manifest_sha256=loaded.sha256,
        commit=commit,
    )


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
        registry = open_registry(flags, loaded.manifest.tracking_uri)
        return plan(loaded, registry), registry, loaded
    saved, source = read_plan(plan_path)
    if manifest_given:
        check_manifest(source, manifest_sha256(manifest_path), manifest_path, plan_path)
    registry = open_registry(flags, source.registry)
    check_registry(source, without_credentials(registry.target.registry_uri), plan_path)
    return saved, registry, None


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


def apply(plan: Plan, registry: Registry, *, saved: bool = False) -> ApplyReport:
    """Apply a plan; a saved one only if the aliases it observed have not moved since."""
    if plan.errors:
        return _refused(plan, "the plan has errors; nothing was applied")
    if saved:
        moved = moved_aliases(plan, registry.read_state(plan.models))
        if moved:
            raise StalePlanError(
                "the saved plan is stale; these aliases moved since it was made: "
                + ", ".join(moved)
                + ". Run plan again."
            )
    return apply_plan(plan, registry, provenance(plan.manifest_path))


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

"""The library surface: the operations the CLI runs, callable from Python too.

validate, plan, apply, import_, history, promote, rollback and update. Each returns a value from
values.py or raises a GitopsError; none of them prints.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from controller.adopt import adoption_manifest, adoption_name
from controller.apply import Halt, apply_plan, refuse_uncommitted_in_ci, refused
from controller.clock import now
from controller.errors import ModelNotFound, RegistryError, UsageError
from controller.gitops import (
    branch_and_default,
    manifest_checkout,
    manifest_revisions,
    remote_and_path,
)
from controller.history import alias_changes, select
from controller.manifest import LoadedManifest, load_manifest
from controller.notify import Event, apply_event, error_event, notify, plan_event, receivers
from controller.output import redact, without_credentials
from controller.ownership import former_identities, owner_identity
from controller.plan import make_plan, targeting, within_target
from controller.promotion import Delivery, promote, rollback
from controller.provenance import provenance
from controller.records import (
    confirm_deletions,
    confirmed_audits,
    hold_starts,
    rollbacks,
    unconfirmed_deletions,
)
from controller.registry import Registry, open_registry, registry_ref
from controller.review import (
    active_freeze,
    gated_metrics,
    planned_gate,
    recheck,
    review,
    wanted_versions,
)
from controller.saved_plan import (
    check_manifest,
    check_registry,
    check_still_current,
    read_plan,
    with_manifest_policy,
    write_plan,
)
from controller.target import TargetFlags
from controller.update import update
from controller.values import ApplyReport, HistoryEntry, Plan, PlanSource, Problem

__all__ = [
    "Delivery",
    "Event",
    "FreezeOverride",
    "Halt",
    "TargetFlags",
    "ToApply",
    "apply",
    "apply_event",
    "error_event",
    "history",
    "import_",
    "notify",
    "open_registry",
    "plan",
    "plan_event",
    "plan_to_apply",
    "promote",
    "receivers",
    "registry_ref",
    "rollback",
    "update",
    "validate",
    "write_plan",
]


def validate(path: str) -> LoadedManifest:
    """Load and check a manifest offline; raises ManifestError with every problem found."""
    return load_manifest(path)


def plan(
    loaded: LoadedManifest,
    registry: Registry,
    *,
    at: datetime | None = None,
    targets: list[str] | None = None,
) -> Plan:
    """Read the models this manifest owns (one search), then the other declared models and
    every declared model's versions in batches; then gather evidence and check the gates.

    `targets` (MODEL or MODEL@ALIAS) limit the plan, and the state read, to those models.
    """
    checkout = manifest_checkout(loaded.path)
    where = (checkout.remote_url, checkout.root, checkout.path_in_repo, loaded.path)
    owner = owner_identity(loaded.manifest.name, *where)
    owned = registry.read_owned(owner)
    target = None
    if targets:
        managed = {n: m.aliases for n, m in owned.items() if n not in loaded.manifest.models}
        target = targeting(targets, loaded, managed)
    declared = [n for n in loaded.manifest.models if not target or target.covers_model(n)]
    live = registry.read_state(declared, known=owned)
    ref = registry_ref(registry)
    source = PlanSource(
        registry=without_credentials(registry.target.registry_uri),
        manifest_path=loaded.path,
        manifest_sha256=loaded.sha256,
        commit=checkout.commit,
        dirty=checkout.dirty,
    )
    made = confirm_deletions(
        make_plan(
            loaded, live, owned, owner, target, former_identities(loaded.manifest.name, *where)
        ),
        loaded,
        {**owned, **live.models},
    )
    made = rollbacks(made, loaded.path)
    versions = registry.read_evidence(
        wanted_versions(made), gated_metrics(made.changes, loaded.manifest.gate_for)
    )
    audits = confirmed_audits(made, loaded.path, versions)
    holds = hold_starts(made.changes, loaded.manifest.gate_for, loaded.path, versions)
    reviewed = within_target(review(made, loaded, live, versions, at or now(), audits, holds))
    return reviewed.model_copy(update={"registry": ref, "source": source})


@dataclass(frozen=True)
class ToApply:
    """The plan apply will carry out, the registry it goes to, and the manifest's warnings."""

    plan: Plan
    registry: Registry
    warnings: Sequence[Problem | str] = ()


def plan_to_apply(
    manifest_path: str,
    plan_path: str | None,
    flags: TargetFlags,
    *,
    manifest_given: bool = True,
    targets: list[str] | None = None,
) -> ToApply:
    """The plan apply will carry out: a saved one, or one computed now from the manifest.

    A saved plan goes to the registry it records unless a flag or MLflow's environment names
    one, and then only if that is the same registry; `manifest_given` (an explicit -f) must
    name the same bytes, and `targets`, if given, the target it records.
    """
    if plan_path is None:
        loaded = load_manifest(manifest_path)
        registry = open_registry(flags, loaded.manifest.tracking_uri, loaded.path, for_apply=True)
        warnings: list[Problem | str] = [*loaded.warnings, *off_default_branch(loaded.path)]
        return ToApply(plan(loaded, registry, targets=targets), registry, warnings)
    saved, source = read_plan(plan_path)
    planned_for = [str(a) for a in saved.target.addresses] if saved.target else []
    if targets and sorted(set(targets)) != sorted(planned_for):
        raise UsageError(
            f"--target {' '.join(targets)} is not the target {plan_path} was planned for "
            f"({', '.join(planned_for) or 'the whole manifest'}); run plan --target again"
        )
    # The policy and the declared state come from the manifest the plan records, never the file.
    planned = load_manifest(manifest_path if manifest_given else source.manifest_path)
    check_manifest(source, planned.sha256, planned.path, plan_path)
    saved = with_manifest_policy(saved, planned, plan_path)
    # The recorded registry, unless a flag or MLflow's environment names one, which must then
    # be the same; the embedded default is never guessed.
    environment = (os.environ.get(v) for v in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"))
    named = any((flags.tracking_uri, flags.registry_uri, *environment))
    recorded = None if named else source.registry
    registry = open_registry(flags, recorded, f"the saved plan {plan_path}", for_apply=True)
    check_registry(source, without_credentials(registry.target.registry_uri), plan_path)
    saved = saved.model_copy(update={"registry": registry_ref(registry)})
    return ToApply(saved, registry, off_default_branch(planned.path))


def off_default_branch(manifest_path: str) -> list[str]:
    """A warning when apply runs from a branch other than the remote's default one: what is
    applied there may never be merged."""
    branch, default = branch_and_default(manifest_path)
    if branch is None or default is None or branch == default:
        return []
    return [
        f"warning: applying from branch {branch!r}, not {default!r}, the default branch of "
        "origin: what it declares may not be what is merged"
    ]


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
        return refused(plan, "the plan has errors; nothing was applied")
    refuse_uncommitted_in_ci(plan)
    moment = at or now()
    frozen = active_freeze(plan, moment) if plan.changes else None
    if frozen and override is None:
        return refused(
            plan,
            f"apply is frozen: {frozen}; nothing was applied "
            "(apply --override-freeze --reason TEXT to go ahead)",
        )
    if saved:  # a plan computed in this command already saw fresh data
        # Which changes are rollbacks is git's word, read again, never the file's.
        plan = rollbacks(plan, plan.source.manifest_path if plan.source else None)
        live = registry.read_state([*plan.models, *plan.released])
        check_still_current(plan, live)
        gated = plan.model_copy(
            update={"changes": [c for c in plan.changes if c.address in plan.gate_specs]}
        )
        # The record behind each deletion, read now, must be one git confirms, as in plan.
        unconfirmed = unconfirmed_deletions(plan, live.models)
        if unconfirmed:
            return refused(
                plan,
                "the saved plan deletes what no reviewed commit confirms; nothing was applied: "
                + unconfirmed,
            )
        # Fresh facts for the gated changes only; the whole plan, for promotes_from's moves.
        fresh = registry.read_evidence(
            wanted_versions(gated), gated_metrics(gated.changes, partial(planned_gate, plan))
        )
        path = plan.source.manifest_path if plan.source else None
        audits = confirmed_audits(plan, path, fresh)
        holds = hold_starts(plan.changes, partial(planned_gate, plan), path, fresh)
        failed = recheck(plan, live, fresh, moment, audits, holds)
        if failed:
            return refused(
                plan, "gates fail on fresh data; nothing was applied: " + "; ".join(failed)
            )
    record = provenance(plan)
    if frozen and override is not None:
        record = record.model_copy(
            update={"freeze_override": f"{override.reason} (during {frozen})"}
        )
    return apply_plan(plan, registry, record, halt)


def import_(
    registry: Registry, names: list[str], all_models: bool, manifest_path: str, name: str | None
) -> str:
    """A manifest declaring the live aliases, so an existing registry can adopt the tool, with
    the `name:` given, or derived from the git remote and `manifest_path` (where it goes)."""
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
    return adoption_manifest(live, adoption_name(name, *remote_and_path(manifest_path)))


def history(
    path: str, model: str | None = None, alias: str | None = None, limit: int | None = None
) -> tuple[list[HistoryEntry], list[str]]:
    """Alias changes across the manifest's git history, newest first, and skip warnings."""
    entries, warnings = alias_changes(manifest_revisions(path))
    return select(entries, model, alias, limit), warnings

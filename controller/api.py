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
from controller.evidence import EvidenceNeeds, merged
from controller.gitops import (
    branch_and_default,
    check_out,
    fetch_branch,
    github_commit_url,
    is_ancestor,
    manifest_checkout,
    manifest_revisions,
    remote_and_path,
)
from controller.history import alias_changes, select
from controller.manifest import CopyFrom, LoadedManifest, load_manifest
from controller.notify import Event, apply_event, error_event, notify, plan_event, receivers
from controller.output import redact, without_credentials
from controller.ownership import former_identities, owner_identity
from controller.plan import make_plan, targeting, within_target
from controller.promotion import Delivery, promote, promote_copy, rollback
from controller.provenance import provenance
from controller.records import (
    AliasHistory,
    confirm_deletions,
    confirmed_audits,
    hold_starts,
    rollbacks,
    unconfirmed_deletions,
)
from controller.registry import Registry, open_registry, registry_ref
from controller.registry.sources import Sources
from controller.review import (
    active_freeze,
    evidence_needs,
    needs_by_registry,
    planned_gate,
    recheck,
    review,
    to_detail,
)
from controller.saved_plan import (
    check_manifest,
    check_registry,
    check_still_current,
    read_plan,
    with_manifest_policy,
    write_plan,
)
from controller.state import LiveState, RawVersion
from controller.target import TargetFlags
from controller.update import update
from controller.values import (
    ApplyReport,
    CopyRef,
    HistoryEntry,
    Plan,
    PlanProblem,
    PlanSource,
    Problem,
    Targeting,
)

__all__ = [
    "Delivery",
    "Event",
    "FreezeOverride",
    "Halt",
    "LoadedManifest",
    "Registry",
    "Sources",
    "TargetFlags",
    "ToApply",
    "apply",
    "apply_event",
    "check_out",
    "error_event",
    "fetch_branch",
    "github_commit_url",
    "history",
    "import_",
    "is_ancestor",
    "notify",
    "open_registry",
    "open_sources",
    "plan",
    "plan_event",
    "plan_to_apply",
    "promote",
    "promote_copy",
    "receivers",
    "register_alias_webhook",
    "registry_ref",
    "rollback",
    "update",
    "validate",
    "write_plan",
]


def validate(path: str) -> LoadedManifest:
    """Load and check a manifest offline; raises ManifestError with every problem found."""
    return load_manifest(path)


def open_sources(loaded: LoadedManifest, registry: Registry) -> Sources:
    """The registries the manifest copies from, each opened with its own credentials."""
    return Sources(registry, {n: s.tracking_uri for n, s in loaded.manifest.sources.items()})


def _read_copies(
    loaded: LoadedManifest, sources: Sources, target: Targeting | None
) -> dict[tuple[str, str], CopyRef | str]:
    """Each declared copy as its source holds it, with this registry's verified copy of it."""
    return {
        (name, alias): sources.resolve(
            name, alias, value.source, value.model or name, value.version
        )
        for name, spec in loaded.manifest.models.items()
        if not target or target.covers_model(name)
        for alias, value in spec.aliases.items()
        if isinstance(value, CopyFrom) and (not target or target.covers(name, alias))
    }


def _copy_warnings(loaded: LoadedManifest, sources: Sources) -> list[PlanProblem]:
    """Versions whose tags claim a copy's lineage but whose files do not match it."""
    found = []
    for (name, alias), message in sorted(sources.warnings.items()):
        line, col = loaded.value_location("models", name, "aliases", alias)
        found.append(
            PlanProblem(
                model=name, alias=alias, message=message, file=loaded.path, line=line, col=col
            )
        )
    return found


def _read_evidence(
    registry: Registry,
    sources: Sources,
    needs: EvidenceNeeds,
    live: LiveState | None,
    cached: bool = False,
) -> dict[tuple[str, int], RawVersion]:
    """`registry.read_evidence`, with a copy's source version read where it is (its source's
    registry, its credentials) and filed under its `facts_key`. `cached`: signatures only
    shown, which may come from the cache (registry/cache.py)."""
    found: dict[tuple[str, int], RawVersion] = {}
    for source, (own, plan_keys) in needs_by_registry(needs).items():
        if source is None:
            found |= registry.read_evidence(own, live, cached=cached)
            continue
        read = sources.registry(source).read_evidence(own, cached=cached)
        found |= {plan_keys[key]: raw for key, raw in read.items()}
    return found


def _with_source_aliases(plan: Plan, sources: Sources) -> Plan:
    """The plan with each gated copy's source aliases as the source shows them now."""
    changes = []
    for change in plan.changes:
        copy = change.copy_from
        if copy is not None and change.address in plan.gate_specs:
            copy = copy.model_copy(update={"aliases": sources.aliases_now(copy)})
            change = change.model_copy(update={"copy_from": copy})
        changes.append(change)
    return plan.model_copy(update={"changes": changes})


def plan(
    loaded: LoadedManifest,
    registry: Registry,
    *,
    at: datetime | None = None,
    targets: list[str] | None = None,
    details: bool = True,
    sources: Sources | None = None,
) -> Plan:
    """Read the models this manifest owns (one search), then the other declared models and
    every declared model's versions in batches; then gather evidence and check the gates.

    Evidence is read in two rounds: what the gates need, then (with `details`) the full
    evidence of the first DETAILED_CHANGES changes, failing ones first. Apply plans without
    details: it reads no evidence that no gate needs.
    `targets` (MODEL or MODEL@ALIAS) limit the plan, and the state read, to those models.
    A declared copy reads its source version and this registry's copies of it (their files
    too: a copy is trusted only once its files match).
    """
    sources = sources or open_sources(loaded, registry)
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
    copies = _read_copies(loaded, sources, target)
    made = confirm_deletions(
        make_plan(
            loaded,
            live,
            owned,
            owner,
            target,
            copies,
            former_owners=former_identities(loaded.manifest.name, *where),
        ),
        loaded,
        {**owned, **live.models},
    )
    history = AliasHistory(loaded.path)  # rollback lanes and soaks read it once, together
    made = rollbacks(made, history)
    moment = at or now()
    gated = evidence_needs(made.changes, loaded.manifest.gate_for)
    versions = _read_evidence(registry, sources, gated, live)
    audits = confirmed_audits(made, loaded.path, versions)
    holds = hold_starts(made.changes, loaded.manifest.gate_for, history, versions)
    reviewed = review(made, loaded, live, versions, moment, audits, holds, detailed=())
    if details and made.changes:
        detailed = to_detail(reviewed.changes)
        shown = evidence_needs(made.changes, loaded.manifest.gate_for, detailed).without(gated)
        more = _read_evidence(registry, sources, shown, live, cached=True)  # shown, not judged
        versions = merged(versions, more, shown)
        reviewed = review(made, loaded, live, versions, moment, audits, holds, detailed=detailed)
    reviewed = within_target(reviewed)
    return reviewed.model_copy(
        update={
            "registry": ref,
            "source": source,
            "warnings": [*reviewed.warnings, *_copy_warnings(loaded, sources)],
        }
    )


@dataclass(frozen=True)
class ToApply:
    """The plan apply will carry out, the registry it goes to, and the manifest's warnings."""

    plan: Plan
    registry: Registry
    sources: Sources
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
        sources = open_sources(loaded, registry)
        computed = plan(loaded, registry, targets=targets, details=False, sources=sources)
        warnings: list[Problem | str] = [*loaded.warnings, *off_default_branch(loaded.path)]
        return ToApply(computed, registry, sources, warnings)
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
    return ToApply(
        saved.model_copy(update={"registry": registry_ref(registry)}),
        registry,
        open_sources(planned, registry),
        off_default_branch(planned.path),
    )


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
    reason: str | None = None,
    actor: str | None = None,
    sources: Sources | None = None,
) -> ApplyReport:
    """Apply a plan: not in a freeze, a saved one only if nothing moved, gates checked afresh.

    Setting `halt` (from a signal handler, say) starts no new writes; the rest still runs.
    `reason` goes into the audit tags (the controller's "self-heal"); `actor`, when given,
    names who applied instead of CI's or git's user (the controller names itself).
    A copy is made (or found) and verified through `sources` before its alias moves.
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
        history = AliasHistory(plan.source.manifest_path if plan.source else None)
        plan = rollbacks(plan, history)
        live = registry.read_state([*plan.models, *plan.released])
        check_still_current(plan, live)
        if sources is not None:  # what a copy's source version holds is read now too
            plan = _with_source_aliases(plan, sources)
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
        fresh = _read_evidence(
            registry,
            sources or Sources(registry, {}),
            evidence_needs(gated.changes, partial(planned_gate, plan)),
            live,
        )
        audits = confirmed_audits(plan, history.path, fresh)
        holds = hold_starts(plan.changes, partial(planned_gate, plan), history, fresh)
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
    if reason or actor:
        record = record.model_copy(
            update={"reason": reason or record.reason, "actor": actor or record.actor}
        )
    return apply_plan(plan, registry, record, halt, sources.ensure if sources else None)


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


# The name the controller's MLflow webhook is registered under (one per registry).
ALIAS_WEBHOOK_NAME = "mlflow-gitops-controller"


def register_alias_webhook(registry: Registry, url: str, secret: str) -> str:
    """Point the registry's alias webhook at `url` (the controller's /hooks/mlflow)."""
    return registry.ensure_alias_webhook(ALIAS_WEBHOOK_NAME, url, secret)


def history(
    path: str, model: str | None = None, alias: str | None = None, limit: int | None = None
) -> tuple[list[HistoryEntry], list[str]]:
    """Alias changes across the manifest's git history, newest first, and skip warnings."""
    entries, warnings = alias_changes(manifest_revisions(path))
    return select(entries, model, alias, limit), warnings

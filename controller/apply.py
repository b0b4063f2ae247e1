"""Carry out a plan: write aliases, read them back, then record last-applied and audit tags.

One batched read-back decides every status, whatever the write calls said: a write whose reply
was lost but that landed is applied; one that the registry does not show failed; and when the
read-back itself fails, every attempted change is unknown and nothing is recorded.

Works against any `RegistryWriter` (the real one is `registry.Registry`), so its failure
paths are unit-tested with a small in-memory registry and proven end to end on a server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Protocol

from controller.errors import ApplyRefused, CopyError, RegistryError, RegistryUnreachable
from controller.github_actions import in_github_actions
from controller.plan import outside
from controller.state import AuditRecord, LastApplied, LiveModel, LiveState, audit_tag_key
from controller.values import (
    UNCOMMITTED,
    ApplyReport,
    Change,
    ChangeResult,
    CopyRef,
    ModelSnapshot,
    Plan,
    Provenance,
)


class RegistryWriter(Protocol):
    """What apply needs from a registry."""

    @property
    def max_parallel_writes(self) -> int: ...

    # Whether a model's owner may be recorded in its last-applied record alone.
    owner_in_record: bool

    def read_state(self, names: Iterable[str]) -> LiveState: ...

    def set_alias(self, model: str, alias: str, version: int) -> None: ...

    def delete_alias(self, model: str, alias: str) -> None: ...

    def write_last_applied(self, model: str, last_applied: LastApplied) -> None: ...

    def tag_version(self, model: str, version: int, key: str, value: str) -> None: ...

    def write_owner(self, model: str, owner: str) -> None: ...

    def forget(self, model: str) -> None: ...


# Makes or finds a model's verified copy of a version held elsewhere (registry/sources.py).
Copier = Callable[[str, CopyRef], int]


def _no_copier(model: str, copy: CopyRef) -> int:
    raise CopyError(f"{model}: no source registry is open to copy {copy.named()} from")


UNREACHABLE = "registry unreachable"


class Halt:
    """Why new writes must stop: the registry is unreachable, or the run was interrupted.

    Set from worker threads and from signal handlers; writes already started still finish.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


def _write(registry: RegistryWriter, change: Change, halt: Halt, copier: Copier) -> ChangeResult:
    if halt.is_set():
        return ChangeResult.of(change, "skipped", f"not attempted: {halt.reason}")
    try:
        if not change.sets:
            registry.delete_alias(change.model, change.alias)
        elif change.copy_from is not None:
            # Found or made, and verified, before the alias moves; the copy is what it points at.
            change = change.model_copy(
                update={"to_version": copier(change.model, change.copy_from)}
            )
            registry.set_alias(change.model, change.alias, change.to_version or 0)
        elif change.to_version is not None:
            registry.set_alias(change.model, change.alias, change.to_version)
    except RegistryUnreachable as exc:
        halt.set(UNREACHABLE)
        return ChangeResult.of(change, "failed", str(exc))
    except RegistryError as exc:
        return ChangeResult.of(change, "failed", str(exc))
    applied = ChangeResult.of(change, "applied")
    if change.copy_from is not None:
        applied = applied.model_copy(update={"note": f"the copy is v{change.to_version}"})
    return applied


def _decided_by_read_back(result: ChangeResult, after: LiveState) -> ChangeResult:
    """The registry is the judge: a write it shows is applied (even if its reply was lost),
    and one it does not show failed, whatever the write call said."""
    if result.status == "skipped":
        return result
    model = after.models.get(result.model)
    actual = model.aliases.get(result.alias) if model else None
    if result.copy_from is not None and result.to_version is None:
        return result  # the copy failed before any alias write: nothing to read back
    if actual == result.to_version:
        if result.status == "applied":
            return result
        return result.model_copy(
            update={
                "status": "applied",
                "error": None,
                "note": f"the registry shows it although the write reported: {result.error}",
            }
        )
    if result.status == "failed":
        return result
    return result.model_copy(
        update={
            "status": "failed",
            "error": f"read-back shows {result.address} -> {actual}, expected {result.to_version}",
        }
    )


def _unknown(result: ChangeResult, reason: str) -> ChangeResult:
    if result.status == "skipped":
        return result
    return result.model_copy(
        update={"status": "unknown", "error": f"{reason} (the write said: {result.status})"}
    )


def _next_last_applied(
    name: str, snapshot: ModelSnapshot, results: list[ChangeResult], after: LiveState, plan: Plan
) -> dict[str, int]:
    """Declared aliases that now hold, keeping the old record for any alias whose change failed
    and for those outside a targeted plan's target (it did not look at them)."""
    previous = dict(snapshot.last_applied or {})
    failed = {r.alias for r in results if r.model == name and r.status != "applied"}
    failed |= {alias for _, alias in outside({name: snapshot}, plan.target)}
    model = after.models.get(name)
    live = model.aliases if model else {}
    made = {r.alias: r.to_version for r in results if r.model == name}
    recorded = {}
    for alias, declared in snapshot.declared.items():
        version = declared.local if isinstance(declared, CopyRef) else declared
        version = made.get(alias, version)
        if version is not None and live.get(alias) == version and alias not in failed:
            recorded[alias] = version
    for alias in failed:
        recorded.pop(alias, None)
        if alias in previous:
            recorded[alias] = previous[alias]
    return dict(sorted(recorded.items()))


def _as_observed(plan: Plan) -> LiveState:
    """Where nothing was written, the registry is as the plan observed it: no need to read."""
    return LiveState(
        models={
            name: LiveModel(name=name, aliases=dict(snapshot.observed))
            for name, snapshot in plan.models.items()
        }
    )


def _recorded_meanwhile(name: str, snapshot: ModelSnapshot, after: LiveState) -> bool:
    """Another apply recorded last-applied since this plan read it: do not overwrite theirs."""
    model = after.models.get(name)
    now = model.last_applied.aliases if model and model.last_applied else None
    return now != snapshot.last_applied


def apply_plan(
    plan: Plan,
    registry: RegistryWriter,
    provenance: Provenance,
    halt: Halt | None = None,
    copier: Copier | None = None,
) -> ApplyReport:
    """Apply a valid plan's changes in parallel; one read-back decides every status; record
    last-applied and audit tags only for what the read-back confirmed. A copy is found or
    made, and verified, by `copier` before its alias moves; one that fails fails alone."""
    halt = halt or Halt()
    copy = copier or _no_copier
    with ThreadPoolExecutor(max_workers=registry.max_parallel_writes) as pool:
        written = list(pool.map(lambda c: _write(registry, c, halt, copy), plan.changes))

    errors: list[str] = []
    if halt.is_set() and halt.reason != UNREACHABLE:
        errors.append(f"{halt.reason}: no new writes were started")
    # Only models with an attempted write can have moved because of us: read those back; the
    # rest are as the plan observed them (nothing of ours touched them).
    touched = sorted({r.model for r in written if r.status != "skipped"})
    try:
        after = _as_observed(plan)
        if touched:
            untouched = {n: m for n, m in after.models.items() if n not in touched}
            after = LiveState(models=untouched | registry.read_state(touched).models)
    except RegistryError as exc:
        reason = f"could not read back the registry: {exc}"
        return ApplyReport(
            registry=plan.registry,
            changes=[_unknown(r, reason) for r in written],
            errors=[*errors, reason],
        )
    results = [_timed(_decided_by_read_back(r, after), provenance) for r in written]

    by_model: dict[str, list[ChangeResult]] = {}
    for result in results:
        by_model.setdefault(result.model, []).append(result)
    recorded: set[str] = set()  # models whose records (and so ownership) were written

    def record(name: str) -> str | None:
        """Last-applied and ownership for one model, or why not."""
        snapshot = plan.models[name]
        own = by_model.get(name, [])
        if own and not any(r.status == "applied" for r in own):  # nothing landed: no record
            return None
        if own and _recorded_meanwhile(name, snapshot, after):
            return (
                f"conflict on {name!r}: another apply recorded last-applied since this plan "
                "read it; left theirs in place. Run plan again."
            )
        aliases = _next_last_applied(name, snapshot, own, after, plan)
        try:
            _record(registry, plan, name, snapshot, aliases, provenance)
        except RegistryError as exc:
            return f"could not record last-applied for {name!r}: {exc}"
        recorded.add(name)
        return None

    audited = [(r, r.to_version) for r in results if r.status == "applied" and r.to_version]
    # Records and audit tags are independent writes: all of them share the write limit, so a
    # first apply (adoption) records a thousand models in parallel, not one by one.
    with ThreadPoolExecutor(max_workers=registry.max_parallel_writes) as pool:
        failed_records = pool.map(record, list(plan.models))
        audits = pool.map(lambda rv: _audit(registry, rv[0], rv[1], provenance), audited)
        errors += [error for error in failed_records if error]
        errors += [failure for failure in audits if failure]
    released = []
    for name in plan.released:
        try:
            registry.forget(name)
        except RegistryError as exc:
            errors.append(f"could not release {name!r}: {exc}")
        else:
            released.append(name)
    landed = {*recorded, *released}

    return ApplyReport(
        registry=plan.registry,
        changes=results,
        errors=errors,
        released=released,
        ownership=[change for change in plan.ownership if change.model in landed],
        target=plan.target,
    )


def _timed(result: ChangeResult, provenance: Provenance) -> ChangeResult:
    """An applied rollback with the seconds from its commit to this apply moving the alias."""
    lane = result.rollback
    if result.status != "applied" or lane is None or lane.committed_at is None:
        return result
    took = datetime.fromisoformat(provenance.applied_at) - datetime.fromisoformat(lane.committed_at)
    return result.model_copy(update={"rollback_seconds": int(took.total_seconds())})


def _rollback_word(result: ChangeResult) -> str | None:
    """What the audit record says of a rollback: where it returned to, and what was waived."""
    lane = result.rollback
    if lane is None:
        return None
    return lane.waiver(result.alias) or (
        f"a rollback to a version that served as {result.alias} until {lane.served_until[:10]}"
    )


def _audit(
    registry: RegistryWriter, result: ChangeResult, version: int, provenance: Provenance
) -> str | None:
    """Tag the version an alias now points at with who set it, and from what; or say why not."""
    audit = AuditRecord(
        rollback=_rollback_word(result),
        rollback_seconds=result.rollback_seconds,
        alias=result.alias,
        commit=provenance.commit,
        actor=provenance.actor,
        applied_at=provenance.applied_at,
        from_version=result.from_version,
        manifest_sha256=provenance.manifest_sha256,
        freeze_override=provenance.freeze_override,
        reason=provenance.reason,
    )
    try:
        registry.tag_version(
            result.model, version, audit_tag_key(result.alias), audit.to_tag_value()
        )
    except RegistryError as exc:
        return f"could not write the audit tag for {result.address}: {exc}"
    return None


def _record(
    registry: RegistryWriter,
    plan: Plan,
    name: str,
    snapshot: ModelSnapshot,
    aliases: dict[str, int],
    provenance: Provenance,
) -> None:
    """Last-applied and ownership for one model; a removed model with nothing left is let go."""
    if snapshot.removed and not aliases:
        registry.forget(name)
        return
    new_owner = plan.owner if plan.owner != snapshot.owner and not snapshot.removed else None
    # A first apply records the owner in last-applied alone (one write per model, not two),
    # where the registry finds owners there; a take-over rewrites an owner tag in its place.
    if new_owner and (snapshot.owner is not None or not registry.owner_in_record):
        registry.write_owner(name, new_owner)
    if (snapshot.last_applied or {}) == aliases and not new_owner:
        return
    registry.write_last_applied(
        name,
        LastApplied(
            aliases=aliases,
            commit=provenance.commit,
            actor=provenance.actor,
            applied_at=provenance.applied_at,
            owner=plan.owner,
            manifest_sha256=provenance.manifest_sha256,
        ),
    )


def refuse_uncommitted_in_ci(plan: Plan) -> None:
    """In CI the manifest applied must be one a reviewer could have seen: a commit's."""
    source = plan.source
    if in_github_actions() and (source is None or source.committed == UNCOMMITTED):
        where = source.manifest_path if source else "the manifest"
        commit = (source.commit if source else None) or "none"
        raise ApplyRefused(
            f"refusing to apply an uncommitted manifest in GitHub Actions: {where} differs "
            f"from commit {commit[:12]} (or is not in git); apply only what a commit declares"
        )


def refused(plan: Plan, reason: str) -> ApplyReport:
    """A report for a plan that must not be applied: nothing was written."""
    return ApplyReport(
        changes=[ChangeResult.of(c, "skipped", reason) for c in plan.changes],
        errors=[reason],
        target=plan.target,
    )

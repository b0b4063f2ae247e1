"""Carry out a plan: write aliases, read them back, then record last-applied and audit tags.

Works against any `RegistryWriter` (the real one is `registry.Registry`), so its failure
paths are unit-tested with a small in-memory registry and proven end to end on a server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from controller.errors import RegistryError, RegistryUnreachable
from controller.state import AuditRecord, LastApplied, LiveModel, LiveState, audit_tag_key
from controller.values import ApplyReport, Change, ChangeResult, ModelSnapshot, Plan, Provenance


class RegistryWriter(Protocol):
    """What apply needs from a registry."""

    @property
    def max_parallel_writes(self) -> int: ...

    def read_state(self, names: Iterable[str]) -> LiveState: ...

    def set_alias(self, model: str, alias: str, version: int) -> None: ...

    def delete_alias(self, model: str, alias: str) -> None: ...

    def write_last_applied(self, model: str, last_applied: LastApplied) -> None: ...

    def tag_version(self, model: str, version: int, key: str, value: str) -> None: ...


def _write(registry: RegistryWriter, change: Change, stop: threading.Event) -> ChangeResult:
    if stop.is_set():
        return ChangeResult.of(change, "skipped", "registry unreachable")
    try:
        if change.to_version is None:
            registry.delete_alias(change.model, change.alias)
        else:
            registry.set_alias(change.model, change.alias, change.to_version)
    except RegistryUnreachable as exc:
        stop.set()
        return ChangeResult.of(change, "failed", str(exc))
    except RegistryError as exc:
        return ChangeResult.of(change, "failed", str(exc))
    return ChangeResult.of(change, "applied")


def _confirmed_by_read_back(result: ChangeResult, after: LiveState) -> ChangeResult:
    """A write the registry accepted but does not show is a failure, not a success."""
    if result.status != "applied":
        return result
    model = after.models.get(result.model)
    actual = model.aliases.get(result.alias) if model else None
    if actual == result.to_version:
        return result
    return result.model_copy(
        update={
            "status": "failed",
            "error": f"read-back shows {result.address} -> {actual}, expected {result.to_version}",
        }
    )


def _next_last_applied(
    name: str, snapshot: ModelSnapshot, results: list[ChangeResult], after: LiveState
) -> dict[str, int]:
    """Declared aliases that now hold, keeping the old record for any alias whose change failed."""
    previous = dict(snapshot.last_applied or {})
    failed = {r.alias for r in results if r.model == name and r.status != "applied"}
    model = after.models.get(name)
    live = model.aliases if model else {}
    recorded = {
        alias: version
        for alias, version in snapshot.declared.items()
        if version is not None and live.get(alias) == version and alias not in failed
    }
    for alias in failed:
        if alias in previous:
            recorded[alias] = previous[alias]
    return dict(sorted(recorded.items()))


def _as_observed(plan: Plan) -> LiveState:
    """With nothing written, the registry is as the plan observed it: no need to read again."""
    return LiveState(
        models={
            name: LiveModel(name=name, aliases=dict(snapshot.observed))
            for name, snapshot in plan.models.items()
        }
    )


def apply_plan(plan: Plan, registry: RegistryWriter, provenance: Provenance) -> ApplyReport:
    """Apply a valid plan's changes in parallel, verify them, and record what now holds."""
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=registry.max_parallel_writes) as pool:
        written = list(pool.map(lambda c: _write(registry, c, stop), plan.changes))

    errors: list[str] = []
    try:
        after = registry.read_state(plan.models) if plan.changes else _as_observed(plan)
    except RegistryError as exc:
        failed = [
            r.model_copy(update={"status": "failed", "error": f"not verified: {exc}"})
            if r.status == "applied"
            else r
            for r in written
        ]
        return ApplyReport(changes=failed, errors=[f"could not read back the registry: {exc}"])
    results = [_confirmed_by_read_back(r, after) for r in written]

    for name, snapshot in plan.models.items():
        aliases = _next_last_applied(name, snapshot, results, after)
        if (snapshot.last_applied or {}) == aliases:  # nothing new to record
            continue
        record = LastApplied(
            aliases=aliases,
            commit=provenance.commit,
            actor=provenance.actor,
            applied_at=provenance.applied_at,
        )
        try:
            registry.write_last_applied(name, record)
        except RegistryError as exc:
            errors.append(f"could not record last-applied for {name!r}: {exc}")

    for result in results:
        if result.status != "applied" or result.to_version is None:
            continue
        audit = AuditRecord(
            commit=provenance.commit,
            actor=provenance.actor,
            applied_at=provenance.applied_at,
            from_version=result.from_version,
            freeze_override=provenance.freeze_override,
        )
        try:
            registry.tag_version(
                result.model, result.to_version, audit_tag_key(result.alias), audit.to_tag_value()
            )
        except RegistryError as exc:
            errors.append(f"could not write the audit tag for {result.address}: {exc}")
    return ApplyReport(changes=results, errors=errors)

"""Carry out a plan: write aliases, read them back, then record last-applied and audit tags."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from controller.plan import Change, ModelSnapshot, Plan, Record
from controller.registry import Registry, RegistryError, RegistryUnreachable
from controller.state import AUDIT_TAG_PREFIX, LastApplied, LiveModel, LiveState

Status = Literal["applied", "failed", "skipped"]


@dataclass(frozen=True)
class Provenance:
    """Who applied what, recorded on the registry so a change can be traced to its commit."""

    commit: str | None
    actor: str | None
    applied_at: str
    freeze_override: str | None = None


class ChangeResult(Change):
    status: Status
    error: str | None = None


class ApplyReport(Record):
    changes: list[ChangeResult] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(c.status == "applied" for c in self.changes)

    def count(self, status: Status) -> int:
        return sum(c.status == status for c in self.changes)

    def to_json_dict(self) -> dict:
        data = self.model_dump(mode="json", by_alias=True)
        data["summary"] = {s: self.count(s) for s in ("applied", "failed", "skipped")}
        return data


def _write(registry: Registry, change: Change, stop: threading.Event) -> ChangeResult:
    if stop.is_set():
        return ChangeResult(**change.model_dump(), status="skipped", error="registry unreachable")
    try:
        if change.to_version is None:
            registry.delete_alias(change.model, change.alias)
        else:
            registry.set_alias(change.model, change.alias, change.to_version)
    except RegistryUnreachable as exc:
        stop.set()
        return ChangeResult(**change.model_dump(), status="failed", error=str(exc))
    except RegistryError as exc:
        return ChangeResult(**change.model_dump(), status="failed", error=str(exc))
    return ChangeResult(**change.model_dump(), status="applied")


def _verify(result: ChangeResult, after: LiveState) -> ChangeResult:
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


def apply_plan(plan: Plan, registry: Registry, provenance: Provenance) -> ApplyReport:
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
    results = [_verify(r, after) for r in written]

    for name, snapshot in plan.models.items():
        aliases = _next_last_applied(name, snapshot, results, after)
        if snapshot.last_applied == aliases:
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

    audit = {"commit": provenance.commit, "actor": provenance.actor, "at": provenance.applied_at}
    if provenance.freeze_override:
        audit["freeze_override"] = provenance.freeze_override
    for result in results:
        if result.status != "applied" or result.to_version is None:
            continue
        value = json.dumps({**audit, "from": result.from_version}, separators=(",", ":"))
        try:
            registry.tag_version(
                result.model, result.to_version, AUDIT_TAG_PREFIX + result.alias, value
            )
        except RegistryError as exc:
            errors.append(f"could not write the audit tag for {result.address}: {exc}")
    return ApplyReport(changes=results, errors=errors)

"""The three-way diff: declared (manifest) x live (registry) x last-applied (tag) -> Plan.

Pure: no I/O. The Plan is a value, computed once, rendered in every format, saved with
`plan --out` and applied exactly by `apply --plan`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from controller.evidence import ChangeEvidence, GateResult
from controller.manifest import LoadedManifest
from controller.state import READY, LiveModel, LiveState

Action = Literal["create", "update", "delete"]
Reason = Literal["assign", "promote", "rollback", "drift", "removed", "prune"]

PLAN_FORMAT_VERSION = 1


class Record(BaseModel):
    """Immutable, JSON-serialisable data; field aliases give the wire names (`from`, `to`)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)


class Change(Record):
    model: str
    alias: str
    action: Action
    from_version: int | None = Field(alias="from")
    to_version: int | None = Field(alias="to")
    reason: Reason
    evidence: ChangeEvidence | None = None
    gates: list[GateResult] = Field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.model}@{self.alias}"


class UnmanagedAlias(Record):
    model: str
    alias: str
    version: int


class PlanError(Record):
    model: str
    alias: str | None = None
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None


class Summary(Record):
    create: int = 0
    update: int = 0
    delete: int = 0
    unchanged: int = 0


class ModelSnapshot(Record):
    """What the plan saw and wants for one model; apply uses it to refuse a stale plan."""

    declared: dict[str, int | None]
    observed: dict[str, int]
    last_applied: dict[str, int] | None = None
    prune: bool = False


class Plan(Record):
    format_version: int = PLAN_FORMAT_VERSION
    manifest: str | None = None
    changes: list[Change] = Field(default_factory=list)
    unmanaged: list[UnmanagedAlias] = Field(default_factory=list)
    errors: list[PlanError] = Field(default_factory=list)
    summary: Summary = Field(default_factory=Summary)
    models: dict[str, ModelSnapshot] = Field(default_factory=dict)
    # The policy as declared, so `apply --plan` checks the gates again without the manifest.
    gate_specs: dict[str, dict] = Field(default_factory=dict)
    freeze: list[dict[str, str]] = Field(default_factory=list)
    computed_at: str | None = None

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def to_json_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)


def _reason_for_set(declared: int, live: int | None, last: int | None) -> Reason:
    # Drift means someone moved the alias since we last applied it (e.g. in the MLflow UI).
    if last is not None and live != last:
        return "drift"
    if live is None:
        return "assign"
    return "promote" if declared > live else "rollback"


def version_problem(model: LiveModel, version: int) -> str | None:
    """Why an alias may not point at this version, or None: it must exist and be READY."""
    status = model.versions.get(version)
    if status is None:
        return f"version {version} of model {model.name!r} does not exist"
    if status != READY:
        return f"version {version} of model {model.name!r} is {status}, not {READY}"
    return None


def _deletion(model: str, alias: str, current: int, reason: Reason) -> Change:
    return Change(
        model=model,
        alias=alias,
        action="delete",
        from_version=current,
        to_version=None,
        reason=reason,
    )


def _plan_model(
    name: str, loaded: LoadedManifest, live: LiveModel
) -> tuple[list[Change], list[UnmanagedAlias], list[PlanError], int]:
    spec = loaded.manifest.models[name]
    last = live.last_applied.aliases if live.last_applied else {}
    changes: list[Change] = []
    errors: list[PlanError] = []
    unchanged = 0

    for alias, declared in spec.aliases.items():
        current = live.aliases.get(alias)
        if declared is not None:
            problem = version_problem(live, declared)
            if problem:
                line, col = loaded.value_location("models", name, "aliases", alias)
                errors.append(
                    PlanError(
                        model=name,
                        alias=alias,
                        message=problem,
                        file=loaded.path,
                        line=line,
                        col=col,
                    )
                )
                continue
        if current == declared:
            unchanged += 1
        elif declared is None:
            changes.append(_deletion(name, alias, current, "removed"))
        else:
            changes.append(
                Change(
                    model=name,
                    alias=alias,
                    action="create" if current is None else "update",
                    from_version=current,
                    to_version=declared,
                    reason=_reason_for_set(declared, current, last.get(alias)),
                )
            )

    unmanaged: list[UnmanagedAlias] = []
    policy = loaded.manifest.unmanaged_policy(name)
    for alias, current in sorted(live.aliases.items()):
        if alias in spec.aliases:
            continue
        if alias in last or policy == "delete":
            changes.append(_deletion(name, alias, current, "removed" if alias in last else "prune"))
            continue
        unmanaged.append(UnmanagedAlias(model=name, alias=alias, version=current))
        if policy == "error":
            line, col = loaded.location("models", name, "unmanaged")
            if ("models", name, "unmanaged") not in loaded.key_marks:
                line, col = loaded.location("models", name)
            errors.append(
                PlanError(
                    model=name,
                    alias=alias,
                    message=f"{name}@{alias} -> {current} is set in the registry but not declared "
                    "(unmanaged: error): declare it, or delete it in the registry",
                    file=loaded.path,
                    line=line,
                    col=col,
                )
            )
    return changes, unmanaged, errors, unchanged


def make_plan(loaded: LoadedManifest, live: LiveState) -> Plan:
    """Compute the plan for every model in the manifest, and only those."""
    changes: list[Change] = []
    unmanaged: list[UnmanagedAlias] = []
    errors: list[PlanError] = []
    unchanged = 0
    snapshots: dict[str, ModelSnapshot] = {}
    for name, spec in loaded.manifest.models.items():
        model = live.models.get(name)
        if model is None:
            line, col = loaded.location("models", name)
            errors.append(
                PlanError(
                    model=name,
                    message=f"registered model {name!r} does not exist",
                    file=loaded.path,
                    line=line,
                    col=col,
                )
            )
            continue
        model_changes, model_unmanaged, model_errors, model_unchanged = _plan_model(
            name, loaded, model
        )
        changes += model_changes
        unmanaged += model_unmanaged
        errors += model_errors
        unchanged += model_unchanged
        snapshots[name] = ModelSnapshot(
            declared=dict(spec.aliases),
            observed=dict(model.aliases),
            last_applied=dict(model.last_applied.aliases) if model.last_applied else None,
            prune=loaded.manifest.unmanaged_policy(name) == "delete",
        )
    summary = Summary(
        create=sum(c.action == "create" for c in changes),
        update=sum(c.action == "update" for c in changes),
        delete=sum(c.action == "delete" for c in changes),
        unchanged=unchanged,
    )
    return Plan(
        manifest=loaded.path,
        changes=changes,
        unmanaged=unmanaged,
        errors=errors,
        summary=summary,
        models=snapshots,
    )


def moved_aliases(plan: Plan, live: LiveState) -> list[str]:
    """Aliases whose live value differs from what a saved plan observed: the plan is stale."""
    moved = []
    for name, snapshot in plan.models.items():
        model = live.models.get(name)
        now = model.aliases if model else {}
        for alias in sorted(set(snapshot.observed) | set(now)):
            before, after = snapshot.observed.get(alias), now.get(alias)
            if before != after:
                moved.append(f"{name}@{alias} (plan saw {before}, now {after})")
        if model is None:
            moved.append(f"{name} (registered model no longer exists)")
    return moved

"""The three-way diff: declared (manifest) x live (registry) x last-applied (tag) -> Plan.

Pure: no I/O. The Plan is a value, computed once, rendered in every format, saved with
`plan --out` and applied exactly by `apply --plan`.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.manifest import LoadedManifest
from controller.state import READY, LiveModel, LiveState
from controller.values import (
    Change,
    ModelSnapshot,
    Plan,
    PlanProblem,
    Reason,
    Summary,
    UnmanagedAlias,
)


def _problem(
    loaded: LoadedManifest,
    location: tuple[int, int],
    model: str,
    message: str,
    alias: str | None = None,
) -> PlanProblem:
    line, col = location
    return PlanProblem(
        model=model, alias=alias, message=message, file=loaded.path, line=line, col=col
    )


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
) -> tuple[list[Change], list[UnmanagedAlias], list[PlanProblem], int]:
    spec = loaded.manifest.models[name]
    last = live.last_applied.aliases if live.last_applied else {}
    changes: list[Change] = []
    errors: list[PlanProblem] = []
    unchanged = 0

    for alias, declared in spec.aliases.items():
        current = live.aliases.get(alias)
        if declared is not None:
            problem = version_problem(live, declared)
            if problem:
                where = loaded.value_location("models", name, "aliases", alias)
                errors.append(_problem(loaded, where, name, problem, alias))
                continue
        if current == declared:
            unchanged += 1
        elif declared is not None:
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
        elif current is not None:
            changes.append(_deletion(name, alias, current, "removed"))

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
            path = ("models", name, "unmanaged")
            where = loaded.location(*(path if path in loaded.key_marks else path[:2]))
            message = (
                f"{name}@{alias} -> {current} is set in the registry but not declared "
                "(unmanaged: error): declare it, or delete it in the registry"
            )
            errors.append(_problem(loaded, where, name, message, alias))
    return changes, unmanaged, errors, unchanged


def _unavailable(loaded: LoadedManifest, name: str, live: LiveState) -> PlanProblem:
    """A declared model the registry did not return: hidden from us, or truly absent."""
    if name in live.denied:
        message = (
            f"permission denied reading registered model {name!r}: these credentials may not see it"
        )
    else:
        message = f"registered model {name!r} does not exist"
    return _problem(loaded, loaded.location("models", name), name, message)


def _claimed_elsewhere(
    loaded: LoadedManifest, name: str, model: LiveModel, owner: str | None
) -> PlanProblem | None:
    """Another manifest manages this model, and this one did not say it takes it over."""
    if not model.owner or model.owner == owner or loaded.manifest.models[name].take_over:
        return None
    message = (
        f"registered model {name!r} is managed by {model.owner}; release it there, "
        "or set take_over: true on it here"
    )
    return _problem(loaded, loaded.location("models", name), name, message)


def _removed_model(model: LiveModel) -> tuple[list[Change], ModelSnapshot]:
    """A model this manifest applied but no longer declares: like a removed alias, each alias
    it applied goes, whatever its value now; aliases it never set stay."""
    last = model.last_applied.aliases if model.last_applied else {}
    changes = [
        _deletion(model.name, alias, model.aliases[alias], "removed")
        for alias in sorted(last)
        if alias in model.aliases
    ]
    snapshot = ModelSnapshot(
        declared={},
        observed=dict(model.aliases),
        last_applied=dict(last),
        owner=model.owner,
        removed=True,
    )
    return changes, snapshot


def make_plan(
    loaded: LoadedManifest,
    live: LiveState,
    owned: Mapping[str, LiveModel] | None = None,
    owner: str | None = None,
) -> Plan:
    """The plan for every model the manifest declares, and for those it managed until now.

    `owned` are the models whose owner tag names this manifest (`owner`): one that is no
    longer declared is removed, or released when the manifest lists it under `release`.
    """
    changes: list[Change] = []
    unmanaged: list[UnmanagedAlias] = []
    errors: list[PlanProblem] = []
    unchanged = 0
    snapshots: dict[str, ModelSnapshot] = {}
    for name, spec in loaded.manifest.models.items():
        model = live.models.get(name)
        if model is None:
            errors.append(_unavailable(loaded, name, live))
            continue
        claimed = _claimed_elsewhere(loaded, name, model, owner)
        if claimed:
            errors.append(claimed)
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
            owner=model.owner,
        )
    removed_models: list[str] = []
    released: list[str] = []
    for name, model in sorted((owned or {}).items()):
        if name in loaded.manifest.models:
            continue
        if name in loaded.manifest.release:
            released.append(name)
            continue
        removed_changes, snapshots[name] = _removed_model(model)
        changes += removed_changes
        removed_models.append(name)
    return Plan(
        manifest_path=loaded.path,
        owner=owner,
        changes=changes,
        unmanaged=unmanaged,
        errors=errors,
        summary=Summary.of(changes, unchanged, release=len(released)),
        models=snapshots,
        removed_models=removed_models,
        released=released,
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

"""The three-way diff: declared (manifest) x live (registry) x last-applied (tag) -> Plan.

Pure: no I/O. The Plan is a value, computed once, rendered in every format, saved with
`plan --out` and applied exactly by `apply --plan`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from controller.errors import UsageError
from controller.manifest import LoadedManifest
from controller.state import READY, LiveModel, LiveState
from controller.suggest import did_you_mean
from controller.trust import Doubt, refusal
from controller.values import (
    Address,
    Change,
    CopyRef,
    ModelSnapshot,
    OwnershipChange,
    Plan,
    PlanProblem,
    Reason,
    Summary,
    Targeting,
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


def _reason_for_set(declared: int | None, live: int | None, last: int | None) -> Reason:
    """`declared` None: a copy not made yet, which is newer than anything here."""
    # Drift means someone moved the alias since we last applied it (e.g. in the MLflow UI).
    if last is not None and live != last:
        return "drift"
    if live is None:
        return "assign"
    return "promote" if declared is None or declared > live else "rollback"


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


def diff_model(
    name: str, snapshot: ModelSnapshot, skip: frozenset[str] = frozenset()
) -> tuple[list[Change], list[UnmanagedAlias], int]:
    """Changes, unmanaged aliases and the unchanged count of one model, from its snapshot alone.

    `apply --plan` runs this again on a saved plan's snapshot: a plan file can only carry out
    what its own snapshot gives. `skip` holds aliases whose declared version is unusable, and
    undeclared ones whose last-applied record git does not confirm.
    """
    last = snapshot.last_applied or {}
    changes: list[Change] = []
    unchanged = 0
    for alias, declared in snapshot.declared.items():
        if alias in skip:
            continue
        current = snapshot.observed.get(alias)
        copy = declared if isinstance(declared, CopyRef) else None
        wanted = declared.local if isinstance(declared, CopyRef) else declared
        if current == wanted and (copy is None or wanted is not None):
            unchanged += 1
        elif copy is not None or wanted is not None:
            changes.append(
                Change(
                    model=name,
                    alias=alias,
                    action="create" if current is None else "update",
                    from_version=current,
                    to_version=wanted,
                    reason=_reason_for_set(wanted, current, last.get(alias)),
                    copy_from=copy,
                )
            )
        elif current is not None:
            changes.append(_deletion(name, alias, current, "removed"))

    unmanaged: list[UnmanagedAlias] = []
    for alias, current in sorted(snapshot.observed.items()):
        if alias in snapshot.declared:
            continue
        reason: Reason | None = (
            "removed" if alias in last else ("prune" if snapshot.prune else None)
        )
        if reason is None:
            # A removed model's other aliases were never ours: left alone, and not listed.
            if not snapshot.removed:
                unmanaged.append(UnmanagedAlias(model=name, alias=alias, version=current))
        elif alias not in skip:  # skipped: a record git does not confirm (a plan problem)
            changes.append(_deletion(name, alias, current, reason))
    return changes, unmanaged, unchanged


def replay(
    snapshots: dict[str, ModelSnapshot],
    skip: frozenset[tuple[str, str]] = frozenset(),
    released: int = 0,
) -> tuple[list[Change], list[UnmanagedAlias], Summary]:
    """What a plan's snapshot gives, model by model in the plan's order."""
    changes: list[Change] = []
    unmanaged: list[UnmanagedAlias] = []
    unchanged = 0
    for name, snapshot in snapshots.items():
        skipped = frozenset(alias for model, alias in skip if model == name)
        model_changes, model_unmanaged, model_unchanged = diff_model(name, snapshot, skipped)
        changes += model_changes
        unmanaged += model_unmanaged
        unchanged += model_unchanged
    return changes, unmanaged, Summary.of(changes, unchanged, release=released)


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
    loaded: LoadedManifest,
    name: str,
    model: LiveModel,
    owner: str | None,
    former_owners: Collection[str],
) -> PlanProblem | None:
    """Another manifest manages this model, and this one did not say it takes it over."""
    if not model.owner or model.owner == owner or loaded.manifest.models[name].take_over:
        return None
    message = (
        f"registered model {name!r} is managed by {model.owner}; release it there, "
        "or set take_over: true on it here"
    )
    if model.owner in former_owners:  # this manifest, before its derived identity changed
        message = (
            f"registered model {name!r} is managed by {model.owner}, which is this manifest's "
            f"identity from before its repository changed (a remote added, or the checkout "
            f"moved; now {owner}): keep the old one with the line `name: {model.owner}` at the "
            f"top of {loaded.path}"
        )
    return _problem(loaded, loaded.location("models", name), name, message)


def ownership_changes(
    snapshots: Mapping[str, ModelSnapshot], owner: str | None, released: list[str]
) -> list[OwnershipChange]:
    """The models changing hands, from the snapshots alone (so `apply --plan` replays them):
    a declared model with no owner is adopted, one with another owner taken over (apply
    records `owner` on both), and a `release:` one let go."""
    changes = []
    for name, snapshot in snapshots.items():
        if owner is None or snapshot.removed or snapshot.owner == owner:
            continue
        if snapshot.owner is None:
            changes.append(OwnershipChange(model=name, kind="adopt"))
        else:
            changes.append(OwnershipChange(model=name, kind="take_over", previous=snapshot.owner))
    return changes + [OwnershipChange(model=name, kind="release") for name in released]


def _removed_model(model: LiveModel) -> ModelSnapshot:
    """A model this manifest applied but no longer declares: like a removed alias, each alias
    it applied goes, whatever its value now; aliases it never set stay (see diff_model)."""
    return ModelSnapshot(
        declared={},
        observed=dict(model.aliases),
        last_applied=dict(model.last_applied.aliases) if model.last_applied else {},
        owner=model.owner,
        removed=True,
    )


def _undeclared_is_error(
    loaded: LoadedManifest, name: str, snapshot: ModelSnapshot
) -> list[PlanProblem]:
    """`unmanaged: error`: an alias set by hand on a managed model is drift, not a note."""
    if loaded.manifest.unmanaged_policy(name) != "error":
        return []
    last = snapshot.last_applied or {}
    path = ("models", name, "unmanaged")
    where = loaded.location(*(path if path in loaded.key_marks else path[:2]))
    return [
        _problem(
            loaded,
            where,
            name,
            f"{name}@{alias} -> {current} is set in the registry but not declared "
            "(unmanaged: error): declare it, or delete it in the registry",
            alias,
        )
        for alias, current in sorted(snapshot.observed.items())
        if alias not in snapshot.declared and alias not in last
    ]


def targeting(
    given: list[str], loaded: LoadedManifest, managed: Mapping[str, Mapping[str, int]]
) -> Targeting:
    """`--target MODEL` or `--target MODEL@ALIAS`, checked against the manifest.

    `managed` are the models this manifest manages but no longer declares, with their aliases:
    a removed model is targetable by name. A name that is itself a model wins over a split at @.
    """
    declared = {name: set(spec.aliases) for name, spec in loaded.manifest.models.items()}
    known = {name: set(aliases) for name, aliases in managed.items()} | declared
    addresses: list[Address] = []
    for raw in given:
        model, at, alias = raw.rpartition("@")
        if raw in known:
            address = Address(model=raw)
        elif not at or model not in known:
            missing = raw if not at else model
            raise UsageError(
                f"--target {raw}: no model {missing!r} in {loaded.path}"
                f"{did_you_mean(missing, known)}"
            )
        elif alias not in known[model]:
            raise UsageError(
                f"--target {raw}: model {model!r} has no alias {alias!r} in {loaded.path}"
                f"{did_you_mean(alias, known[model])}"
            )
        else:
            address = Address(model=model, alias=alias)
        if address not in addresses:
            addresses.append(address)
    return Targeting(
        addresses=addresses,
        models=len({a.model for a in addresses}),
        total=len(known.keys() - set(loaded.manifest.release)),
    )


def outside(
    snapshots: Mapping[str, ModelSnapshot], target: Targeting | None
) -> frozenset[tuple[str, str]]:
    """(model, alias) pairs a targeted plan leaves alone in the models it covers."""
    if target is None:
        return frozenset()
    return frozenset(
        (name, alias)
        for name, snapshot in snapshots.items()
        for alias in {*snapshot.declared, *snapshot.observed}
        if not target.covers(name, alias)
    )


def skipped(plan: Plan) -> frozenset[tuple[str, str]]:
    """What replaying a plan's snapshots leaves out: unusable versions, and what is outside
    its target."""
    return unusable(plan.errors) | outside(plan.models, plan.target)


def within_target(plan: Plan) -> Plan:
    """A targeted plan's problems outside its target are warnings: they do not block it."""
    target = plan.target
    if target is None:
        return plan
    errors = [e for e in plan.errors if target.covers(e.model, e.alias)]
    elsewhere = [e for e in plan.errors if not target.covers(e.model, e.alias)]
    return plan.model_copy(update={"errors": errors, "warnings": [*plan.warnings, *elsewhere]})


# (model, alias) -> the copy as the registry layer found it, or why it cannot be planned.
Copies = Mapping[tuple[str, str], CopyRef | str]


def make_plan(
    loaded: LoadedManifest,
    live: LiveState,
    owned: Mapping[str, LiveModel] | None = None,
    owner: str | None = None,
    target: Targeting | None = None,
    copies: Copies | None = None,
    former_owners: Collection[str] = (),
) -> Plan:
    """The plan for every model the manifest declares, and for those it managed until now.

    `owned` are the models whose owner tag names this manifest (`owner`): one that is no
    longer declared is removed, or released when the manifest lists it under `release`.
    Changes come from the snapshots alone (`replay`), as `apply --plan` recomputes them.
    A `target` limits the plan to the models and aliases it names; `live` need hold no others.
    `copies` are the declared copies as read (api.plan reads them): a copy with none is a
    problem. `former_owners` are identities this manifest had before (see
    ownership.former_identities): a model one of them manages gets the one-line fix in its error.
    """
    errors: list[PlanProblem] = []
    snapshots: dict[str, ModelSnapshot] = {}
    for name, spec in loaded.manifest.models.items():
        if target and not target.covers_model(name):
            continue
        model = live.models.get(name)
        if model is None:
            errors.append(_unavailable(loaded, name, live))
            continue
        claimed = _claimed_elsewhere(loaded, name, model, owner, former_owners)
        if claimed:
            errors.append(claimed)
            continue
        wants: dict[str, int | CopyRef | None] = {}
        for alias, declared in spec.aliases.items():
            value: int | CopyRef | str | None
            if isinstance(declared, int) or declared is None:
                value = declared
                problem = None if declared is None else version_problem(model, declared)
            else:
                value = (copies or {}).get(
                    (name, alias), f"copy of {declared.named(name)} not read"
                )
                problem = value if isinstance(value, str) else None
            if problem:
                where = loaded.value_location("models", name, "aliases", alias)
                errors.append(_problem(loaded, where, name, problem, alias))
            wants[alias] = None if isinstance(value, str) else value
        snapshots[name] = ModelSnapshot(
            declared=wants,
            observed=dict(model.aliases),
            last_applied=dict(model.last_applied.aliases) if model.last_applied else None,
            prune=loaded.manifest.unmanaged_policy(name) == "delete",
            owner=model.owner,
        )
        errors += _undeclared_is_error(loaded, name, snapshots[name])
    removed_models: list[str] = []
    released: list[str] = []
    for name, model in sorted((owned or {}).items()):
        if name in loaded.manifest.models or (target and not target.covers_model(name)):
            continue
        if name in loaded.manifest.release:
            released.append(name)
            continue
        snapshots[name] = _removed_model(model)
        removed_models.append(name)
    skip = unusable(errors) | outside(snapshots, target)
    changes, unmanaged, summary = replay(snapshots, skip, len(released))
    return Plan(
        manifest_path=loaded.path,
        owner=owner,
        changes=changes,
        unmanaged=unmanaged,
        errors=errors,
        summary=summary,
        models=snapshots,
        removed_models=removed_models,
        released=released,
        ownership=ownership_changes(snapshots, owner, released),
        target=target,
    )


def leave_unconfirmed(plan: Plan, loaded: LoadedManifest, doubts: list[Doubt]) -> Plan:
    """The plan without the deletions whose last-applied record git does not confirm, and a
    problem for each: the model is left alone, and the plan cannot be applied as it is."""
    if not doubts:
        return plan
    problems = [
        PlanProblem(
            model=claim.model,
            alias=claim.alias,
            message=refusal(claim, why),
            file=loaded.path,
            **_where(loaded, claim.model),
        )
        for claim, why in doubts
    ]
    errors = [*plan.errors, *problems]
    skip = unusable(errors) | outside(plan.models, plan.target)
    changes, unmanaged, summary = replay(plan.models, skip, len(plan.released))
    doubted = {claim.model for claim, _ in doubts}
    return plan.model_copy(
        update={
            "changes": changes,
            "unmanaged": unmanaged,
            "summary": summary,
            "errors": errors,
            "removed_models": [name for name in plan.removed_models if name not in doubted],
        }
    )


def _where(loaded: LoadedManifest, model: str) -> dict[str, int]:
    """The line declaring the model, if the manifest still declares it."""
    if ("models", model) not in loaded.key_marks:
        return {}
    line, col = loaded.location("models", model)
    return {"line": line, "col": col}


def unusable(errors: list[PlanProblem]) -> frozenset[tuple[str, str]]:
    """(model, alias) pairs whose declared version cannot be set: the plan leaves them out."""
    return frozenset((e.model, e.alias) for e in errors if e.alias is not None)


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

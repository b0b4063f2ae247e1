"""Drift and its heals, decided as values: which changes only revert a hand-made change, and
whether the controller may revert one now.

Pure. A heal is a change whose manifest value is the one this tool last applied: no commit
asked for it, the live registry moved. Anything else in a plan is a commit's change.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from controller.values import Address, Change, CopyRef, Plan, Targeting

HOUR_S = 3600.0
# A drift, told apart from another drift of the same alias: what was live, and what is declared.
DriftKey = tuple[str, str, int | None, int | None]


def is_heal(plan: Plan, change: Change) -> bool:
    """A change back to what this tool last applied, after someone moved the alias by hand."""
    if change.reason != "drift":
        return False
    snapshot = plan.models.get(change.model)
    last = (snapshot.last_applied or {}) if snapshot else {}
    return last.get(change.alias) == change.to_version


def heals(plan: Plan) -> list[Change]:
    return [change for change in plan.changes if is_heal(plan, change)]


def drift_key(change: Change) -> DriftKey:
    return (change.model, change.alias, change.from_version, change.to_version)


def without_heals(plan: Plan) -> Plan:
    """The plan minus its heals: what commits ask for."""
    return leaving_out(plan, {(c.model, c.alias) for c in heals(plan)})


def leaving_out(plan: Plan, left: set[tuple[str, str]]) -> Plan:
    """The plan without the changes of these (model, alias), targeted at everything else, so
    that apply keeps their last-applied record (it looked away from them) instead of dropping it."""
    if not left:
        return plan
    addresses: list[Address] = []
    for name, snapshot in plan.models.items():
        aliases = {*snapshot.declared, *snapshot.observed}
        if not any((name, alias) in left for alias in aliases):
            addresses.append(Address(model=name))
            continue
        kept = sorted(alias for alias in aliases if (name, alias) not in left)
        addresses += [Address(model=name, alias=alias) for alias in kept]
    covered = {a.model for a in addresses}
    return plan.model_copy(
        update={
            "changes": [c for c in plan.changes if (c.model, c.alias) not in left],
            "target": Targeting(addresses=addresses, models=len(covered), total=len(plan.models)),
        }
    )


@dataclass
class HealBudget:
    """At most `per_hour` heals in any hour, so two controllers (or a person) fighting over an
    alias cannot loop; and each drift is healed once, until the alias is seen in sync again."""

    per_hour: int
    _spent: deque[float] = field(default_factory=deque)
    _healed: set[DriftKey] = field(default_factory=set)

    def left(self, now: float) -> int:
        while self._spent and self._spent[0] <= now - HOUR_S:
            self._spent.popleft()
        return max(0, self.per_hour - len(self._spent))

    def allows(self, keys: list[DriftKey], now: float) -> bool:
        """Room for these heals this hour, and none of them tried before."""
        return len(keys) <= self.left(now) and not (set(keys) & self._healed)

    def spend(self, keys: list[DriftKey], now: float) -> None:
        self._spent.extend(now for _ in keys)
        self._healed |= set(keys)

    def forget_all_but(self, current: list[DriftKey]) -> None:
        """A drift no longer seen was healed or undone: the next one is new."""
        self._healed &= set(current)


def stale_records(plan: Plan) -> list[str]:
    """Models whose live aliases match the manifest but whose last-applied record says
    otherwise: another writer's apply won the record (apply refuses to overwrite one it did not
    read), so an apply of no changes brings the record up to what is live and declared."""
    stale = []
    for name, snapshot in plan.models.items():
        if snapshot.removed:
            continue
        last = snapshot.last_applied or {}
        local = {  # a copy counts as the verified copy the plan found
            alias: value.local if isinstance(value, CopyRef) else value
            for alias, value in snapshot.declared.items()
        }
        if any(
            version is not None
            and snapshot.observed.get(alias) == version
            and last.get(alias) != version
            for alias, version in local.items()
        ):
            stale.append(name)
    return stale


def conflicted(plan: Plan, errors: list[str]) -> set[str]:
    """Models whose record apply left to another writer: our own write may have overwritten
    theirs (two controllers at two commits), so their drift is ours to undo, not a person's."""
    return {
        name for name in plan.models if any(e.startswith(f"conflict on {name!r}:") for e in errors)
    }

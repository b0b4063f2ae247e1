"""Drift and its heals, decided as values: which changes only revert a hand-made change, and
whether the controller may revert one now.

Pure. A heal is a change whose manifest value is the one this tool last applied: no commit
asked for it, the live registry moved. Anything else in a plan is a commit's change.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from controller.values import Address, Change, Plan, Targeting

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
    """The plan minus its heals, targeted at everything else, so that apply keeps the
    last-applied record of each drifted alias (it looked away from them) instead of dropping it."""
    drifted = {(c.model, c.alias) for c in heals(plan)}
    if not drifted:
        return plan
    addresses: list[Address] = []
    for name, snapshot in plan.models.items():
        aliases = {*snapshot.declared, *snapshot.observed}
        if not any((name, alias) in drifted for alias in aliases):
            addresses.append(Address(model=name))
            continue
        kept = sorted(alias for alias in aliases if (name, alias) not in drifted)
        addresses += [Address(model=name, alias=alias) for alias in kept]
    covered = {a.model for a in addresses}
    return plan.model_copy(
        update={
            "changes": [c for c in plan.changes if (c.model, c.alias) not in drifted],
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

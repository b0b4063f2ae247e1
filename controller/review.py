"""Make a plan reviewable: put evidence (evidence.py) and gate results (gates.py) on each create
or update, and turn a failing gate into a plan problem. The one of the three the commands call.

Pure: the registry facts come in as `RawVersion`s (registry.read_evidence), keyed by
(model, version). Only changed aliases are looked at, so existing state never blocks an
unrelated pull request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from controller.evidence import EvidenceNeeds, diff_signatures, version_evidence
from controller.gates import Context, check, failures, metric_names
from controller.manifest import LoadedManifest
from controller.policy import Gate
from controller.state import LiveState, RawVersion
from controller.trust import Audits, HoldStart
from controller.values import (
    COPY_FACTS_PREFIX,
    Change,
    ChangeEvidence,
    GateResult,
    Plan,
    PlanProblem,
    VersionEvidence,
)

VersionKey = tuple[str, int]
HoldStarts = Mapping[tuple[str, str, int], HoldStart]

# Changes whose evidence is read and shown in full (failing ones first); a reviewer reads no
# more, and every change still has its row, its facts and its gate results.
DETAILED_CHANGES = 20


def proposed_key(change: Change) -> VersionKey | None:
    """Where the facts of the version a change sets sit: a copy's are its source version's
    (`CopyRef.facts_key`), which the gates judge and the evidence shows; None for a deletion."""
    if not change.sets:
        return None
    if change.copy_from is not None:
        return change.copy_from.facts_key
    return None if change.to_version is None else (change.model, change.to_version)


def needs_by_registry(
    needs: EvidenceNeeds,
) -> dict[str | None, tuple[EvidenceNeeds, dict[VersionKey, VersionKey]]]:
    """`needs` split by the registry that holds each version: None for this one (its keys as
    they are), a source's name for a copy's source version (its keys in that registry), each
    with the plan's key for every key of its own."""
    plan_keys: dict[str | None, dict[VersionKey, VersionKey]] = {}
    for key in needs.versions:
        model, version = key
        source, own = None, key
        if model.startswith(COPY_FACTS_PREFIX):
            source, _, name = model.removeprefix(COPY_FACTS_PREFIX).partition("/")
            own = (name, version)
        plan_keys.setdefault(source, {})[own] = key
    split = {}
    for source, keys in plan_keys.items():
        own_key = {plan: own for own, plan in keys.items()}

        def mine(found: frozenset[VersionKey], own_key: dict = own_key) -> frozenset[VersionKey]:
            return frozenset(own_key[k] for k in found if k in own_key)

        own_needs = EvidenceNeeds(
            versions=frozenset(keys),
            runs=mine(needs.runs),
            signatures=mine(needs.signatures),
            histories={own_key[k]: v for k, v in needs.histories.items() if k in own_key},
            exact=mine(needs.exact),
        )
        split[source] = (own_needs, keys)
    return split


def evidence_needs(
    changes: Iterable[Change],
    gate_of: Callable[[str, str], Gate | None],
    detailed: Iterable[str] = (),
) -> EvidenceNeeds:
    """What to read for these changes: what their gates read, plus everything for the changes
    in `detailed` (addresses). Apply passes none: it reads no evidence that no gate needs."""
    shown = set(detailed)
    versions: set[VersionKey] = set()
    runs: set[VersionKey] = set()
    signatures: set[VersionKey] = set()
    exact: set[VersionKey] = set()
    histories: dict[VersionKey, set[str]] = {}
    for change in changes:
        to = proposed_key(change)
        if to is None:  # a deletion shows nothing, and its model may be gone
            continue
        sides = [to] + ([(change.model, change.from_version)] if change.from_version else [])
        versions.update(sides)
        if change.address in shown:
            runs.update(sides)
            signatures.update(sides)
            exact.update(sides)
        gate = gate_of(change.model, change.alias)
        if gate is None:
            continue
        exact.update(sides)
        if gate.require_signature:
            signatures.add(to)
        if metric_names(gate):
            runs.add(to)
            histories.setdefault(to, set()).update(metric_names(gate))
        if gate.better_than_current and change.from_version is not None:
            runs.add(sides[1])
            histories.setdefault(sides[1], set()).update(gate.better_than_current)
    return EvidenceNeeds(
        versions=frozenset(versions),
        runs=frozenset(runs),
        signatures=frozenset(signatures),
        histories={key: frozenset(names) for key, names in histories.items()},
        exact=frozenset(exact),
    )


def to_detail(changes: Sequence[Change], limit: int = DETAILED_CHANGES) -> list[str]:
    """The addresses of the changes shown in detail: failing ones first, then plan order."""
    shown = [c for c in changes if c.sets]
    failing_first = sorted(shown, key=lambda c: all(g.passed for g in c.gates))
    return [c.address for c in failing_first[:limit]]


def planned_gate(plan: Plan, model: str, alias: str) -> Gate | None:
    """The gate the plan recorded for MODEL@ALIAS (`gate_specs`)."""
    return plan.gate_specs.get(f"{model}@{alias}")


def review(
    plan: Plan,
    loaded: LoadedManifest,
    live: LiveState,
    versions: dict[VersionKey, RawVersion],
    now: datetime,
    audits: Audits | None = None,
    holds: HoldStarts | None = None,
    detailed: Iterable[str] | None = None,
) -> Plan:
    """The plan with evidence, gate results, gate failures as problems, and the policy.

    `audits` says which audit tags git confirms (trust.audit_verdicts), `holds` since when a
    version has held an alias (records.hold_starts, for soaks); none, by default. `detailed`
    names the changes whose evidence was read in full; by default, all."""
    manifest = loaded.manifest
    specs = {
        c.address: gate
        for c in plan.changes
        if c.sets and (gate := manifest.gate_for(c.model, c.alias))
    }
    plan = plan.model_copy(
        update={
            "gate_specs": specs,
            "freeze": manifest.freeze,
            "computed_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    shown = None if detailed is None else set(detailed)
    changes, problems = [], []
    for change in plan.changes:
        reviewed = _review_change(
            plan, change, live, versions, now, manifest.evidence.metrics, audits, holds
        )
        if shown is not None and reviewed.evidence and change.address not in shown:
            reviewed = reviewed.model_copy(
                update={"evidence": reviewed.evidence.model_copy(update={"detailed": False})}
            )
        changes.append(reviewed)
        for failed in failures(reviewed.gates):
            line, col = loaded.value_location("models", change.model, "aliases", change.alias)
            problems.append(
                PlanProblem(
                    model=change.model,
                    alias=change.alias,
                    message=f"{change.address} -> {change.target}: {failed.message}",
                    file=loaded.path,
                    line=line,
                    col=col,
                )
            )
    return plan.model_copy(
        update={
            "changes": changes,
            "errors": [*plan.errors, *problems],
            "frozen": active_freeze(plan, now),
        }
    )


def recheck(
    plan: Plan,
    live: LiveState,
    versions: dict[VersionKey, RawVersion],
    now: datetime,
    audits: Audits | None = None,
    holds: HoldStarts | None = None,
) -> list[str]:
    """Gate failures on fresh data, for apply: one line per failed check."""
    lines = []
    for change in plan.changes:
        reviewed = _review_change(plan, change, live, versions, now, [], audits, holds)
        lines += [
            f"{change.address} -> {change.target}: {r.message}" for r in failures(reviewed.gates)
        ]
    return lines


def _review_change(
    plan: Plan,
    change: Change,
    live: LiveState,
    versions: dict[VersionKey, RawVersion],
    now: datetime,
    evidence_metrics: list[str],
    audits: Audits | None,
    holds: HoldStarts | None,
) -> Change:
    gate = plan.gate_specs.get(change.address)
    moves = tuple(c for c in plan.changes if c.model == change.model)
    return assess(change, gate, live, versions, now, moves, evidence_metrics, audits, holds)


def assess(
    change: Change,
    gate: Gate | None,
    live: LiveState,
    versions: dict[VersionKey, RawVersion],
    now: datetime,
    moves: tuple[Change, ...],
    evidence_metrics: Sequence[str] = (),
    audits: Audits | None = None,
    holds: HoldStarts | None = None,
) -> Change:
    """One change with its evidence and its gate's results. `moves` are the changes to the
    same model made together with it (promotes_from looks at them); `update` asks this of a
    bump it is about to propose, plan and apply of every change they make."""
    if not change.sets:
        return change
    if change.rollback is not None and gate is not None:
        # A version that served this alias before: only the hard checks stand.
        waived = gate.soft_checks()
        gate = gate.without(waived)
        change = change.model_copy(
            update={"rollback": change.rollback.model_copy(update={"waived": waived})}
        )
    named = [*metric_names(gate), *evidence_metrics]

    def facts(key: VersionKey | None) -> VersionEvidence | None:
        raw = versions.get(key) if key is not None else None
        return version_evidence(raw, named, now) if raw else None

    current_key = None if change.from_version is None else (change.model, change.from_version)
    proposed, current = facts(proposed_key(change)), facts(current_key)
    evidence = ChangeEvidence(
        to_version=proposed,
        from_version=current,
        signature_diff=(
            diff_signatures(current.signature, proposed.signature)
            if proposed
            and current
            and proposed.has_signature is not None
            and current.has_signature is not None
            else None
        ),
    )
    results: list[GateResult] = []
    if gate is not None and proposed is not None:
        model = live.models.get(change.model)
        context = Context(
            current=current,
            live_aliases=dict(model.aliases) if model else {},
            moves=moves,
            audits={
                (alias, number): why
                for (name, alias, number), why in (audits or {}).items()
                if name == change.model
            },
            held_since={
                (alias, number): start
                for (name, alias, number), start in (holds or {}).items()
                if name == change.model
            },
            now=now,
            copy=change.copy_from,
        )
        results = check(gate, proposed, context)
    return change.model_copy(update={"evidence": evidence, "gates": results})


def active_freeze(plan: Plan, now: datetime) -> str | None:
    """The reason of a freeze window open at `now`, with when it started, or None."""
    for window in plan.freeze:
        opened = window.open_at(now)
        if opened is not None:
            start, end = (moment.strftime("%Y-%m-%d %H:%M UTC") for moment in opened)
            return f"{window.reason} (freeze from {start} until {end})"
    return None

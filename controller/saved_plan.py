"""The saved plan file (`plan --out`, `apply --plan`): untrusted input, read strictly.

A saved plan is not signed. It guards against mistakes and stale state, not against someone
who can write the file: the file must be exactly what `plan` writes, its changes must be what
its own snapshot gives, and it applies only to the registry and the manifest it was made from.
The file pins only what was observed: the policy (gates, freeze windows) and the declared
state come from the manifest whose SHA-256 it records, read again at apply.

Strict JSON both ways: a metric can be NaN or infinite (anyone who can log one can make it so),
and JSON has no such numbers, so the file writes them as {"non_finite": "NaN"}.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic_core
from pydantic import ValidationError

from controller.errors import PlanFileError, StalePlanError, UsageError
from controller.manifest import CopyFrom, LoadedManifest
from controller.output import redact, without_credentials
from controller.plan import moved_aliases, ownership_changes, replay, skipped, targeting
from controller.state import LiveModel, LiveState
from controller.values import PLAN_FORMAT_VERSION, Change, CopyRef, Plan, PlanSource, Targeting

# A plan of 5,000 models is about 2 MiB; anything far larger is not one of ours.
MAX_PLAN_BYTES = 32 * 1024 * 1024


def write_plan(plan: Plan, path: str) -> None:
    """The plan file is an artifact CI keeps and shares: redacted like every other output
    (it holds no credentials by construction; this is the belt to those braces)."""
    text = redact(
        json.dumps(
            _flag_non_finite(plan.model_dump(mode="json", by_alias=True)), indent=2, allow_nan=False
        )
    )
    Path(path).write_text(text + "\n", encoding="utf-8")


def read_plan(path: str) -> tuple[Plan, PlanSource]:
    """The plan in the file, refused unless it is exactly a plan its own snapshot gives."""
    written = _parse(path, _read(path))
    data = _unflag_non_finite(written)
    version = data.get("format_version")
    if type(version) is not int:
        raise _not_a_plan(path, "no format_version")
    if version != PLAN_FORMAT_VERSION:
        raise PlanFileError(
            f"{path}: unsupported format_version {version} (this mlflow-gitops reads "
            f"{PLAN_FORMAT_VERSION}); run plan again"
        )
    try:
        plan = Plan.model_validate(data, strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _not_a_plan(path, f"{where}: {first['msg']}") from None
    difference = _difference(_flag_non_finite(plan.model_dump(mode="json", by_alias=True)), written)
    if difference:
        raise _not_a_plan(path, difference)
    if plan.source is None:
        raise _not_a_plan(path, "no source")
    _check_replay(plan, path)
    return plan, plan.source


def with_manifest_policy(plan: Plan, loaded: LoadedManifest, path: str) -> Plan:
    """The plan with the policy of `loaded` (the manifest it records, already checked by its
    SHA-256), refused unless its snapshot declares what that manifest declares."""
    manifest = loaded.manifest
    for name, snapshot in plan.models.items():
        spec = manifest.models.get(name)
        if snapshot.removed:
            wanted = spec is None
        else:
            wanted = (
                spec is not None
                and _declares_same(snapshot.declared, spec.aliases, name, loaded)
                and snapshot.prune == (manifest.unmanaged_policy(name) == "delete")
            )
        if not wanted:
            raise PlanFileError(
                f"{path}: refused: what it declares for {name!r} is not what {loaded.path} "
                "declares; run plan again"
            )
    if plan.target is not None:
        _check_target(plan, plan.target, loaded, path)
    undeclared = sorted(set(plan.released) - set(manifest.release))
    if undeclared:
        raise PlanFileError(
            f"{path}: refused: it releases {', '.join(map(repr, undeclared))}, which "
            f"{loaded.path} does not release; run plan again"
        )
    gates = {
        change.address: gate
        for change in plan.changes
        if change.sets and (gate := manifest.gate_for(change.model, change.alias))
    }
    return plan.model_copy(update={"gate_specs": gates, "freeze": manifest.freeze})


def _declares_same(
    snapshot: Mapping[str, int | CopyRef | None],
    aliases: Mapping[str, int | CopyFrom | None],
    model: str,
    loaded: LoadedManifest,
) -> bool:
    """The snapshot declares what the manifest does; a copy from the registry the manifest
    names for its source (whatever copy the plan found: apply looks again)."""
    if snapshot.keys() != aliases.keys():
        return False
    sources = loaded.manifest.sources
    for alias, declared in aliases.items():
        saved = snapshot[alias]
        if not isinstance(declared, CopyFrom):
            if saved != declared or isinstance(saved, CopyRef):
                return False
            continue
        if not isinstance(saved, CopyRef):
            return False
        registry = (
            without_credentials(sources[declared.source].tracking_uri)
            if declared.source in sources
            else None
        )
        wanted = (declared.source, registry, declared.model or model, declared.version)
        if (saved.source, saved.registry, saved.model, saved.version) != wanted:
            return False
    return True


def _check_target(plan: Plan, target: Targeting, loaded: LoadedManifest, path: str) -> None:
    """A saved targeted plan still names what the manifest declares, and holds nothing else."""
    managed = {name: s.observed for name, s in plan.models.items() if s.removed}
    try:
        checked = targeting([str(a) for a in target.addresses], loaded, managed)
    except UsageError as exc:
        raise PlanFileError(f"{path}: refused: {exc}; run plan again") from None
    beyond = [n for n in [*plan.models, *plan.released] if not target.covers_model(n)]
    if checked.addresses != target.addresses or beyond:
        raise PlanFileError(
            f"{path}: refused: it plans more than its target "
            f"({', '.join(map(str, target.addresses))}); run plan again"
        )


def check_registry(source: PlanSource, registry: str, path: str) -> None:
    """`registry` (without credentials) must be the one the plan was made against."""
    if registry != source.registry:
        raise PlanFileError(
            f"{path}: the plan was made against {source.registry}, but this apply would write "
            f"to {registry}; apply it there, or run plan again"
        )


def check_manifest(source: PlanSource, sha256: str, manifest_path: str, path: str) -> None:
    """An explicit -f must name the very bytes the plan was made from."""
    if sha256 != source.manifest_sha256:
        raise PlanFileError(
            f"{path}: {manifest_path} is not the manifest the plan was made from "
            f"({source.manifest_path}, sha256 {source.manifest_sha256[:12]}…); run plan again"
        )


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_PLAN_BYTES + 1)
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_PLAN_BYTES:
        limit = MAX_PLAN_BYTES // (1024 * 1024)
        raise _not_a_plan(path, f"larger than the {limit} MiB limit")
    return raw


def _parse(path: str, raw: bytes) -> dict[str, Any]:
    # pydantic's JSON reader: it stops at a nesting limit where `json` would hit RecursionError.
    try:
        data = pydantic_core.from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise _not_a_plan(path, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _not_a_plan(path, "not a JSON object")
    return data


NON_FINITE = "non_finite"
_NON_FINITE_NAMES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _flag_non_finite(value: Any) -> Any:
    """NaN and infinities as {"non_finite": "NaN"}: strict JSON that says what it stands for."""
    if isinstance(value, float) and not math.isfinite(value):
        name = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return {NON_FINITE: name}
    if isinstance(value, dict):
        return {key: _flag_non_finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_flag_non_finite(item) for item in value]
    return value


def _unflag_non_finite(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {NON_FINITE} and value[NON_FINITE] in _NON_FINITE_NAMES:
            return _NON_FINITE_NAMES[value[NON_FINITE]]
        return {key: _unflag_non_finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unflag_non_finite(item) for item in value]
    return value


def _not_a_plan(path: str, why: str) -> PlanFileError:
    return PlanFileError(f"{path}: not a saved plan ({' '.join(why.split())})")


def _difference(expected: Any, actual: Any, where: str = "") -> str | None:
    """The first place the file differs from what `plan` would have written for its value."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected:
            if key not in actual:
                return f"missing field {where + key!r}"
        for key in actual:
            if key not in expected:
                return f"unknown field {where + key!r}"
        for key, value in expected.items():
            difference = _difference(value, actual[key], f"{where}{key}.")
            if difference:
                return difference
        return None
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (value, given) in enumerate(zip(expected, actual, strict=True)):
            difference = _difference(value, given, f"{where}{index}.")
            if difference:
                return difference
        return None
    return None if expected == actual else f"{where.rstrip('.')!r} is not as plan writes it"


def _check_replay(plan: Plan, path: str) -> None:
    """Refuse a file whose changes are not what its own snapshot gives (an edited plan)."""
    outside = sorted({change.model for change in plan.changes} - set(plan.models))
    if outside:
        raise PlanFileError(
            f"{path}: refused: it changes {', '.join(repr(m) for m in outside)}, which its "
            "snapshot does not hold; run plan again"
        )
    changes, unmanaged, summary = replay(plan.models, skipped(plan), len(plan.released))
    # What a change does is decided here; its evidence and gate results are facts that apply
    # reads again for itself (gates are re-checked on fresh data), so they are not compared.
    replayed = ([_what(c) for c in changes], unmanaged, summary)
    if replayed != ([_what(c) for c in plan.changes], plan.unmanaged, plan.summary):
        raise PlanFileError(
            f"{path}: refused: its changes are not what its own snapshot gives "
            f"({_change_difference(plan.changes, changes)}); run plan again"
        )
    if plan.ownership != ownership_changes(plan.models, plan.owner, plan.released):
        raise PlanFileError(
            f"{path}: refused: its ownership changes are not what its own snapshot gives; "
            "run plan again"
        )


def _what(change: Change) -> Change:
    """The change without the facts attached to it for review (apply reads the rollback lane
    from git again)."""
    return change.model_copy(update={"evidence": None, "gates": [], "rollback": None})


def _change_difference(listed: list[Change], replayed: list[Change]) -> str:
    given = {change.address: _what(change) for change in listed}
    computed = {change.address: _what(change) for change in replayed}
    for address, change in given.items():
        if address not in computed:
            return f"{address!r} is listed, but the snapshot gives no change there"
        if change != computed[address]:
            wanted = _shown(computed[address])
            return f"{address!r} is listed as {_shown(change)}, the snapshot gives {wanted}"
    for address in computed:
        if address not in given:
            return f"{address!r} is missing"
    return "the changes' order, the unmanaged aliases or the summary differ"


def _shown(change: Change) -> str:
    return f"{change.action} {change.from_version} -> {change.target} ({change.reason})"


def check_still_current(plan: Plan, live: LiveState) -> None:
    """A saved plan applies only if no alias it read has moved and every model it releases is
    still this manifest's (its snapshot holds no released model: only the owner tag says so)."""
    moved = moved_aliases(plan, live)
    if moved:
        raise StalePlanError(
            "the saved plan is stale; these aliases moved since it was made: "
            + ", ".join(moved)
            + ". Run plan again."
        )
    foreign = [
        f"{name!r} ({_managed_by(live.models.get(name))})"
        for name in plan.released
        if name not in live.models or live.models[name].owner != plan.owner
    ]
    if foreign:
        raise StalePlanError(
            "the saved plan releases models this manifest does not manage: "
            + ", ".join(foreign)
            + ". Run plan again."
        )


def _managed_by(model: LiveModel | None) -> str:
    if model is None:
        return "not found"
    return f"managed by {model.owner}" if model.owner else "not managed"

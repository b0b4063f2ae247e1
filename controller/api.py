"""The library surface: the operations the CLI runs, callable from Python too."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from controller.apply import ApplyReport, ChangeResult, Provenance, apply_plan
from controller.edit import EditError, set_alias
from controller.gitops import check_can_commit, commit_on_new_branch, manifest_revisions, push
from controller.history import Entry, alias_changes, select
from controller.manifest import (
    LoadedManifest,
    Manifest,
    ModelSpec,
    check_alias_name,
    check_model_name,
    dump_manifest,
    load_manifest,
    parse_manifest,
)
from controller.markdown import ui_base
from controller.plan import Plan, make_plan, moved_aliases, version_problem
from controller.registry import Registry, RegistryError, RegistryUnreachable
from controller.review import active_freeze, recheck, review, wanted_versions
from controller.uris import RegistryTarget, resolve_target


class StalePlanError(Exception):
    """The registry moved since a saved plan was made; applying it would clobber someone."""


class PlanFileError(Exception):
    """A saved plan file is missing or not a plan."""


@dataclass(frozen=True)
class TargetFlags:
    tracking_uri: str | None = None
    registry_uri: str | None = None


def open_registry(flags: TargetFlags, manifest_uri: str | None) -> Registry:
    target: RegistryTarget = resolve_target(flags.tracking_uri, flags.registry_uri, manifest_uri)
    return Registry(target)


def now() -> datetime:
    """The clock gates and freeze windows read: $MLFLOW_GITOPS_NOW (ISO 8601) pins it."""
    pinned = os.environ.get("MLFLOW_GITOPS_NOW")
    if not pinned:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(pinned.replace("Z", "+00:00"))
    except ValueError:
        raise RegistryError(f"MLFLOW_GITOPS_NOW={pinned!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def plan(loaded: LoadedManifest, registry: Registry, *, at: datetime | None = None) -> Plan:
    """Read the declared models in batches, diff them, then gather evidence for the changes."""
    live = registry.read_state(loaded.manifest.models)
    draft = make_plan(loaded, live)
    versions = registry.read_versions(wanted_versions(draft), ui_base(registry.target.registry_uri))
    return review(draft, loaded, live, versions, at or now())


def provenance(manifest_path: str | None) -> Provenance:
    """Commit and actor from GitHub Actions when there, otherwise from the manifest's repo."""
    commit = os.environ.get("GITHUB_SHA")
    actor = os.environ.get("GITHUB_ACTOR")
    if manifest_path and not (commit and actor):
        from controller.gitops import head_commit_and_user

        git_commit, git_user = head_commit_and_user(manifest_path)
        commit, actor = commit or git_commit, actor or git_user
    applied_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Provenance(commit=commit, actor=actor, applied_at=applied_at)


def refused(plan: Plan, reason: str) -> ApplyReport:
    """A report for a plan that must not be applied: nothing was written."""
    return ApplyReport(
        changes=[
            ChangeResult(**c.model_dump(), status="skipped", error=reason) for c in plan.changes
        ],
        errors=[reason],
    )


@dataclass(frozen=True)
class FreezeOverride:
    """Why an apply goes ahead inside a freeze window; recorded in the audit tags."""

    reason: str


def apply(
    plan: Plan,
    registry: Registry,
    *,
    saved: bool = False,
    at: datetime | None = None,
    override: FreezeOverride | None = None,
) -> ApplyReport:
    """Apply a plan: not in a freeze, a saved one only if nothing moved, gates checked afresh."""
    if plan.errors:
        return refused(plan, "the plan has errors; nothing was applied")
    moment = at or now()
    frozen = active_freeze(plan, moment) if plan.changes else None
    if frozen and override is None:
        return refused(
            plan,
            f"apply is frozen: {frozen}; nothing was applied "
            "(apply --override-freeze --reason TEXT to go ahead)",
        )
    if saved or plan.gate_specs:
        live = registry.read_state(plan.models)
        moved = moved_aliases(plan, live) if saved else []
        if moved:
            raise StalePlanError(
                "the saved plan is stale; these aliases moved since it was made: "
                + ", ".join(moved)
                + ". Run plan again."
            )
        gated = [c for c in plan.changes if c.address in plan.gate_specs]
        fresh = registry.read_versions(wanted_versions(plan.model_copy(update={"changes": gated})))
        failed = recheck(plan.model_copy(update={"changes": gated}), live, fresh, moment)
        if failed:
            return refused(
                plan, "gates fail on fresh data; nothing was applied: " + "; ".join(failed)
            )
    record = provenance(plan.manifest)
    if frozen and override is not None:
        record = replace(record, freeze_override=f"{override.reason} (during {frozen})")
    return apply_plan(plan, registry, record)


def save_plan(plan: Plan, path: str) -> None:
    Path(path).write_text(json.dumps(plan.to_json_dict(), indent=2) + "\n", encoding="utf-8")


def load_plan(path: str) -> Plan:
    try:
        return Plan.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such file") from None
    except (OSError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise PlanFileError(f"{path}: not a saved plan ({first})") from None


def import_manifest(registry: Registry, names: list[str], all_models: bool) -> str:
    """A manifest declaring the live aliases, so an existing registry can adopt the tool."""
    wanted = registry.read_all_model_names() if all_models else names
    live = registry.read_state(wanted)
    missing = sorted(set(wanted) - set(live.models))
    if missing:
        raise RegistryError("no such registered model: " + ", ".join(missing))
    manifest = Manifest(
        version=1,
        models={
            name: ModelSpec(aliases=dict(sorted(live.models[name].aliases.items())))
            for name in sorted(live.models)
        },
    )
    return dump_manifest(manifest)


class PromotionError(Exception):
    """A promotion or rollback was refused; the manifest was left as it was."""


@dataclass(frozen=True)
class Delivery:
    """What happens to the edited manifest besides saving it: a commit on a branch, a push."""

    commit: bool = False
    branch: str | None = None
    push: bool = False
    remote: str = "origin"


@dataclass(frozen=True)
class AliasEdit:
    """What promote or rollback changed, and where the change went."""

    path: str
    model: str
    alias: str
    from_version: int | None
    to_version: int
    branch: str | None = None
    commit: str | None = None
    pull_request_url: str | None = None


def promote(
    path: str,
    model: str,
    alias: str,
    version: int,
    *,
    flags: TargetFlags,
    offline: bool = False,
    delivery: Delivery = Delivery(),
) -> AliasEdit:
    """Point MODEL@ALIAS at VERSION in the manifest, adding the alias or model if new."""
    try:
        check_model_name(model)
        check_alias_name(alias)
    except ValueError as exc:
        raise PromotionError(str(exc)) from None
    return _edit_alias("promote", path, model, alias, version, flags, offline, delivery)


def rollback(
    path: str,
    model: str,
    alias: str,
    *,
    to: int | None = None,
    steps: int = 1,
    flags: TargetFlags,
    offline: bool = False,
    delivery: Delivery = Delivery(),
) -> AliasEdit:
    """Point MODEL@ALIAS back at `to`, or at its value `steps` changes ago in git history."""
    spec = load_manifest(path).manifest.models.get(model)
    if spec is None:
        raise PromotionError(f"{path} declares no model {model!r}")
    if alias not in spec.aliases:
        raise PromotionError(f"{path} declares no alias {alias!r} for model {model!r}")
    if to is None:
        to = _earlier_version(path, model, alias, spec.aliases[alias], steps)
    return _edit_alias("rollback", path, model, alias, to, flags, offline, delivery)


def history(
    path: str, model: str | None = None, alias: str | None = None, limit: int | None = None
) -> tuple[list[Entry], list[str]]:
    """Alias changes across the manifest's git history, newest first, and skip warnings."""
    entries, warnings = alias_changes(manifest_revisions(path))
    return select(entries, model, alias, limit), warnings


def _earlier_version(path: str, model: str, alias: str, current: int | None, steps: int) -> int:
    entries, _ = history(path, model, alias)
    earlier = [entry.from_version for entry in entries]
    if entries and entries[0].to_version != current:  # edited since the last commit
        earlier.insert(0, entries[0].to_version)
    if len(earlier) < steps or earlier[steps - 1] is None:
        raise PromotionError(
            f"{model}@{alias} has no earlier value {steps} change(s) back "
            f"in the git history of {path}"
        )
    return earlier[steps - 1]


def _edit_alias(
    kind: str,
    path: str,
    model: str,
    alias: str,
    version: int,
    flags: TargetFlags,
    offline: bool,
    delivery: Delivery,
) -> AliasEdit:
    """Refuse early (git, then registry), then edit, verify, write, and commit and push."""
    loaded = load_manifest(path)
    spec = loaded.manifest.models.get(model)
    current = spec.aliases.get(alias) if spec else None
    if current == version:
        raise PromotionError(f"{model}@{alias} is already {version} in {path}")
    branch = delivery.branch or f"{kind}/{_ref_part(model)}-{_ref_part(alias)}-v{version}"
    if delivery.commit:
        check_can_commit(path, branch, delivery.remote if delivery.push else None)
    if not offline:
        check_version(open_registry(flags, loaded.manifest.tracking_uri), model, version)
    # Bytes, not read_text(): universal newlines would turn CRLF files into LF ones.
    text = set_alias(Path(path).read_bytes().decode("utf-8"), model, alias, version)
    _verify(loaded, text, model, alias, version)
    Path(path).write_bytes(text.encode("utf-8"))
    edit = AliasEdit(path, model, alias, current, version)
    if not delivery.commit:
        return edit
    message = commit_message(kind, model, alias, current, version)
    sha = commit_on_new_branch(path, branch, message)
    url = push(path, delivery.remote, branch) if delivery.push else None
    return replace(edit, branch=branch, commit=sha, pull_request_url=url)


def _ref_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)


def _verify(before: LoadedManifest, text: str, model: str, alias: str, version: int) -> None:
    """Read the edit back: exactly one alias may differ, or nothing is written."""
    expected = before.manifest.model_dump()
    spec = expected["models"].setdefault(model, ModelSpec().model_dump())
    spec["aliases"][alias] = version
    if parse_manifest(text, before.path).manifest.model_dump() != expected:
        raise EditError(f"could not edit {before.path} safely; edit it by hand")


def check_version(registry: Registry, model: str, version: int) -> None:
    """Refuse a version the registry does not hold as READY; unreachable needs --offline."""
    try:
        live = registry.read_state([model]).models.get(model)
    except RegistryUnreachable as exc:
        raise PromotionError(f"{exc}; pass --offline to skip the version check") from None
    if live is None:
        raise PromotionError(f"no registered model named {model!r} in the registry")
    problem = version_problem(live, version)
    if problem:
        raise PromotionError(problem)


def commit_message(
    kind: str, model: str, alias: str, from_version: int | None, to_version: int
) -> str:
    """`promote bikes@champion: 3 -> 4`, with trailers that git and tools can read back."""
    was = "none" if from_version is None else str(from_version)
    return (
        f"{kind} {model}@{alias}: {was} -> {to_version}\n\n"
        f"Model: {model}\nAlias: {alias}\nFrom: {was}\nTo: {to_version}\n"
    )

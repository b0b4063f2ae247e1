"""The library surface: the operations the CLI runs, callable from Python too."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from controller.apply import ApplyReport, ChangeResult, Provenance, apply_plan
from controller.manifest import LoadedManifest, Manifest, ModelSpec, dump_manifest
from controller.plan import Plan, make_plan, moved_aliases
from controller.registry import Registry, RegistryError
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


def plan(loaded: LoadedManifest, registry: Registry) -> Plan:
    """Read exactly the declared models, in batches, and diff them against the manifest."""
    live = registry.read_state(loaded.manifest.models)
    return make_plan(loaded, live)


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


def apply(plan: Plan, registry: Registry, *, saved: bool = False) -> ApplyReport:
    """Apply a plan; a saved one only if the aliases it observed have not moved since."""
    if plan.errors:
        return refused(plan, "the plan has errors; nothing was applied")
    if saved:
        moved = moved_aliases(plan, registry.read_state(plan.models))
        if moved:
            raise StalePlanError(
                "the saved plan is stale; these aliases moved since it was made: "
                + ", ".join(moved)
                + ". Run plan again."
            )
    return apply_plan(plan, registry, provenance(plan.manifest))


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

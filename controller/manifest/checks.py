"""Checks across fields that the models cannot state one value at a time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from controller.manifest.events import Builder
from controller.manifest.model import CopyFrom, KeyPath, LoadedManifest
from controller.policy import check_alias_name
from controller.uris import USERINFO
from controller.values import Problem


def case_collisions(loaded: LoadedManifest) -> list[Problem]:
    """Aliases are case-sensitive in MLflow; two that differ only in case are likely a typo."""
    warnings = []
    for model, spec in loaded.manifest.models.items():
        seen: dict[str, str] = {}
        for alias in spec.aliases:
            other = seen.setdefault(alias.lower(), alias)
            if other != alias:
                line, col = loaded.location("models", model, "aliases", alias)
                warnings.append(
                    Problem(
                        loaded.path,
                        line,
                        col,
                        f"aliases {other!r} and {alias!r} of model {model!r} differ only in "
                        "case; MLflow treats them as two aliases",
                        severity="warning",
                    )
                )
    return warnings


def _is_alias_name(name: str) -> bool:
    try:
        check_alias_name(name)
    except ValueError:
        return False
    return True


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def track_problems(data: Any, file: str, walker: Builder) -> list[Problem]:
    """A tracked alias must be declared with a version, and every tag pattern must compile.

    Read from the raw document, so these come with every other problem, not after them.
    """
    problems = []
    for model, spec in _mapping(_mapping(data).get("models")).items():
        aliases = _mapping(_mapping(spec).get("aliases"))
        for alias, policy in _mapping(_mapping(spec).get("track")).items():
            line, col = walker.key_marks[("models", model, "track", alias)]
            if alias not in aliases and _is_alias_name(alias):
                message = f"track: model {model!r} declares no alias {alias!r} under aliases"
                problems.append(Problem(file, line, col, message))
            elif alias in aliases and aliases[alias] is None:
                message = (
                    f"track: {model}@{alias} is declared null (must not exist), "
                    "so it cannot be tracked"
                )
                problems.append(Problem(file, line, col, message))
            tags = _mapping(_mapping(_mapping(policy).get("latest")).get("tags"))
            for key, rule in tags.items():
                pattern = _mapping(rule).get("pattern")
                if not isinstance(pattern, str):
                    continue
                try:
                    re.compile(pattern)
                except re.error as exc:
                    path = ("models", model, "track", alias, "latest", "tags", key, "pattern")
                    line, col = walker.value_marks[path]
                    message = f"tag {key!r}: pattern {pattern!r} is not a valid regex: {exc}"
                    problems.append(Problem(file, line, col, message))
    return problems


def prune_spelling(loaded: LoadedManifest) -> list[Problem]:
    """`prune` is the old spelling of `unmanaged: delete`: a warning, or an error when the
    model's `unmanaged` says otherwise (which of the two would win is anyone's guess)."""
    problems = []
    for model, spec in loaded.manifest.models.items():
        if ("models", model, "prune") not in loaded.key_marks:
            continue
        line, col = loaded.location("models", model, "prune")
        if spec.prune and spec.unmanaged not in (None, "delete"):
            message = (
                f"model {model!r}: prune: true contradicts unmanaged: {spec.unmanaged}; "
                "remove prune"
            )
            problems.append(Problem(loaded.path, line, col, message))
            continue
        instead = "write unmanaged: delete" if spec.prune else "remove it (the default)"
        problems.append(
            Problem(
                loaded.path,
                line,
                col,
                f"model {model!r}: prune is deprecated: {instead}",
                severity="warning",
            )
        )
    return problems


def released_and_declared(loaded: LoadedManifest) -> list[Problem]:
    """A model cannot be both managed and let go."""
    return [
        Problem(
            loaded.path,
            *loaded.value_location("release", str(index)),
            f"model {name!r} is both declared under models and listed under release",
        )
        for index, name in enumerate(loaded.manifest.release)
        if name in loaded.manifest.models
    ]


def _source_problem(
    source: str, soaks: bool, declared: object, sources: Mapping[str, object]
) -> str | None:
    """Why `promotes_from: {source: ...}` cannot be checked for this alias, or None."""
    if source not in sources:
        return f"promotes_from.source {source!r} is not declared under sources"
    if not (isinstance(declared, CopyFrom) and declared.source == source):
        return (
            f"promotes_from.source {source!r} checks a copy from {source}; this alias does "
            "not declare one"
        )
    if soaks:
        return "promotes_from.soak is counted in this registry, not in a source; drop it"
    return None


def gate_problems(loaded: LoadedManifest) -> list[Problem]:
    """`promotes_from` must name an alias the model declares, or the gate can never pass; with
    a `source`, the alias must be a copy from that declared source (the alias is the source's
    then), and a soak is not counted there."""
    problems = []
    manifest = loaded.manifest
    for name, spec in manifest.models.items():
        for alias in spec.aliases:
            gate = manifest.gate_for(name, alias)
            wanted = gate.promotes_from if gate else None
            if wanted is None:
                continue
            path: KeyPath = ("models", name, "gates", alias, "promotes_from")
            if path not in loaded.value_marks and path not in loaded.key_marks:
                path = ("gates", alias, "promotes_from")
            if wanted.source is not None:
                message = _source_problem(
                    wanted.source, wanted.soak is not None, spec.aliases[alias], manifest.sources
                )
                if message:
                    line, col = loaded.value_location(*path, "source")
                    problems.append(
                        Problem(loaded.path, line, col, f"gate for {name}@{alias}: {message}")
                    )
            elif wanted.alias not in spec.aliases:
                written = (*path, "alias") if (*path, "alias") in loaded.value_marks else path
                line, col = loaded.value_location(*written)
                problems.append(
                    Problem(
                        loaded.path,
                        line,
                        col,
                        f"gate for {name}@{alias}: promotes_from {wanted.alias!r} names an "
                        f"alias model {name!r} does not declare",
                    )
                )
    return problems


def copy_problems(loaded: LoadedManifest) -> list[Problem]:
    """A copy names a declared source or another model (or both), and is not tracked; a
    source's URI carries no credentials (they come from the environment)."""
    problems = []
    manifest = loaded.manifest
    for name, source in manifest.sources.items():
        if USERINFO.match(source.tracking_uri):
            line, col = loaded.value_location("sources", name, "tracking_uri")
            message = (
                f"source {name!r}: tracking_uri must not carry credentials; set "
                f"MLFLOW_GITOPS_SOURCE_{name.upper()}_TRACKING_TOKEN (or _TRACKING_USERNAME "
                "and _TRACKING_PASSWORD) instead"
            )
            problems.append(Problem(loaded.path, line, col, message))
    for model, spec in manifest.models.items():
        for alias, value in spec.aliases.items():
            if not isinstance(value, CopyFrom):
                continue
            where: KeyPath = ("models", model, "aliases", alias)
            if value.source is not None and value.source not in manifest.sources:
                line, col = loaded.value_location(*where, "source")
                known = ", ".join(sorted(manifest.sources)) or "none are declared"
                message = (
                    f"{model}@{alias}: source {value.source!r} is not declared under "
                    f"sources ({known})"
                )
                problems.append(Problem(loaded.path, line, col, message))
            if value.source is None and value.model in (None, model):
                line, col = loaded.value_location(*where)
                message = (
                    f"{model}@{alias}: a copy names another registry (source) or another "
                    f"model; for this model's own version write {alias}: {value.version}"
                )
                problems.append(Problem(loaded.path, line, col, message))
            if alias in spec.track:
                line, col = loaded.location("models", model, "track", alias)
                message = (
                    f"track: {model}@{alias} is a copy; tracking proposes this model's own "
                    "versions only"
                )
                problems.append(Problem(loaded.path, line, col, message))
    return problems

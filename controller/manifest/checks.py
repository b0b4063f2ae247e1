"""Checks across fields that the models cannot state one value at a time."""

from __future__ import annotations

import re
from typing import Any

from controller.manifest.events import Builder
from controller.manifest.model import KeyPath, LoadedManifest
from controller.policy import check_alias_name
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


def gate_problems(loaded: LoadedManifest) -> list[Problem]:
    """`promotes_from` must name an alias the model declares, or the gate can never pass; its
    `source` needs `sources:`, which this version does not read yet."""
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
                line, col = loaded.value_location(*path, "source")
                problems.append(
                    Problem(
                        loaded.path,
                        line,
                        col,
                        f"gate for {name}@{alias}: promotes_from.source needs sources: "
                        "(not supported yet)",
                    )
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

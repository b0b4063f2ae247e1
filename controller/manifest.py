"""The registry.yaml format: pydantic models, and a loader that keeps line marks.

This is the only module that parses the manifest. Every problem is collected (not just the
first) and carries the FILE:LINE:COL of the offending key or value, because PyYAML alone
neither reports duplicate keys nor keeps positions once a document is turned into dicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema
from pydantic.functional_validators import AfterValidator, BeforeValidator

from controller.errors import ManifestError
from controller.values import Problem

FormatVersion = Literal[1]
SUPPORTED_VERSIONS = get_args(FormatVersion)
# libyaml's composer, when PyYAML was built with it: `history` parses one manifest per commit.
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ALIAS_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
RESERVED_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
MAX_ALIAS_LENGTH = 255


def check_alias_name(name: str) -> str:
    """Reject names MLflow itself would refuse, so a plan never fails half-way at write time."""
    if not name:
        raise ValueError("alias name must not be empty")
    if len(name) > MAX_ALIAS_LENGTH:
        raise ValueError(f"alias name is {len(name)} characters long; MLflow allows at most 255")
    if not ALIAS_PATTERN.match(name):
        raise ValueError(f"alias {name!r} may only contain letters, digits, '_' and '-'")
    if name.lower() == "latest":
        raise ValueError(f"alias {name!r} is reserved by MLflow")
    if RESERVED_VERSION_ALIAS.match(name):
        raise ValueError(f"alias {name!r} is reserved by MLflow (v<digits> names a version)")
    return name


def check_model_name(name: str) -> str:
    if not name.strip():
        raise ValueError("model name must not be empty")
    return name


def version_value(value: Any) -> Any:
    """Versions are positive integers; YAML's '3', 3.0 and true must not slip through as 3."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        kind = type(value).__name__
        raise ValueError(f"version must be a positive integer or null, got {kind} {value!r}")
    if value < 1:
        raise ValueError(f"version must be a positive integer or null, got {value}")
    return value


# Validation runs in the functions above (they give the clearer messages); the schema states
# the same rules for editors, with look-aheads that pydantic's own regex engine lacks.
AliasName = Annotated[
    str,
    AfterValidator(check_alias_name),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(?![Ll][Aa][Tt][Ee][Ss][Tt]$)(?![vV][0-9]+$)[A-Za-z0-9_-]+$",
            "maxLength": MAX_ALIAS_LENGTH,
        }
    ),
]
ModelName = Annotated[
    str, AfterValidator(check_model_name), WithJsonSchema({"type": "string", "minLength": 1})
]
Version = Annotated[Annotated[int, Field(ge=1)] | None, BeforeValidator(version_value)]


def _alias_names_in_schema(schema: dict[str, Any]) -> None:
    """State the alias-name rule as propertyNames, so editors flag a bad name as an error."""
    aliases = schema["properties"]["aliases"]
    ((pattern, versions),) = aliases.pop("patternProperties").items()
    aliases["propertyNames"] = {**aliases.get("propertyNames", {}), "pattern": pattern}
    aliases["additionalProperties"] = versions


class ModelSpec(BaseModel):
    """What one registered model's aliases must be."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_alias_names_in_schema)

    aliases: dict[AliasName, Version] = Field(
        default_factory=dict,
        description="alias -> version; null means the alias must not exist",
    )
    prune: bool = Field(
        default=False,
        description="delete live aliases of this model that are not declared",
    )


class Manifest(BaseModel):
    """registry.yaml, format version 1."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="mlflow-gitops registry manifest",
    )

    version: FormatVersion = Field(description="manifest format version")
    tracking_uri: str | None = Field(default=None, description="MLflow tracking URI")
    models: dict[ModelName, ModelSpec] = Field(default_factory=dict)


# Where a key sits in the document: ("models", "bikes", "aliases", "champion").
KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class LoadedManifest:
    """A validated manifest plus where each key and value sits in the file (1-based)."""

    path: str
    manifest: Manifest
    warnings: list[Problem] = field(default_factory=list)
    key_marks: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    value_marks: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def location(self, *path: str) -> tuple[int, int]:
        """Line and column of a value (or its key), falling back to the nearest parent."""
        for end in range(len(path), 0, -1):
            prefix = tuple(path[:end])
            if prefix in self.key_marks:
                return self.key_marks[prefix]
        return (1, 1)

    def value_location(self, *path: str) -> tuple[int, int]:
        """Line and column of a value itself, e.g. the `9` in `champion: 9`."""
        return self.value_marks.get(tuple(path)) or self.location(*path)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Walker:
    """Turns a composed YAML node tree into plain data while recording marks and duplicates."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.key_marks: dict[KeyPath, tuple[int, int]] = {}
        self.value_marks: dict[KeyPath, tuple[int, int]] = {}
        self._constructor = yaml.SafeLoader("")

    def error(self, node: yaml.Node, message: str) -> None:
        line, col = _mark(node)
        self.problems.append(Problem(self.file, line, col, message))

    def walk(self, node: yaml.Node, path: KeyPath) -> Any:
        self.value_marks[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, str(i))) for i, item in enumerate(node.value)]
        return self._constructor.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.error(key_node, "merge keys ('<<') are not supported in the manifest")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.error(key_node, "keys must be plain strings")
                continue
            # Keys are names (models, aliases): keep the text as written, so `1:` stays "1".
            key = key_node.value
            if key in first_seen:
                self.error(
                    key_node,
                    f"duplicate key {key!r} (first defined on line {first_seen[key]})",
                )
                continue
            first_seen[key] = _mark(key_node)[0]
            self.key_marks[(*path, key)] = _mark(key_node)
            result[key] = self.walk(value_node, (*path, key))
        return result


def _problem_from_pydantic(file: str, error: Any, key_marks: dict, value_marks: dict) -> Problem:
    loc = tuple(str(part) for part in error["loc"])
    is_key_error = bool(loc) and loc[-1] == "[key]"
    if is_key_error:
        loc = loc[:-1]
    if error["type"] == "missing":
        line, col = value_marks.get(loc[:-1], (1, 1))
        return Problem(file, line, col, f"missing required key {loc[-1]!r}")
    if error["type"] == "extra_forbidden":
        line, col = key_marks.get(loc, (1, 1))
        return Problem(file, line, col, f"unknown key {loc[-1]!r}")
    if error["type"] == "literal_error" and loc == ("version",):
        line, col = value_marks.get(loc, (1, 1))
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        return Problem(
            file,
            line,
            col,
            f"unsupported manifest version {error['input']!r} (supported: {supported})",
        )
    marks = key_marks if is_key_error else value_marks
    line, col = marks.get(loc, key_marks.get(loc, (1, 1)))
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
    else:
        where = ".".join(loc) or "document"
        message = f"{where}: {error['msg'].lower()}"
    return Problem(file, line, col, message)


def _case_collisions(loaded: LoadedManifest) -> list[Problem]:
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


def parse_manifest(text: str, file: str, *, loader: Any = yaml.SafeLoader) -> LoadedManifest:
    """Validate manifest text. Raises ManifestError with every problem found."""
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        raise ManifestError([Problem(file, line, col, f"invalid YAML: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise ManifestError([Problem(file, 1, 1, f"invalid YAML: {exc}")]) from None
    if root is None:
        raise ManifestError([Problem(file, 1, 1, "the manifest is empty")])

    walker = _Walker(file)
    data = walker.walk(root, ())
    if not isinstance(data, dict):
        walker.error(root, "the manifest must be a mapping with 'version' and 'models'")
        raise ManifestError(walker.problems)

    problems = list(walker.problems)
    manifest = None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        problems += [
            _problem_from_pydantic(file, err, walker.key_marks, walker.value_marks)
            for err in exc.errors()
        ]
    if problems or manifest is None:
        problems.sort(key=lambda p: (p.line, p.col))
        raise ManifestError(problems)

    loaded = LoadedManifest(
        path=file,
        manifest=manifest,
        key_marks=walker.key_marks,
        value_marks=walker.value_marks,
    )
    loaded.warnings.extend(_case_collisions(loaded))
    return loaded


def compose_manifest(text: str) -> yaml.Node | None:
    """The YAML node tree, whose marks give character offsets, so an edit can touch one value."""
    return yaml.compose(text, Loader=yaml.SafeLoader)


def load_manifest(path: str | Path) -> LoadedManifest:
    """Read and validate a manifest file; a missing or unreadable file is a ManifestError too."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError([Problem(file, 1, 1, "no such file")]) from None
    except OSError as exc:
        raise ManifestError([Problem(file, 1, 1, f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ManifestError([Problem(file, 1, 1, "not UTF-8 text")]) from None
    return parse_manifest(text, file)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the manifest, generated from the pydantic models above."""
    schema = Manifest.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def dump_manifest(manifest: Manifest) -> str:
    """Render a manifest as registry.yaml text (used by `import`)."""
    body = manifest.model_dump(mode="json", exclude_none=True)
    for spec in body.get("models", {}).values():
        if not spec.get("prune"):
            spec.pop("prune", None)
    header = "# yaml-language-server: $schema=./registry.schema.json\n"
    return header + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)

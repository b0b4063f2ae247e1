"""The registry.yaml format as pydantic models: what each value must be, and its JSON Schema.

The models decide every value's type; the reader (events.py) only keeps line marks and refuses
what YAML would otherwise construct.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.functional_validators import AfterValidator, BeforeValidator

from controller.ownership import NAME_PATTERN
from controller.policy import (
    AliasName,
    Flag,
    FreezeWindow,
    Gate,
    PlainScalar,
    Strict,
    TagPattern,
    TrackPolicy,
    merge_gates,
    shown,
)
from controller.values import Problem

SupportedVersion = Literal[1]
SUPPORTED_VERSIONS = get_args(SupportedVersion)
DECIMAL = re.compile(r"[1-9][0-9]{0,17}")


def read_format_version(value: Any) -> Any:
    """`version: 1` as a plain number; `1.0`, `true` and `"1"` are not versions."""
    if isinstance(value, PlainScalar) and DECIMAL.fullmatch(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"write version: 1 (got {shown(value)})")


FormatVersion = Annotated[SupportedVersion, BeforeValidator(read_format_version)]


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


ModelName = Annotated[
    str, AfterValidator(check_model_name), WithJsonSchema({"type": "string", "minLength": 1})
]
Version = Annotated[Annotated[int, Field(ge=1)] | None, BeforeValidator(version_value)]

# A source's name becomes part of its credential variables (MLFLOW_GITOPS_SOURCE_<NAME>_...),
# so it is what an environment variable name can hold, in one case only.
SOURCE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"


def check_source_name(name: str) -> str:
    if not re.fullmatch(SOURCE_NAME_PATTERN, name):
        raise ValueError(
            f"source name {name!r}: use lowercase letters, digits and '_', starting with a "
            "letter (it names the MLFLOW_GITOPS_SOURCE_<NAME>_* credential variables)"
        )
    return name


SourceName = Annotated[
    str,
    AfterValidator(check_source_name),
    WithJsonSchema({"type": "string", "pattern": SOURCE_NAME_PATTERN}),
]


class SourceSpec(Strict):
    """Another registry versions are copied from; its credentials come from the environment."""

    tracking_uri: str = Field(
        min_length=1,
        description="the source's MLflow tracking URI, without credentials (they come from "
        "MLFLOW_GITOPS_SOURCE_<NAME>_TRACKING_TOKEN, or _TRACKING_USERNAME and "
        "_TRACKING_PASSWORD)",
    )


def copied_version(value: Any) -> Any:
    """A copy names its version as strictly as an alias does: a positive integer."""
    if value is None:
        raise ValueError("a copy needs a version: a positive integer")
    return version_value(value)


class CopyFrom(Strict):
    """An alias value naming a version elsewhere: copied into this model once, then pointed at.

    `source` defaults to this registry and `model` to the same model; checks.py requires that
    at least one of them differs."""

    source: SourceName | None = None
    model: ModelName | None = None
    version: Annotated[int, BeforeValidator(copied_version)]

    def named(self, model: str) -> str:
        """`staging bikes v7`: where the copy comes from, as plans show it."""
        where = f"{self.source} " if self.source else ""
        return f"{where}{self.model or model} v{self.version}"


def alias_value(value: Any) -> Any:
    """A mapping is a copy (validated as CopyFrom); anything else is a local version."""
    return value if isinstance(value, dict | CopyFrom) else version_value(value)


COPY_SCHEMA = {
    "type": "object",
    "description": "a version copied from another registry (source) or model",
    "properties": {
        "source": {"type": "string", "pattern": SOURCE_NAME_PATTERN},
        "model": {"type": "string", "minLength": 1},
        "version": {"type": "integer", "minimum": 1},
    },
    "required": ["version"],
    "additionalProperties": False,
}
AliasValue = Annotated[
    int | CopyFrom | None,
    BeforeValidator(alias_value),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}, COPY_SCHEMA]}),
]


UnmanagedPolicy = Literal["note", "error", "delete"]


class EvidenceSpec(Strict):
    metrics: list[str] = Field(
        default_factory=list, description="metrics to show in every plan (default: all, capped)"
    )


def _alias_names_in_schema(schema: dict[str, Any]) -> None:
    """State the alias-name rule as propertyNames, so editors flag a bad name as an error."""
    for keyed_by_alias in schema["properties"].values():
        if "patternProperties" not in keyed_by_alias:
            continue
        ((pattern, values),) = keyed_by_alias.pop("patternProperties").items()
        names = keyed_by_alias.get("propertyNames", {})
        keyed_by_alias["propertyNames"] = {**names, "pattern": pattern}
        keyed_by_alias["additionalProperties"] = values


POLICY_SHAPE = "'latest' or {latest: {tags: {KEY: VALUE or {pattern: REGEX}}}}"


def read_track_policy(value: Any) -> Any:
    """The YAML shapes `latest` and `{latest: {tags: ...}}` -> TrackPolicy's fields."""
    if isinstance(value, TrackPolicy):
        return value
    if value == "latest":
        return {"tags": {}}
    if not (isinstance(value, dict) and set(value) == {"latest"}):
        raise ValueError(f"a track policy is {POLICY_SHAPE}, got {value!r}")
    latest = value["latest"]
    if not (isinstance(latest, dict) and set(latest) <= {"tags"}):
        raise ValueError(f"a track policy is {POLICY_SHAPE}, got {value!r}")
    tags = latest.get("tags") or {}
    if not isinstance(tags, dict):
        raise ValueError(f"track tags must be a mapping of tag -> value, got {tags!r}")
    return {"tags": {str(key): _tag_rule(key, rule) for key, rule in tags.items()}}


def _tag_rule(key: str, rule: Any) -> str | TagPattern:
    if isinstance(rule, str):
        return rule
    if isinstance(rule, dict) and set(rule) == {"pattern"} and isinstance(rule["pattern"], str):
        # Not validated here: track_problems reports a bad regex at its own line and column.
        return TagPattern.model_construct(pattern=rule["pattern"])
    raise ValueError(
        f"tag {key!r} must be an exact string or {{pattern: REGEX}}, got {rule!r} "
        "(quote numbers and booleans: tag values are strings)"
    )


TAG_RULE_SCHEMA = {
    "anyOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {"pattern": {"type": "string", "format": "regex"}},
            "required": ["pattern"],
            "additionalProperties": False,
        },
    ]
}
TrackPolicyField = Annotated[
    TrackPolicy,
    BeforeValidator(read_track_policy),
    WithJsonSchema(
        {
            "description": "follow the newest READY version (with these tags): `update` "
            "proposes the bump",
            "anyOf": [
                {"const": "latest"},
                {
                    "type": "object",
                    "properties": {
                        "latest": {
                            "type": "object",
                            "properties": {
                                "tags": {
                                    "type": "object",
                                    "additionalProperties": TAG_RULE_SCHEMA,
                                }
                            },
                            "additionalProperties": False,
                        }
                    },
                    "required": ["latest"],
                    "additionalProperties": False,
                },
            ],
        }
    ),
]


class ModelSpec(BaseModel):
    """What one registered model's aliases must be."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_alias_names_in_schema)

    aliases: dict[AliasName, AliasValue] = Field(
        default_factory=dict,
        description="alias -> version, or {source, model, version} to copy; null means the "
        "alias must not exist",
    )
    prune: Flag = Field(
        default=False,
        description="deprecated: `prune: true` is `unmanaged: delete`",
        json_schema_extra={"deprecated": True},
    )
    unmanaged: UnmanagedPolicy | None = Field(
        default=None,
        description="live aliases the manifest does not declare: a note, a plan error, or "
        "deleted (default: the top-level setting)",
    )
    gates: dict[AliasName, Gate] = Field(
        default_factory=dict, description="alias -> gate, merged over the top-level gate"
    )
    track: dict[AliasName, TrackPolicyField] = Field(
        default_factory=dict,
        description="alias -> policy: `mlflow-gitops update` bumps the alias to the newest "
        "matching version",
    )
    take_over: Flag = Field(
        default=False,
        description="manage this model even though another manifest's apply claimed it",
    )


class Manifest(BaseModel):
    """registry.yaml, format version 1."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="mlflow-gitops registry manifest",
        json_schema_extra=_alias_names_in_schema,
    )

    version: FormatVersion = Field(description="manifest format version")
    name: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="who manages the models below; default: the git remote and this file's path",
    )
    tracking_uri: str | None = Field(default=None, description="MLflow tracking URI")
    sources: dict[SourceName, SourceSpec] = Field(
        default_factory=dict,
        description="other registries that alias values copy versions from, by name",
    )
    models: dict[ModelName, ModelSpec] = Field(default_factory=dict)
    release: list[ModelName] = Field(
        default_factory=list,
        description="models to stop managing without touching their aliases",
    )
    gates: dict[AliasName, Gate] = Field(
        default_factory=dict, description="alias -> gate, for that alias of every model"
    )
    freeze: list[FreezeWindow] = Field(default_factory=list)
    evidence: EvidenceSpec = Field(default_factory=EvidenceSpec)
    unmanaged: UnmanagedPolicy = Field(
        default="note",
        description="live aliases the manifest does not declare: a note, a plan error, or deleted",
    )

    def gate_for(self, model: str, alias: str) -> Gate | None:
        """The model's gate for an alias merged over the top-level one, key by key."""
        return merge_gates(self.gates.get(alias), self.models[model].gates.get(alias))

    def unmanaged_policy(self, model: str) -> UnmanagedPolicy:
        spec = self.models[model]
        if spec.prune:
            return "delete"
        return spec.unmanaged or self.unmanaged


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
    sha256: str = ""  # of the manifest's UTF-8 bytes, so a saved plan can name what it read

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


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the manifest, generated from the pydantic models above."""
    schema = Manifest.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def dump_manifest(manifest: Manifest) -> str:
    """Render a manifest as registry.yaml text (used by `import`)."""
    body = manifest.model_dump(mode="json", exclude_defaults=True)
    for spec in body.get("models", {}).values():
        spec.setdefault("aliases", {})  # what import adopts, even when there is none yet
    # No `$schema` line: a reference to ./registry.schema.json would not resolve in a
    # repository that adopts the tool (`mlflow-gitops schema` writes the file for editors).
    return yaml.safe_dump(body, sort_keys=False, default_flow_style=False, allow_unicode=True)

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
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.functional_validators import AfterValidator, BeforeValidator

from controller.errors import ManifestError
from controller.ownership import NAME_PATTERN
from controller.schedule import parse_cron, parse_duration
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


def check_duration(text: Any) -> str:
    parse_duration(text)
    return str(text)


def check_cron(text: Any) -> str:
    parse_cron(text)
    return str(text)


def check_regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"malformed regular expression {text!r}: {exc}") from None
    return text


Duration = Annotated[
    str,
    AfterValidator(check_duration),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+d)?(\d+h)?(\d+m)?$", "minLength": 2}),
]
CronExpression = Annotated[
    str, AfterValidator(check_cron), WithJsonSchema({"type": "string", "minLength": 9})
]
Regex = Annotated[str, AfterValidator(check_regex)]
UnmanagedPolicy = Literal["note", "error", "delete"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TagPattern(Strict):
    pattern: Regex = Field(description="regular expression the whole tag value must match")


class MetricBounds(Strict):
    min: float | None = Field(default=None, description="the metric must be at least this")
    max: float | None = Field(default=None, description="the metric must be at most this")

    @model_validator(mode="after")
    def _some_bound(self) -> MetricBounds:
        if self.min is None and self.max is None:
            raise ValueError("a metric gate needs min, max or both")
        return self


class Gate(Strict):
    """What a version must show before an alias may point at it (in plan and again in apply)."""

    require_tags: dict[str, str | TagPattern] = Field(
        default_factory=dict,
        description="version tags that must be set: an exact value or {pattern: regex}",
    )
    require_signature: bool | None = Field(
        default=None, description="the version's MLmodel must have a signature"
    )
    promotes_from: AliasName | None = Field(
        default=None,
        description="the version must hold this alias now, or have held it through this tool",
    )
    metrics: dict[str, MetricBounds] = Field(
        default_factory=dict, description="bounds on the metrics of the version's run or model"
    )
    better_than_current: dict[str, Literal["lower", "higher"]] = Field(
        default_factory=dict,
        description="metric -> which way is better than the version the alias holds now",
    )
    min_age: Duration | None = Field(
        default=None, description="the version was created at least this long ago (30m, 24h, 7d)"
    )


class FreezeWindow(Strict):
    """A window in which apply refuses, unless run with --override-freeze --reason."""

    cron: CronExpression = Field(description="when the window starts (5 fields, UTC)")
    duration: Duration = Field(description="how long it lasts (30m, 24h, 7d)")
    reason: str = Field(description="shown when apply refuses")


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


class TagRule(BaseModel):
    """One required version tag: an exact value, or a regex the whole value must match."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str | None = None
    pattern: str | None = None


class TrackPolicy(BaseModel):
    """Which versions an alias follows: the newest READY one carrying these tags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tags: dict[str, TagRule] = Field(default_factory=dict)


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


def _tag_rule(key: str, rule: Any) -> dict[str, str]:
    if isinstance(rule, str):
        return {"value": rule}
    if isinstance(rule, dict) and set(rule) == {"pattern"} and isinstance(rule["pattern"], str):
        return {"pattern": rule["pattern"]}
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

    aliases: dict[AliasName, Version] = Field(
        default_factory=dict,
        description="alias -> version; null means the alias must not exist",
    )
    prune: bool = Field(
        default=False,
        description="delete live aliases of this model that are not declared",
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
    take_over: bool = Field(
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
        if len(loc) >= 3 and loc[-3] == "gates":
            known = ", ".join(Gate.model_fields)
            return Problem(file, line, col, f"unknown gate {loc[-1]!r} (known: {known})")
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


UNION_MEMBERS = ("str", "TagPattern")


def _without_union_noise(errors: list[Any]) -> list[Any]:
    """A tag requirement is a string or {pattern: ...}: report only the branch that was meant."""
    kept = []
    for error in errors:
        loc = error["loc"]
        member = next((part for part in loc if part in UNION_MEMBERS), None)
        if member is None:
            kept.append(error)
            continue
        meant = "TagPattern" if isinstance(error["input"], dict) else "str"
        if member == meant or (member == "TagPattern" and error["type"] != "model_type"):
            kept.append({**error, "loc": tuple(part for part in loc if part != member)})
    return kept


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


def _is_alias_name(name: str) -> bool:
    try:
        check_alias_name(name)
    except ValueError:
        return False
    return True


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _track_problems(data: Any, file: str, walker: _Walker) -> list[Problem]:
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

    problems = walker.problems + _track_problems(data, file, walker)
    manifest = None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        problems += [
            _problem_from_pydantic(file, err, walker.key_marks, walker.value_marks)
            for err in _without_union_noise(exc.errors())
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
    released_and_declared = _released_and_declared(loaded)
    if released_and_declared:
        raise ManifestError(released_and_declared)
    gate_problems = _gate_problems(loaded)
    if gate_problems:
        raise ManifestError(gate_problems)
    loaded.warnings.extend(_case_collisions(loaded))
    return loaded


def _released_and_declared(loaded: LoadedManifest) -> list[Problem]:
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


def merge_gates(outer: Gate | None, inner: Gate | None) -> Gate | None:
    """Fields the inner gate sets win; maps (tags, metrics) merge key by key."""
    if outer is None or inner is None:
        return inner or outer
    merged = outer.model_dump()
    for name in inner.model_fields_set:
        value = getattr(inner, name)
        if isinstance(value, dict):
            merged[name] = {**merged[name], **inner.model_dump()[name]}
        else:
            merged[name] = value
    return Gate.model_validate(merged)


def _gate_problems(loaded: LoadedManifest) -> list[Problem]:
    """`promotes_from` must name an alias the model declares, or the gate can never pass."""
    problems = []
    manifest = loaded.manifest
    for name, spec in manifest.models.items():
        for alias in spec.aliases:
            gate = manifest.gate_for(name, alias)
            source = gate.promotes_from if gate else None
            if source is None or source in spec.aliases:
                continue
            path: KeyPath = ("models", name, "gates", alias, "promotes_from")
            if path not in loaded.value_marks:
                path = ("gates", alias, "promotes_from")
            line, col = loaded.value_location(*path)
            problems.append(
                Problem(
                    loaded.path,
                    line,
                    col,
                    f"gate for {name}@{alias}: promotes_from {source!r} names an alias "
                    f"model {name!r} does not declare",
                )
            )
    return problems


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
    body = manifest.model_dump(mode="json", exclude_defaults=True)
    for spec in body.get("models", {}).values():
        spec.setdefault("aliases", {})  # what import adopts, even when there is none yet
    # No `$schema` line: a reference to ./registry.schema.json would not resolve in a
    # repository that adopts the tool (`mlflow-gitops schema` writes the file for editors).
    return yaml.safe_dump(body, sort_keys=False, default_flow_style=False, allow_unicode=True)

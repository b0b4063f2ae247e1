"""The registry.yaml format: pydantic models, and a strict loader that keeps line marks.

This is the only module that parses the manifest, which arrives in pull requests: untrusted.
The loader reads libyaml's events itself, so anchors, aliases and tags are refused where they
stand (nothing is expanded or constructed), every limit is checked as it is crossed, and each
scalar means only what the format needs. Every problem is collected (up to a cap) with the
FILE:LINE:COL of the offending key or value.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
)
from pydantic.functional_validators import AfterValidator, BeforeValidator

from controller.errors import ManifestError
from controller.ownership import NAME_PATTERN
from controller.policy import (
    AliasName,
    FreezeWindow,
    Gate,
    Strict,
    TagPattern,
    TrackPolicy,
    check_alias_name,
    merge_gates,
)
from controller.values import Problem

FormatVersion = Literal[1]
SUPPORTED_VERSIONS = get_args(FormatVersion)
# libyaml's parser, when PyYAML was built with it: it keeps line marks and is ~10x faster.
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Limits on untrusted input, each far above any real manifest (5,000 models is ~0.5 MiB, 60,000
# nodes) and low enough that no input can take more than a few seconds or 200 MB to refuse.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 16
MAX_KEYS = 20_000  # in one mapping; it bounds the problems one model can produce
MAX_PROBLEMS = 100  # reported; reading stops there
# Characters YAML does not allow in a stream (control characters other than tab and breaks).
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MAX_REPORTED_CHARACTERS = 10


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
        # Not validated here: _track_problems reports a bad regex at its own line and column.
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

    aliases: dict[AliasName, Version] = Field(
        default_factory=dict,
        description="alias -> version; null means the alias must not exist",
    )
    prune: bool = Field(
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


def _mark(event: yaml.Event) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark else (1, 1)


_TOO_MANY_PROBLEMS = f"stopped after {MAX_PROBLEMS} problems; fix these first"


class _LimitCrossed(Exception):
    """Stop reading at once, before the document grows any further."""


@dataclass
class _Open:
    """A mapping or sequence being read. A None path means: read for limits, then dropped."""

    path: KeyPath | None
    value: dict[str, Any] | list[Any]
    is_key: bool = False
    expecting_key: bool = True
    target: KeyPath | None = None
    first_seen: dict[str, int] = field(default_factory=dict)


class _Builder:
    """Builds plain data from YAML events, recording marks, duplicates and refused constructs.

    Working on events rather than a composed tree means an alias is never expanded, a deep
    document never recurses, and each limit is checked the moment it is crossed.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.key_marks: dict[KeyPath, tuple[int, int]] = {}
        self.value_marks: dict[KeyPath, tuple[int, int]] = {}
        self.refused: set[KeyPath] = set()
        self.stack: list[_Open] = []
        self.root: Any = None
        self.nodes = 0
        self.documents = 0

    def error(self, at: tuple[int, int], message: str) -> None:
        self.problems.append(Problem(self.file, at[0], at[1], message))
        if len(self.problems) >= MAX_PROBLEMS:
            self.problems.append(Problem(self.file, *at, _TOO_MANY_PROBLEMS))
            raise _LimitCrossed

    def stop(self, event: yaml.Event, message: str) -> NoReturn:
        self.problems = [Problem(self.file, *_mark(event), message)]
        raise _LimitCrossed

    def feed(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.stop(event, "the manifest must be a single YAML document")
        elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
            self._count(event)
            self._node(event, None)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self._count(event)
            if len(self.stack) >= MAX_DEPTH:
                self.stop(event, f"nested deeper than {MAX_DEPTH} levels (the limit)")
            self._node(event, {} if isinstance(event, yaml.MappingStartEvent) else [])
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            done = self.stack.pop()
            if not done.is_key:
                self._store(done.value)

    def _count(self, event: yaml.Event) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.stop(event, f"more than {MAX_NODES:,} YAML nodes (the limit)")

    def _node(self, event: yaml.NodeEvent, collection: dict[str, Any] | list[Any] | None) -> None:
        at = _mark(event)
        refusal = _refusal(event)
        if refusal:
            self.error(at, refusal)
        parent = self.stack[-1] if self.stack else None
        if parent is not None and isinstance(parent.value, dict) and parent.expecting_key:
            parent.expecting_key, parent.target = False, None
            if collection is not None:
                if parent.path is not None:
                    self.error(at, "keys must be plain strings")
                self.stack.append(_Open(None, collection, is_key=True))
            elif isinstance(event, yaml.ScalarEvent) and not refusal and parent.path is not None:
                parent.target = self._key(parent, event, at)
            return
        path = self._value_path(parent)
        if path is not None:
            self.value_marks[path] = at
            if refusal:
                self.refused.add(path)
        if collection is not None:
            self.stack.append(_Open(None if refusal else path, collection))
        elif isinstance(event, yaml.ScalarEvent) and not refusal and path is not None:
            self._store(self._scalar(event, path, at))
        else:
            self._store(None)

    def _value_path(self, parent: _Open | None) -> KeyPath | None:
        if parent is None:
            return ()
        if parent.path is None or isinstance(parent.value, dict):
            return parent.target
        return (*parent.path, str(len(parent.value)))

    def _key(self, parent: _Open, event: yaml.ScalarEvent, at: tuple[int, int]) -> KeyPath | None:
        """The path of the value that follows, or None when the key is refused."""
        if not event.style and event.value == "<<":
            self.error(at, "merge keys ('<<') are not allowed: write each key out")
            return None
        # Keys are names (models, aliases): keep the text as written, so `1:` stays "1".
        key = event.value
        if len(parent.first_seen) >= MAX_KEYS:
            self.stop(event, f"more than {MAX_KEYS:,} keys in one mapping (the limit)")
        if key in parent.first_seen:
            first = parent.first_seen[key]
            self.error(at, f"duplicate key {key!r} (first defined on line {first})")
            return None
        parent.first_seen[key] = at[0]
        assert parent.path is not None
        path = (*parent.path, key)
        self.key_marks[path] = at
        return path

    def _store(self, value: Any) -> None:
        parent = self.stack[-1] if self.stack else None
        if parent is None:
            self.root = value
        elif isinstance(parent.value, list):
            parent.value.append(value)
        else:
            if parent.target is not None:
                parent.value[parent.target[-1]] = value
            parent.expecting_key = True

    def _scalar(self, event: yaml.ScalarEvent, path: KeyPath, at: tuple[int, int]) -> Any:
        """The value the format allows at `path`, or a problem saying what to write instead."""
        plain = not event.style  # libyaml reports plain style as "", PyYAML as None
        reader = _typed_reader(path)
        if reader is None:
            return None if plain and event.value in ("", "null", "~") else event.value
        value, message = reader(event.value, plain)
        if message:
            self.error(at, message)
            self.refused.add(path)
        return value


def _refusal(event: yaml.NodeEvent) -> str | None:
    """Anchors, aliases and explicit tags: a manifest has no use for them, so none is read."""
    if isinstance(event, yaml.AliasEvent):
        return f"aliases (*{event.anchor}) are not allowed: write the value itself"
    if event.anchor is not None:
        return f"anchors (&{event.anchor}) are not allowed: write each value out in full"
    if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent) and event.tag is not None:
        tag = event.tag.replace("tag:yaml.org,2002:", "!!")
        return f"explicit tags ({tag}) are not allowed: write the value plainly"
    return None


_STR_TAG = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"
# What the format accepts at the few typed places; everything else is text (names, the URI).
Reader = Callable[[str, bool], tuple[Any, str | None]]
_DECIMAL = re.compile(r"[1-9][0-9]{0,17}")


def _format_version(text: str, plain: bool) -> tuple[Any, str | None]:
    if plain and _DECIMAL.fullmatch(text):
        return int(text), None
    return None, f"write version: 1 (got {_shown(text, plain)})"


def _prune(text: str, plain: bool) -> tuple[Any, str | None]:
    if plain and text in ("true", "false"):
        return text == "true", None
    return None, f"prune must be true or false, got {_shown(text, plain)}"


def _alias_version(text: str, plain: bool) -> tuple[Any, str | None]:
    if plain and _DECIMAL.fullmatch(text):
        return int(text), None
    if plain and text == "null":
        return None, None
    return None, _version_hint(text, plain)


def _version_hint(text: str, plain: bool) -> str:
    """Say what to write instead, for the forms YAML 1.1 would silently turn into a number."""
    shown = _shown(text, plain)
    if not plain:
        if _DECIMAL.fullmatch(text) or text == "null":
            return f"write {text} without quotes (got {shown})"
        return f"a version is a plain number like 3, or null to delete the alias; got {shown}"
    if text == "":
        return "empty value: write null to delete the alias, or a version number"
    if text in ("~", "Null", "NULL"):
        return f"write null to delete the alias (got {shown})"
    if re.fullmatch(r"0+", text):
        return "versions start at 1: write a version number, or null to delete the alias"
    if re.fullmatch(r"0[0-9]{1,17}", text):
        decimal = int(text, 10)
        if re.fullmatch(r"0[0-7]+", text):
            return f"write {decimal} or {int(text, 8)}: leading zeros are ambiguous"
        return f"write {decimal}: leading zeros are not allowed"
    if re.fullmatch(r"[0-9]{19,}", text):
        return f"version {text[:12]}… is too large to be a version"
    hint = _number_hint(text)
    if hint is not None and hint < 1:
        return f"versions start at 1 (got {shown}): write a version number, or null"
    if hint is not None:
        return f"write {hint}: a version is a plain decimal number (got {shown})"
    return f"a version is a plain number like 3, or null to delete the alias; got {shown}"


def _number_hint(text: str) -> int | None:
    """The whole number a YAML 1.1 reader would see in `0x3`, `+3`, `1_0` or `3.0`, if any."""
    if len(text) > 20:
        return None
    try:
        return int(text.replace("_", ""), 0)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _shown(text: str, plain: bool) -> str:
    """The value as written, quoted when it was quoted or would not print on one line."""
    short = text if len(text) <= 40 else text[:40] + "…"
    quoted = repr(short)
    return short if plain and quoted[1:-1] == short else quoted


def _typed_reader(path: KeyPath) -> Reader | None:
    if path == ("version",):
        return _format_version
    if len(path) == 3 and path[0] == "models" and path[2] == "prune":
        return _prune
    if len(path) == 4 and path[0] == "models" and path[2] == "aliases":
        return _alias_version
    if len(path) == 7 and path[0] == "models" and path[2:6] == ("track", path[3], "latest", "tags"):
        return _tag_value
    # Gates' required tags, global and per model: strings too, as MLflow's tag values are.
    if len(path) == 4 and path[0] == "gates" and path[2] == "require_tags":
        return _tag_value
    if len(path) == 6 and path[0] == "models" and path[2] == "gates" and path[4] == "require_tags":
        return _tag_value
    return None


_YAML_11 = yaml.resolver.Resolver()


@dataclass(frozen=True)
class Unquoted:
    """A plain scalar YAML 1.1 reads as a number or boolean, kept as written (not as a str).

    Tag values are strings: the track policy refuses this and asks for quotes ("got true").
    """

    text: str

    def __repr__(self) -> str:
        return self.text


def _tag_value(text: str, plain: bool) -> tuple[Any, str | None]:
    if not plain:
        return text, None
    tag = _YAML_11.resolve(yaml.ScalarNode, text, (True, False))
    if tag == _STR_TAG:
        return text, None
    return (None if tag == _NULL_TAG else Unquoted(text)), None


def _problem_from_pydantic(file: str, error: Any, key_marks: dict, value_marks: dict) -> Problem:
    loc = tuple(str(part) for part in error["loc"])
    is_key_error = _is_key_error(error)
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
        where = ".".join(_printable(part) for part in loc) or "document"
        message = f"{where}: {error['msg'].lower()}"
    return Problem(file, line, col, message)


def _printable(name: str) -> str:
    """A name as written when it prints plainly on one line, else quoted with escapes."""
    return name if name.isprintable() and name.strip() == name and name else repr(name)


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


def _track_problems(data: Any, file: str, walker: _Builder) -> list[Problem]:
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


def parse_manifest(text: str, file: str) -> LoadedManifest:
    """Validate manifest text. Raises ManifestError with every problem found."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_MANIFEST_BYTES:
        raise ManifestError([_too_large(file)])
    _check_characters(text, file)
    builder = _Builder(file)
    try:
        for event in yaml.parse(text, Loader=FAST_LOADER):
            builder.feed(event)
    except _LimitCrossed:
        raise ManifestError(builder.problems) from None
    except yaml.YAMLError as exc:
        raise ManifestError([_syntax_problem(file, text, exc)]) from None
    data = builder.root
    if data is None and not builder.problems:
        raise ManifestError([Problem(file, 1, 1, "the manifest is empty")])
    if not isinstance(data, dict):
        builder.error((1, 1), "the manifest must be a mapping with 'version' and 'models'")
        raise ManifestError(builder.problems)

    manifest, problems = _validate(data, builder)
    problems += _track_problems(data, file, builder)
    if problems or manifest is None:
        problems.sort(key=lambda p: (p.line, p.col))
        raise ManifestError(problems)

    loaded = LoadedManifest(
        path=file,
        manifest=manifest,
        key_marks=builder.key_marks,
        value_marks=builder.value_marks,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
    released_and_declared = _released_and_declared(loaded)
    if released_and_declared:
        raise ManifestError(released_and_declared)
    gate_problems = _gate_problems(loaded)
    if gate_problems:
        raise ManifestError(gate_problems)
    prune_problems = _prune_spelling(loaded)
    errors = [p for p in prune_problems if p.severity == "error"]
    if errors:
        raise ManifestError(errors)
    loaded.warnings.extend(_case_collisions(loaded))
    loaded.warnings.extend(prune_problems)
    return loaded


def _prune_spelling(loaded: LoadedManifest) -> list[Problem]:
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


def _validate(data: dict[str, Any], builder: _Builder) -> tuple[Manifest | None, list[Problem]]:
    """Validate model by model, so that a manifest of many broken models stops at the cap."""
    problems = list(builder.problems)

    def check(part: dict[str, Any]) -> Manifest | None:
        try:
            return Manifest.model_validate(part)
        except ValidationError as exc:
            problems.extend(
                _problem_from_pydantic(builder.file, err, builder.key_marks, builder.value_marks)
                for err in _without_union_noise(exc.errors(include_url=False))
                if not _under(builder.refused, err)
            )
            return None

    models = data.get("models")
    if not isinstance(models, dict):
        return check(data), problems
    valid: dict[str, ModelSpec] = {}
    for name, spec in models.items():
        one = check({"version": 1, "models": {name: spec}})
        if one is not None:
            valid.update(one.models)
        if len(problems) >= MAX_PROBLEMS:
            line, col = problems[-1].line, problems[-1].col
            return None, [*problems, Problem(builder.file, line, col, _TOO_MANY_PROBLEMS)]
    top = check({**data, "models": {}})
    if top is None or problems:
        return None, problems
    return top.model_copy(update={"models": valid}), problems


def _under(refused: set[KeyPath], error: Any) -> bool:
    """True for a pydantic error inside a value already reported (a refused anchor, say)."""
    path = tuple(str(part) for part in error["loc"])
    own = 1
    if _is_key_error(error):
        path, own = path[:-1], 0  # a key's own problem is not its value's
    return any(path[:end] in refused for end in range(len(path) + own))


def _is_key_error(error: Any) -> bool:
    """Pydantic marks a dict key's own error with a last loc part "[key]"; a key may be named
    "[key]" too, but missing and unknown keys are never errors of a key's own."""
    loc = error["loc"]
    return bool(loc) and loc[-1] == "[key]" and error["type"] not in ("missing", "extra_forbidden")


def _too_large(file: str) -> Problem:
    limit = MAX_MANIFEST_BYTES // (1024 * 1024)
    return Problem(file, 1, 1, f"the manifest is larger than the {limit} MiB limit")


def _check_characters(text: str, file: str) -> None:
    """Characters YAML forbids, each at its own line and column (libyaml gives an offset)."""
    problems = []
    for match in itertools.islice(_NOT_PRINTABLE.finditer(text), MAX_REPORTED_CHARACTERS):
        line, col = _line_col(text, match.start())
        code = f"U+{ord(match.group()):04X}"
        problems.append(Problem(file, line, col, f"character {code} is not allowed in YAML"))
    if problems:
        raise ManifestError(problems)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def _syntax_problem(file: str, text: str, exc: yaml.YAMLError) -> Problem:
    """One line for any parser complaint, at its mark."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        if "maximum nesting depth" in reason:  # libyaml's own limit (1000), met in a look-ahead
            reason = f"nested deeper than {MAX_DEPTH} levels (the limit)"
            return Problem(file, line, col, reason)
    elif isinstance(exc, yaml.reader.ReaderError):
        line, col = _line_col(text, min(exc.position, len(text)))
        reason = exc.reason
    else:
        line, col, reason = 1, 1, str(exc)
    return Problem(file, line, col, "invalid YAML: " + " ".join(reason.split()))


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
    """Read and validate a manifest file; a missing, huge or unreadable file is a ManifestError."""
    file = str(path)
    data = _read_bytes(file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - data.rfind(b"\n", 0, exc.start)
        raise ManifestError([Problem(file, line, col, "not UTF-8 text")]) from None
    return parse_manifest(text, file)


def manifest_sha256(path: str) -> str:
    """The SHA-256 of a manifest file's bytes, read with the same limit as load_manifest."""
    return hashlib.sha256(_read_bytes(path)).hexdigest()


def _read_bytes(file: str) -> bytes:
    try:
        with open(file, "rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError([Problem(file, 1, 1, "no such file")]) from None
    except OSError as exc:
        raise ManifestError([Problem(file, 1, 1, f"cannot read: {exc.strerror}")]) from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError([_too_large(file)])
    return data


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

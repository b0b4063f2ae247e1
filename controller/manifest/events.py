"""The event-level YAML reader: plain data and line marks from untrusted text, within limits.

It reads libyaml's events itself, so anchors, aliases and tags are refused where they stand
(nothing is expanded or constructed), and every limit is checked as it is crossed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import yaml

from controller.errors import ManifestError
from controller.manifest.model import KeyPath
from controller.policy import PlainScalar
from controller.values import Problem

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


def _mark(event: yaml.Event) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark else (1, 1)


TOO_MANY_PROBLEMS = f"stopped after {MAX_PROBLEMS} problems; fix these first"


class LimitCrossed(Exception):
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


class Builder:
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
            self.problems.append(Problem(self.file, *at, TOO_MANY_PROBLEMS))
            raise LimitCrossed

    def stop(self, event: yaml.Event, message: str) -> NoReturn:
        self.problems = [Problem(self.file, *_mark(event), message)]
        raise LimitCrossed

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
            if not plain:
                return event.value
            return None if event.value in ("", "null", "~") else PlainScalar(event.value)
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
# Readers for the values of the two mappings whose values YAML 1.1 would turn into something
# else (an alias's version, a required tag's value), with hints in the terms of those forms.
# Every other plain scalar reaches the model as text (PlainScalar), and the model's field
# decides what it means: booleans and numbers are typed there, not here.
Reader = Callable[[str, bool], tuple[Any, str | None]]
_DECIMAL = re.compile(r"[1-9][0-9]{0,17}")


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
    if len(path) == 4 and path[0] == "models" and path[2] == "aliases":
        return _alias_version
    # A copied version, `champion: {source: staging, version: 7}`: the same number rules.
    if len(path) == 5 and path[0] == "models" and path[2] == "aliases" and path[4] == "version":
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


def too_large(file: str) -> Problem:
    limit = MAX_MANIFEST_BYTES // (1024 * 1024)
    return Problem(file, 1, 1, f"the manifest is larger than the {limit} MiB limit")


def check_characters(text: str, file: str) -> None:
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


def syntax_problem(file: str, text: str, exc: yaml.YAMLError) -> Problem:
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


def compose_manifest(text: str) -> yaml.Node | None:
    """The YAML node tree, whose marks give character offsets, so an edit can touch one value."""
    return yaml.compose(text, Loader=yaml.SafeLoader)


def read_bytes(file: str) -> bytes:
    try:
        with open(file, "rb") as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError([Problem(file, 1, 1, "no such file")]) from None
    except OSError as exc:
        raise ManifestError([Problem(file, 1, 1, f"cannot read: {exc.strerror}")]) from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError([too_large(file)])
    return data

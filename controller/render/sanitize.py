"""Registry text made safe to show: pure functions every format uses before it writes.

Anyone with EDIT on a model writes its tags, descriptions and run names, so a value must
never move the cursor, recolour or reorder a line (ANSI escapes, `\\r`, bidi overrides), start
a line of its own (`\\n`, which the Actions runner would read as a workflow command), or
notify people from a PR comment (`@team`, `#123`). Values are shown escaped, never dropped.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel

# C0 controls, DEL and C1 controls; bidi embeddings, overrides and isolates (the "Trojan
# Source" characters); line and paragraph separators, which some terminals break lines at.
_NOT_NEWLINE = "\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE_IN_VALUE = re.compile(f"[\n{_NOT_NEWLINE}]")
_UNSAFE_IN_TEXT = re.compile(f"[{_NOT_NEWLINE}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# What a registry-derived field may take of a line; the rest is counted, not shown. The end
# of a message is kept too: a long value quoted in it must not hide what was expected.
MAX_FIELD_CHARS = 500
_KEPT_END_CHARS = 100

T = TypeVar("T")


def _escaped(found: re.Match[str]) -> str:
    char = found[0]
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape_value(value: str) -> str:
    """One value on one line: every control, bidi or line-breaking character escaped."""
    return _UNSAFE_IN_VALUE.sub(_escaped, value)


def escape_text(text: str) -> str:
    """A whole output: its own line breaks kept, every other control character escaped."""
    return _UNSAFE_IN_TEXT.sub(_escaped, text.replace("\r\n", "\n"))


def shorten(value: str, limit: int = MAX_FIELD_CHARS) -> str:
    """About `limit` characters of a value: its start and its end, and how many were left out."""
    if len(value) <= limit:
        return value
    end = min(_KEPT_END_CHARS, limit // 5)
    start = limit - end
    return f"{value[:start]}… ({len(value) - limit:,} more) …{value[len(value) - end :]}"


def clean(value: str) -> str:
    """A registry value as every format shows it: escaped and of bounded length."""
    return shorten(escape_value(value))


def cleaned(value: T) -> T:
    """A copy of a rendered value (a plan, a report, problems) with every string cleaned.

    Dict keys too: tag keys and metric names are registry text as much as their values.
    """
    return _clean_any(value)


def _clean_any(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, BaseModel):
        return value.model_copy(
            update={name: _clean_any(getattr(value, name)) for name in type(value).model_fields}
        )
    if isinstance(value, dict):
        return {_clean_any(k): _clean_any(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_clean_any(item) for item in value)
    return value


# The Actions runner reads a line as a workflow command when it starts with `::` after any
# leading whitespace; only the tool's own annotations may.
_COMMAND_LIKE = re.compile(r"^(\s*):(?=:)", re.MULTILINE)


def without_workflow_commands(text: str) -> str:
    """Text for a GitHub log in which no line can be read as a workflow command."""
    return _COMMAND_LIKE.sub(r"\1%3A", text)


# `@name` notifies a user or team and `#123` links an issue, even inside a table cell.
_MENTION = re.compile(r"(?<![\w`])([@#])(?=[\w-])")
ZERO_WIDTH_JOINER = "\u200d"


def without_mentions(text: str) -> str:
    """Markdown text from the registry that notifies nobody and links no issue."""
    return _MENTION.sub(lambda m: m[1] + ZERO_WIDTH_JOINER, text)

"""The commit message promote, rollback and update write, and the parser history reads it back with.

`promote bikes@champion: 3 -> 4`, then trailers (`Model:`, `Alias:`, `From:`, `To:`) that git
and other tools can read. Writer and parser live together so the format cannot drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from controller.values import show_version

EditKind = Literal["promote", "rollback", "update"]
KINDS: tuple[EditKind, ...] = ("promote", "rollback", "update")
_SUBJECT = re.compile(
    r"^(?P<kind>promote|rollback|update) (?P<address>.+): (?P<was>\S+) -> (?P<to>\d+)$"
)


@dataclass(frozen=True)
class EditSubject:
    """What a promote, rollback or update commit's subject says it did."""

    kind: EditKind
    address: str
    from_version: int | None
    to_version: int


def write(kind: EditKind, model: str, alias: str, from_version: int | None, to: int | str) -> str:
    """The subject and trailers; `to` is a version, or a copy as plans name it."""
    was = show_version(from_version)
    return (
        f"{kind} {model}@{alias}: {was} -> {to}\n\n"
        f"Model: {model}\nAlias: {alias}\nFrom: {was}\nTo: {to}\n"
    )


def parse_subject(subject: str) -> EditSubject | None:
    """The edit a subject line records, or None for any other commit."""
    match = _SUBJECT.match(subject)
    if match is None:
        return None
    was = match["was"]
    (kind,) = [kind for kind in KINDS if kind == match["kind"]]
    return EditSubject(
        kind=kind,
        address=match["address"],
        from_version=None if was == "none" else int(was) if was.isdigit() else None,
        to_version=int(match["to"]),
    )

"""Alias changes read back from the manifest's git history. Pure: revisions in, entries out."""

from __future__ import annotations

import re

from controller.commit_message import parse_subject
from controller.errors import ManifestError
from controller.manifest import CopyFrom, LoadedManifest, parse_manifest
from controller.values import (
    Change,
    CommitInfo,
    HistoryEntry,
    HistoryKind,
    Plan,
    Revision,
    RollbackLane,
)

# model -> alias -> version or copy (None: declared absent)
Declared = dict[str, dict[str, int | CopyFrom | None]]


def alias_changes(revisions: list[Revision]) -> tuple[list[HistoryEntry], list[str]]:
    """Entries newest first, and a warning for each revision that could not be read.

    A revision that does not parse is skipped: its changes show up in the next one that does.
    """
    batches: list[list[HistoryEntry]] = []  # one per commit, oldest first
    warnings: list[str] = []
    before: Declared = {}
    reader = _RevisionReader()
    for revision in reversed(revisions):
        short = revision.commit.sha[:7]
        if revision.text is None:
            warnings.append(f"skipping commit {short}: it deletes {revision.path}")
            continue
        try:
            after = reader.declared(revision.text, revision.path)
        except ManifestError as exc:
            first = exc.problems[0]
            warnings.append(f"skipping commit {short}: {revision.path} did not parse ({first})")
            continue
        batches.append(_diff(revision.commit, before, after))
        before = after
    entries = [entry for batch in reversed(batches) for entry in batch]
    held = {id(entry) for entry in holds(entries).values()}
    return [e.model_copy(update={"holds": True}) if id(e) in held else e for e in entries], warnings


def _backwards(entry: HistoryEntry) -> bool:
    return None not in (entry.from_version, entry.to_version) and (
        (entry.to_version or 0) < (entry.from_version or 0)
    )


def _forwards(entry: HistoryEntry) -> bool:
    return None not in (entry.from_version, entry.to_version) and (
        (entry.to_version or 0) > (entry.from_version or 0)
    )


def holds(entries: list[HistoryEntry]) -> dict[tuple[str, str], HistoryEntry]:
    """(model, alias) -> the backwards move that holds it: the latest one not followed by a
    forward move. `update` then proposes only versions newer than the one it left."""
    found: dict[tuple[str, str], HistoryEntry] = {}
    decided: set[tuple[str, str]] = set()
    for entry in entries:  # newest first: the first move either way decides
        key = (entry.model, entry.alias)
        if key in decided:
            continue
        if _backwards(entry):
            found[key] = entry
            decided.add(key)
        elif _forwards(entry):
            decided.add(key)
    return found


def rollback_lane(
    entries: list[HistoryEntry], model: str, alias: str, version: int
) -> RollbackLane | None:
    """Whether setting MODEL@ALIAS to `version` is a rollback: an earlier commit declared that
    version for this alias and a later one moved it off. Git history alone decides, never a
    registry tag. The commit declaring it again, if any, is the rollback's."""
    moved_off: CommitInfo | None = None
    back: CommitInfo | None = None
    for entry in reversed(entries):  # oldest first
        if entry.model != model or entry.alias != alias:
            continue
        if entry.from_version == version and entry.to_version != version:
            moved_off, back = entry.commit, None
        elif entry.to_version == version and moved_off is not None:
            back = entry.commit
    if moved_off is None:
        return None
    return RollbackLane(
        served_until=moved_off.date,
        commit=back.sha if back else None,
        committed_at=back.committed if back else None,
    )


def rollback_lanes(plan: Plan, entries: list[HistoryEntry]) -> Plan:
    """The plan with each change back to a version that held its alias marked as a rollback,
    and no other change marked (a saved plan's own word on that is not taken)."""

    def marked(change: Change) -> Change:
        lane = (
            rollback_lane(entries, change.model, change.alias, change.to_version)
            if change.to_version is not None
            else None
        )
        gate = plan.gate_specs.get(change.address)
        if lane and gate:  # a saved plan's gates; review fills these in for a fresh one
            lane = lane.model_copy(update={"waived": gate.soft_checks()})
        return change.model_copy(update={"rollback": lane})

    return plan.model_copy(update={"changes": [marked(c) for c in plan.changes]})


# What may stand at an alias value for an in-place edit to be understood without a parse: a
# plain version or null, then only blanks and a comment.
# The loader's own rule for a version (at most 18 digits), so a patch accepts no more than it.
_PLAIN_VALUE = re.compile(r"(?P<value>[1-9][0-9]{0,17}|null)(?P<rest>(?:[ \t]+#.*)?[ \t]*\r?)")
# Line breaks other than \n and \r\n would number lines differently from YAML's marks.
_OTHER_BREAKS = re.compile("\r(?!\n)|[\x85\u2028\u2029]")


class _RevisionReader:
    """Reads revisions oldest first, parsing a revision only when it must.

    Most commits are promotions or rollbacks that rewrite one alias value in place. When every
    line a commit changed is such a value, on a line that holds nothing else, the new revision
    is the old one with those values replaced: valid, with the same structure. Anything else
    (a new key, a comment moved, flow style, a changed line count) gets a full parse.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.declared_before: Declared = {}
        self.alias_lines: dict[int, tuple[str, str, int]] = {}  # line index -> model, alias, col

    def declared(self, text: str, path: str) -> Declared:
        lines = [] if _OTHER_BREAKS.search(text) else text.split("\n")
        patched = self._patched(lines)
        if patched is None:
            loaded = parse_manifest(text, path)
            patched = {name: dict(s.aliases) for name, s in loaded.manifest.models.items()}
            self.alias_lines = _alias_value_lines(loaded)
        self.lines, self.declared_before = lines, patched
        return patched

    def _patched(self, lines: list[str]) -> Declared | None:
        if not self.lines or len(lines) != len(self.lines):
            return None
        declared = dict(self.declared_before)
        for index, (old, new) in enumerate(zip(self.lines, lines, strict=True)):
            if old == new:
                continue
            if index not in self.alias_lines:
                return None
            model, alias, col = self.alias_lines[index]
            old_value = _PLAIN_VALUE.fullmatch(old, col)
            new_value = _PLAIN_VALUE.fullmatch(new, col)
            if not (old_value and new_value) or old[:col] != new[:col]:
                return None
            if old_value["rest"] != new_value["rest"]:
                return None
            value = new_value["value"]
            declared[model] = {**declared[model], alias: None if value == "null" else int(value)}
        return declared


def _alias_value_lines(loaded: LoadedManifest) -> dict[int, tuple[str, str, int]]:
    """Where each alias value starts: line (0-based) -> model, alias, column (0-based).

    Flow style needs no special case: there something other than a comment follows the value
    on its line, so `_PLAIN_VALUE` does not match and the revision is parsed in full.
    """
    return {
        line - 1: (path[1], path[3], col - 1)
        for path, (line, col) in loaded.value_marks.items()
        if len(path) == 4 and path[0] == "models" and path[2] == "aliases"
    }


def _diff(commit: CommitInfo, before: Declared, after: Declared) -> list[HistoryEntry]:
    entries = []
    for model in sorted(before.keys() | after.keys()):
        old, new = before.get(model, {}), after.get(model, {})
        for alias in sorted(old.keys() | new.keys()):
            was, now = old.get(alias), new.get(alias)
            if was != now:
                kind = _kind(commit.subject, was, now)
                entries.append(
                    HistoryEntry(
                        commit=commit,
                        model=model,
                        alias=alias,
                        from_version=was if isinstance(was, int) else None,
                        to_version=now if isinstance(now, int) else None,
                        from_copy=was.named(model) if isinstance(was, CopyFrom) else None,
                        to_copy=now.named(model) if isinstance(now, CopyFrom) else None,
                        kind=kind,
                    )
                )
    return entries


def _kind(subject: str, was: int | CopyFrom | None, now: int | CopyFrom | None) -> HistoryKind:
    """Like plan's reasons: going to a lower version is a rollback, as is a `rollback` commit;
    a copy's versions are another model's, so only the commit says it rolls back."""
    if now is None:
        return "removed"
    if was is None:
        return "assign"
    edit = parse_subject(subject)
    lower = isinstance(now, int) and isinstance(was, int) and now < was
    return "rollback" if lower or (edit and edit.kind == "rollback") else "promote"


def select(
    entries: list[HistoryEntry], model: str | None, alias: str | None, limit: int | None
) -> list[HistoryEntry]:
    """The entries for MODEL (and ALIAS), at most `limit` of them."""
    chosen = [
        e
        for e in entries
        if (model is None or e.model == model) and (alias is None or e.alias == alias)
    ]
    return chosen[:limit]

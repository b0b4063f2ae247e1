"""Alias changes read back from the manifest's git history. Pure: revisions in, entries out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from controller.gitops import CommitInfo, Revision
from controller.manifest import FAST_LOADER, ManifestError, parse_manifest

Kind = Literal["assign", "promote", "rollback", "remove"]
# model -> alias -> version (None: declared absent)
Declared = dict[str, dict[str, int | None]]


@dataclass(frozen=True)
class Entry:
    """One alias changing value in one commit."""

    commit: CommitInfo
    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    kind: Kind

    def to_json_dict(self) -> dict[str, str | int | None]:
        return {
            "commit": self.commit.sha,
            "date": self.commit.date,
            "author": self.commit.author,
            "model": self.model,
            "alias": self.alias,
            "from": self.from_version,
            "to": self.to_version,
            "kind": self.kind,
            "subject": self.commit.subject,
        }


def alias_changes(revisions: list[Revision]) -> tuple[list[Entry], list[str]]:
    """Entries newest first, and a warning for each revision that could not be read.

    A revision that does not parse is skipped: its changes show up in the next one that does.
    """
    batches: list[list[Entry]] = []  # one per commit, oldest first
    warnings: list[str] = []
    before: Declared = {}
    for revision in reversed(revisions):
        short = revision.commit.sha[:7]
        if revision.text is None:
            warnings.append(f"skipping commit {short}: it deletes {revision.path}")
            continue
        try:
            after = _declared(revision.text, revision.path)
        except ManifestError as exc:
            first = exc.problems[0]
            warnings.append(f"skipping commit {short}: {revision.path} did not parse ({first})")
            continue
        batches.append(_diff(revision.commit, before, after))
        before = after
    return [entry for batch in reversed(batches) for entry in batch], warnings


def _declared(text: str, path: str) -> Declared:
    models = parse_manifest(text, path, loader=FAST_LOADER).manifest.models
    return {name: dict(spec.aliases) for name, spec in models.items()}


def _diff(commit: CommitInfo, before: Declared, after: Declared) -> list[Entry]:
    entries = []
    for model in sorted(before.keys() | after.keys()):
        old, new = before.get(model, {}), after.get(model, {})
        for alias in sorted(old.keys() | new.keys()):
            was, now = old.get(alias), new.get(alias)
            if was != now:
                entries.append(
                    Entry(commit, model, alias, was, now, _kind(commit.subject, was, now))
                )
    return entries


def _kind(subject: str, was: int | None, now: int | None) -> Kind:
    """Like plan's reasons: going to a lower version is a rollback, as is a `rollback` commit."""
    if now is None:
        return "remove"
    if was is None:
        return "assign"
    return "rollback" if now < was or subject.startswith("rollback ") else "promote"


def select(
    entries: list[Entry], model: str | None, alias: str | None, limit: int | None
) -> list[Entry]:
    """The entries for MODEL (and ALIAS), at most `limit` of them."""
    chosen = [
        e
        for e in entries
        if (model is None or e.model == model) and (alias is None or e.alias == alias)
    ]
    return chosen[:limit]


def history_text(entries: list[Entry]) -> str:
    """Aligned columns: date, commit, author, address, from -> to, kind, subject."""
    rows = [
        [
            e.commit.date[:16].replace("T", " "),
            e.commit.sha[:7],
            e.commit.author,
            f"{e.model}@{e.alias}",
            f"{_show(e.from_version)} -> {_show(e.to_version)}",
            e.kind,
            e.commit.subject,
        ]
        for e in entries
    ]
    if not rows:
        return "no alias changes found"
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )


def _show(version: int | None) -> str:
    return "none" if version is None else str(version)

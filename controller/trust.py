"""Which of our own registry records a reviewed commit confirms. Pure: records and git facts in.

Our `mlflow-gitops.*` tags are writable by anyone with EDIT on a model, so they are a cache,
never an authority. A deletion that a last-applied record asks for, and a `promotes_from` pass
on an audit tag, need git to confirm the record: the commit it names is HEAD or an ancestor of
HEAD, the manifest (same path) at that commit declares exactly that alias at that version, and
no later commit up to HEAD lists the model under `release`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from controller.errors import ManifestError
from controller.manifest import CopyFrom, parse_manifest
from controller.state import (
    AUDIT_TAG_PREFIX,
    LAST_APPLIED_TAG,
    AuditRecord,
    LiveModel,
    RawVersion,
    audit_tag_key,
)
from controller.values import UNCOMMITTED, Change, HistoryEntry, Plan


@dataclass(frozen=True)
class RecordedCommit:
    """What git says about a commit that one of our records names (gitops.recorded_commits)."""

    sha: str
    on_history: bool  # HEAD, or an ancestor of HEAD
    manifest: str | None = None  # the manifest's text at that commit, same path, if there
    # (sha, text) of the later commits up to HEAD whose manifest mentions `release` at all.
    later: tuple[tuple[str, str], ...] = ()
    shallow: bool = False  # the checkout is a shallow clone: a missing commit may be cut off


@dataclass(frozen=True)
class Claim:
    """A record's word that the tool pointed `model@alias` at `version` in `commit`."""

    model: str
    alias: str
    version: int | None  # None: the record does not name this alias at all
    commit: str | None
    tag: str  # the tag that says so, for the message


History = Mapping[str, RecordedCommit]
# A claim git does not confirm, and why.
Doubt = tuple[Claim, str]
# (model, alias, version) -> why git does not confirm the audit tag there; None: it does.
Audits = Mapping[tuple[str, str, int], str | None]


@dataclass(frozen=True)
class _Read:
    aliases: dict[str, dict[str, int | None]]
    release: frozenset[str]


@lru_cache(maxsize=64)
def _read(text: str, path: str) -> _Read | None:
    """The manifest at a commit, through the strict parser; None where it does not parse."""
    try:
        manifest = parse_manifest(text, path).manifest
    except ManifestError:
        return None
    return _Read(
        # A copy's local version is found, not declared: git confirms no record of one.
        aliases={
            name: {a: v for a, v in spec.aliases.items() if not isinstance(v, CopyFrom)}
            for name, spec in manifest.models.items()
        },
        release=frozenset(manifest.release),
    )


def doubt(
    claim: Claim, history: History, path: str, declared: Collection[str] = frozenset()
) -> str | None:
    """Why git does not confirm the claim, or None when it does.

    `declared` are the models the manifest declares now: a release in between does not matter
    for them (this manifest manages them again), so only the others pay for the release scan.
    """
    commit = claim.commit
    if claim.version is None:
        return f"does not record {claim.model}@{claim.alias}"
    if not commit or commit == UNCOMMITTED:
        return f"names no commit of this manifest's history ({commit or 'none'})"
    facts = history.get(commit)
    if facts is None or not facts.on_history:
        cut = (
            " (this checkout is a shallow clone: fetch-depth: 0)" if facts and facts.shallow else ""
        )
        return f"names commit {commit[:12]}, which is not on this checkout's history{cut}"
    short = commit[:12]
    read = _read(facts.manifest, path) if facts.manifest is not None else None
    if read is None:
        return f"names commit {short}, where the manifest is missing or does not parse"
    if read.aliases.get(claim.model, {}).get(claim.alias) != claim.version:
        return (
            f"names commit {short}, whose manifest does not declare "
            f"{claim.model}@{claim.alias}: {claim.version}"
        )
    if claim.model in declared:
        return None
    for later, text in facts.later:
        # Only a text naming the model (or escaping some name) can release it: parse just those.
        if claim.model not in text and "\\" not in text:
            continue
        later_read = _read(text, path)
        if later_read and claim.model in later_read.release:
            return f"names commit {short}, but the later commit {later[:12]} released {claim.model}"
    return None


def record_deletions(plan: Plan, models: Mapping[str, LiveModel]) -> list[Claim]:
    """The last-applied claims behind the plan's deletions that no manifest line declares.

    A removed alias or model is deleted on the record's word alone, so the record `models`
    show now (plan or apply reads them) must be confirmed; `alias: null` and `unmanaged:
    delete` are the manifest's own word and need no record.
    """
    claims = []
    for change in plan.changes:
        snapshot = plan.models.get(change.model)
        if change.reason != "removed" or snapshot is None:
            continue
        if change.alias in snapshot.declared or snapshot.prune:
            continue
        model = models.get(change.model)
        record = model.last_applied if model else None
        claims.append(
            Claim(
                change.model,
                change.alias,
                record.aliases.get(change.alias) if record else None,
                record.commit if record else None,
                LAST_APPLIED_TAG,
            )
        )
    return claims


def doubts(
    claims: Iterable[Claim], history: History, path: str, declared: Collection[str] = frozenset()
) -> list[Doubt]:
    """The claims git does not confirm, each with why."""
    found = ((claim, doubt(claim, history, path, declared)) for claim in claims)
    return [(claim, why) for claim, why in found if why is not None]


def commits_named(claims: Iterable[Claim]) -> set[str]:
    """The commits git must be asked about."""
    return {claim.commit for claim in claims if claim.commit}


def refusal(claim: Claim, why: str) -> str:
    """The plan problem for a record git does not confirm."""
    return (
        f"{claim.tag} on {claim.model} {why}: {claim.model}@{claim.alias} "
        f"-> {claim.version} left alone (a reviewed commit can delete it with "
        f"`{claim.alias}: null`, or delete it in the registry)"
    )


def audit_claims(versions: Iterable[RawVersion], changes: Iterable[Change]) -> list[Claim]:
    """The audit tags `promotes_from` may lean on: on a version a change moves that alias off,
    each a claim that the tool set the alias there."""
    moved_off = {(c.model, c.alias, c.from_version) for c in changes}
    claims = []
    for raw in versions:
        for key, value in sorted(raw.tags.items()):
            if not key.startswith(AUDIT_TAG_PREFIX):
                continue
            record = AuditRecord.from_tag_value(value)
            if record is None or audit_tag_key(record.alias) != key:
                continue
            if (raw.model, record.alias, raw.version) in moved_off:
                claims.append(Claim(raw.model, record.alias, raw.version, record.commit, key))
    return claims


def audit_verdicts(claims: Iterable[Claim], history: History, path: str) -> Audits:
    """(model, alias, version) -> why git does not confirm its audit tag, or None if it does."""
    return {
        (c.model, c.alias, c.version): doubt(c, history, path)
        for c in claims
        if c.version is not None
    }


@dataclass(frozen=True)
class HoldStart:
    """Since when a version has held an alias, by records an EDIT-only user cannot forge; or
    why that is not known (then a soak is not counted at all)."""

    since: datetime | None
    why: str | None = None


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def audit_claim(raw: RawVersion | None, alias: str) -> tuple[Claim | None, AuditRecord | None]:
    """The audit tag on this version for this alias, as a claim for git to judge."""
    value = raw.tags.get(audit_tag_key(alias)) if raw else None
    record = AuditRecord.from_tag_value(value) if value is not None else None
    if raw is None or record is None or record.alias != alias:
        return None, None
    return Claim(raw.model, alias, raw.version, record.commit, audit_tag_key(alias)), record


def hold_start(
    claim: Claim,
    entries: list[HistoryEntry],
    record: AuditRecord | None,
    doubt_of_record: str | None,
) -> HoldStart:
    """When `claim.version` began to hold `claim.alias`: the later of the reviewed commit that
    declared it (git history, newest first) and its apply, whose audit tag git must confirm.

    A registry tag alone never starts a soak; an apply record older than the commit is an
    earlier stretch's, restored or forged, and starts nothing either.
    """
    declared = next(
        (
            e
            for e in entries
            if e.model == claim.model and e.alias == claim.alias and e.to_version == claim.version
        ),
        None,
    )
    what = f"{claim.alias}: {claim.version}"
    if declared is None:
        return HoldStart(None, f"no commit in the manifest's history declares {what}")
    committed = _moment(declared.commit.committed or declared.commit.date)
    if committed is None:
        return HoldStart(None, f"commit {declared.commit.sha[:12]} has no readable date")
    key = audit_tag_key(claim.alias)
    if record is None:
        return HoldStart(None, f"no {key} tag records its apply")
    if doubt_of_record is not None:
        return HoldStart(None, f"its {key} tag {doubt_of_record}")
    applied = _moment(record.applied_at)
    if applied is None:
        return HoldStart(None, f"its {key} tag has no readable applied_at")
    if applied < committed:
        return HoldStart(
            None,
            f"its {key} tag records an apply before commit {declared.commit.sha[:12]} "
            f"declared {what}",
        )
    return HoldStart(max(applied, committed))

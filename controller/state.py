"""Observed registry state as plain data: what the registry layer reads and plan.py compares
against."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from controller.values import MetricPoint, Record, Signature

LAST_APPLIED_TAG = "mlflow-gitops.last-applied"
AUDIT_TAG_PREFIX = "mlflow-gitops.alias."
# MLflow's SQL stores hold a tag value in VARCHAR(5000); PostgreSQL enforces it (SQLite does
# not). A record longer than that is split over numbered part tags named by the head tag.
TAG_VALUE_LIMIT = 5000
LAST_APPLIED_PART_TAG = LAST_APPLIED_TAG + ".part-"
TAG_KEY_LIMIT = 250  # MLflow rejects longer tag keys; aliases may have 255 characters
READY = "READY"


def _tag_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """Who set an alias on a version, and from what: a model-version tag per alias."""

    alias: str
    # A sha only when the applied manifest was that commit's; else "local, uncommitted".
    commit: str | None
    actor: str | None
    applied_at: str
    from_version: int | None
    manifest_sha256: str | None = None
    freeze_override: str | None = None  # why it was applied inside a freeze window
    rollback: str | None = None  # a rollback: to what it returned, and the checks waived
    rollback_seconds: int | None = None  # from the rollback commit to the alias moving
    reason: str | None = (
        None  # why no commit moved it: "self-heal" when the controller reverted drift
    )

    def to_tag_value(self) -> str:
        record: dict[str, Any] = {
            "alias": self.alias,
            "commit": self.commit,
            "actor": self.actor,
            "applied_at": self.applied_at,
            "from": self.from_version,
            "manifest_sha256": self.manifest_sha256,
        }
        if self.freeze_override:
            record["freeze_override"] = self.freeze_override
        if self.rollback:
            record["rollback"] = self.rollback
            record["rollback_seconds"] = self.rollback_seconds
        if self.reason:
            record["reason"] = self.reason
        return _tag_json(record)

    @classmethod
    def from_tag_value(cls, value: str) -> AuditRecord | None:
        """Parse a tag value; a mangled one is no record, never a crash (it is untrusted)."""
        try:
            data: Any = json.loads(value)
            alias, commit = data["alias"], data.get("commit")
            actor, from_version = data.get("actor"), data.get("from")
            if not isinstance(alias, str) or not isinstance(commit, str | None):
                return None
            return cls(
                alias=alias,
                commit=commit,
                actor=actor if isinstance(actor, str) else None,
                applied_at=str(data.get("applied_at")),
                from_version=from_version if isinstance(from_version, int) else None,
                reason=data["reason"] if isinstance(data.get("reason"), str) else None,
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


def audit_tag_key(alias: str) -> str:
    """The version tag recording who pointed `alias` at it; long aliases end in a digest.

    The tag's value names the alias in full, so a shortened key loses nothing.
    """
    key = AUDIT_TAG_PREFIX + alias
    if len(key) <= TAG_KEY_LIMIT:
        return key
    digest = _digest(alias)[:16]
    return f"{key[: TAG_KEY_LIMIT - len(digest) - 1]}.{digest}"


@dataclass(frozen=True)
class LastApplied:
    """What this tool last set on a model, stored as a registered-model tag (kubectl-style)."""

    aliases: dict[str, int]
    commit: str | None = None
    actor: str | None = None
    applied_at: str | None = None
    # Which manifest applied them (also the owner tag, which a search can filter on).
    owner: str | None = None
    manifest_sha256: str | None = None

    def to_tags(self) -> dict[str, str]:
        """The tags that store this record: one JSON tag, or a head tag and its parts.

        The head names the parts' count and digest, so a reader never trusts parts left over
        from an older, longer record or half-written by an interrupted apply.
        """
        meta = {
            "commit": self.commit,
            "actor": self.actor,
            "applied_at": self.applied_at,
            "owner": self.owner,
            "manifest_sha256": self.manifest_sha256,
        }
        whole = _tag_json({"aliases": self.aliases, **meta})
        if len(whole) <= TAG_VALUE_LIMIT:
            return {LAST_APPLIED_TAG: whole}
        aliases = _tag_json(self.aliases)
        parts = [
            aliases[start : start + TAG_VALUE_LIMIT]
            for start in range(0, len(aliases), TAG_VALUE_LIMIT)
        ]
        head = {**meta, "parts": len(parts), "sha256": _digest(aliases)}
        return {
            **{f"{LAST_APPLIED_PART_TAG}{i}": part for i, part in enumerate(parts, start=1)},
            LAST_APPLIED_TAG: _tag_json(head),
        }

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> LastApplied | None:
        """Parse the tags; a missing or mangled record means 'never applied', never a crash."""
        value = tags.get(LAST_APPLIED_TAG)
        if not value:
            return None
        try:
            data: Any = json.loads(value)
            if "parts" in data:
                joined = "".join(
                    tags[f"{LAST_APPLIED_PART_TAG}{i}"] for i in range(1, int(data["parts"]) + 1)
                )
                if _digest(joined) != data["sha256"]:
                    return None
                raw_aliases = json.loads(joined)
            else:
                raw_aliases = data["aliases"]
            aliases = {str(k): int(v) for k, v in raw_aliases.items()}
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        return cls(
            aliases=aliases,
            commit=data.get("commit"),
            actor=data.get("actor"),
            applied_at=data.get("applied_at"),
            owner=data.get("owner"),
            manifest_sha256=data.get("manifest_sha256"),
        )


@dataclass(frozen=True, slots=True)
class VersionFacts:
    """What the versions search already returns about a version: the evidence of a change
    starts from it, without reading the version again. Registry data: untrusted."""

    status: str
    created_ms: int | None = None
    creator: str | None = None
    description: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    run_id: str | None = None
    source: str = ""
    model_id: str | None = None  # MLflow 3's logged model, where the registry says it


@dataclass(frozen=True)
class LiveModel:
    """One registered model as the registry reports it."""

    name: str
    aliases: dict[str, int] = field(default_factory=dict)
    # version number -> status, for the versions of this model the registry returned
    versions: dict[int, str] = field(default_factory=dict)
    last_applied: LastApplied | None = None
    # The identity of the manifest that manages this model (the owner tag), if any.
    owner: str | None = None
    # version number -> what the search said of it (empty where versions came another way)
    facts: dict[int, VersionFacts] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveVersion:
    """One model version with what tracking policies look at: its status and its tags."""

    version: int
    status: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveState:
    """The managed models that exist; a name missing here does not exist or is `denied`."""

    models: dict[str, LiveModel] = field(default_factory=dict)
    # Names the registry refused to show these credentials: not absent, just not ours to see.
    denied: frozenset[str] = frozenset()


class RawVersion(Record):
    """One model version as the registry reports it, before the plan picks what to show."""

    model: str
    version: int
    created_ms: int | None = None
    creator: str | None = None
    description: str | None = None
    status: str
    tags: dict[str, str] = Field(default_factory=dict)
    run_id: str | None = None
    model_id: str | None = None
    run_url: str | None = None
    # Deleted (or purged) runs: their metrics are shown, but no gate counts them.
    run_deleted: bool = False
    metrics: dict[str, float] = Field(default_factory=dict)
    metric_points: dict[str, MetricPoint] = Field(default_factory=dict)
    # None: the MLmodel file could not be read; absent signature is Signature-less `False`.
    has_signature: bool | None = None
    signature: Signature | None = None


def normalize_version(value: Any) -> int:
    """Alias versions are '2' over REST and 2 from the SQL store; compare them as ints."""
    return int(value)

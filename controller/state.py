"""Observed registry state as plain data: what registry.py reads and plan.py compares against."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

LAST_APPLIED_TAG = "mlflow-gitops.last-applied"
AUDIT_TAG_PREFIX = "mlflow-gitops.alias."
READY = "READY"


def _tag_json(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class AuditRecord:
    """Who set an alias on a version, and from what: a model-version tag per alias."""

    commit: str | None
    actor: str | None
    applied_at: str
    from_version: int | None
    freeze_override: str | None = None  # why it was applied inside a freeze window

    def to_tag_value(self) -> str:
        record: dict[str, Any] = {
            "commit": self.commit,
            "actor": self.actor,
            "applied_at": self.applied_at,
            "from": self.from_version,
        }
        if self.freeze_override:
            record["freeze_override"] = self.freeze_override
        return _tag_json(record)


def audit_tag_key(alias: str) -> str:
    return AUDIT_TAG_PREFIX + alias


@dataclass(frozen=True)
class LastApplied:
    """What this tool last set on a model, stored as a registered-model tag (kubectl-style)."""

    aliases: dict[str, int]
    commit: str | None = None
    actor: str | None = None
    applied_at: str | None = None

    def to_tag_value(self) -> str:
        return _tag_json(
            {
                "aliases": self.aliases,
                "commit": self.commit,
                "actor": self.actor,
                "applied_at": self.applied_at,
            }
        )

    @classmethod
    def from_tag_value(cls, value: str | None) -> LastApplied | None:
        """Parse the tag; a missing or mangled tag means 'never applied', never a crash."""
        if not value:
            return None
        try:
            data: Any = json.loads(value)
            aliases = {str(k): int(v) for k, v in data["aliases"].items()}
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        return cls(
            aliases=aliases,
            commit=data.get("commit"),
            actor=data.get("actor"),
            applied_at=data.get("applied_at"),
        )


@dataclass(frozen=True)
class LiveModel:
    """One registered model as the registry reports it."""

    name: str
    aliases: dict[str, int] = field(default_factory=dict)
    # version number -> status, for the versions of this model the registry returned
    versions: dict[int, str] = field(default_factory=dict)
    last_applied: LastApplied | None = None


@dataclass(frozen=True)
class LiveVersion:
    """One model version with what tracking policies look at: its status and its tags."""

    version: int
    status: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveState:
    """The managed models that exist; a name missing here is a model that does not exist."""

    models: dict[str, LiveModel] = field(default_factory=dict)


def normalize_version(value: Any) -> int:
    """Alias versions are '2' over REST and 2 from the SQL store; compare them as ints."""
    return int(value)

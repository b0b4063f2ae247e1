"""Changes turned into registry writes: aliases, audit tags, and this tool's own records."""

from __future__ import annotations

import contextlib
from typing import Any

from controller.errors import ModelNotFound
from controller.ownership import OWNER_TAG
from controller.registry.client import Connection
from controller.registry.filters import paginate
from controller.state import LAST_APPLIED_PART_TAG, LAST_APPLIED_TAG, LastApplied

PARALLEL_WRITES = 4


class Writes(Connection):
    """One write per call, through MLflow's registry client (no prompt check per write)."""

    @property
    def max_parallel_writes(self) -> int:
        """SQLite takes one writer at a time: parallel writes there only fight for the lock."""
        return 1 if self.target.registry_uri.startswith("sqlite:") else PARALLEL_WRITES

    def set_alias(self, model: str, alias: str, version: int) -> None:
        with self._errors(f"set alias {model}@{alias} -> {version}"):
            self._registry_client.set_registered_model_alias(model, alias, str(version))

    def delete_alias(self, model: str, alias: str) -> None:
        with self._errors(f"delete alias {model}@{alias}"):
            self._registry_client.delete_registered_model_alias(model, alias)

    def write_last_applied(self, model: str, last_applied: LastApplied) -> None:
        """Parts first, the head last: the head is what makes a new record visible."""
        with self._errors(f"record last-applied on {model}"):
            for key, value in last_applied.to_tags().items():
                self._registry_client.set_registered_model_tag(model, key, value)

    def tag_version(self, model: str, version: int, key: str, value: str) -> None:
        with self._errors(f"tag {model} version {version}"):
            self._registry_client.set_model_version_tag(model, str(version), key, value)

    def write_owner(self, model: str, owner: str) -> None:
        with self._errors():
            self._registry_client.set_registered_model_tag(model, OWNER_TAG, owner)

    def forget(self, model: str) -> None:
        """Drop the owner and last-applied records, the head before its parts: the model is
        no longer managed."""
        with contextlib.suppress(ModelNotFound), self._errors():  # already gone: fine
            tags = self._registry_client.get_registered_model(model).tags or {}
            parts = sorted(key for key in tags if key.startswith(LAST_APPLIED_PART_TAG))
            for key in (OWNER_TAG, LAST_APPLIED_TAG, *parts):
                if key in tags:
                    self._registry_client.delete_registered_model_tag(model, key)

    def ensure_alias_webhook(self, name: str, url: str, secret: str) -> str:
        """The registry's webhook `name` sends alias events to `url`, signed with `secret`:
        created, or the existing one of that name updated (so a restart adds none).
        Returns "created" or "updated"."""
        with self._errors(f"register the webhook {name!r}"):
            webhooks = paginate(self.client.list_webhooks)
            existing = next((w for w in webhooks if w.name == name), None)
            # What the controller listens to: an alias set or deleted anywhere.
            # (Any: MLflow types the list with every event name, and lists are invariant.)
            events: list[Any] = ["model_version_alias.created", "model_version_alias.deleted"]
            if existing is not None:
                self.client.update_webhook(
                    existing.webhook_id, url=url, events=events, secret=secret, status="ACTIVE"
                )
                return "updated"
            self.client.create_webhook(name, url, events, secret=secret)
            return "created"

"""What the controller knows, as one value: the status page, `/api/status` and `/metrics` all
read it (Kubernetes conditions: status is data, with the reason and the time of the change).

Pure: no I/O. Registry text in here is untrusted; every renderer escapes it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, computed_field

from controller.values import Record

# What one reconcile of one manifest came to (the `result` label of
# `mlflow_gitops_reconcile_total`).
ReconcileResult = Literal["applied", "no_changes", "error", "refused"]
RESULTS: tuple[ReconcileResult, ...] = ("applied", "no_changes", "error", "refused")


class AliasStatus(Record):
    """One declared alias: what the manifest at the applied commit says, and what is live."""

    model: str
    alias: str
    declared: int | None
    live: int | None
    # A declared copy (`staging bikes v7`); `declared` is then its verified local version, or
    # None until apply makes it.
    copied_from: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def in_sync(self) -> bool:
        if self.copied_from is not None and self.declared is None:
            return False
        return self.declared == self.live


class Reconcile(Record):
    """One reconcile of one manifest: when, at which commit, and what came of it."""

    commit: str | None
    result: ReconcileResult
    started_at: float  # seconds since the epoch
    duration_seconds: float
    summary: str  # one line a person reads: "2 applied", "no changes", the error
    errors: list[str] = Field(default_factory=list)


class ManifestStatus(Record):
    """One manifest the controller keeps in sync."""

    path: str  # inside the repository, e.g. registry.yaml
    registry: str  # the registry URI, credentials removed
    head_commit: str | None = None  # the branch head last fetched
    last_applied_commit: str | None = None  # the last commit whose plan was applied in full
    commit_url: str | None = None  # a link to last_applied_commit when the remote is GitHub
    aliases: list[AliasStatus] = Field(default_factory=list)
    last_reconcile: Reconcile | None = None
    last_success_at: float | None = None  # seconds since the epoch
    errors: list[str] = Field(default_factory=list)  # the last few, newest first
    drift_heals: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def in_sync(self) -> bool:
        return all(alias.in_sync for alias in self.aliases)


class ControllerStatus(Record):
    """The whole controller: where it pulls from, how often, and each manifest's status."""

    repo: str  # the repository URL, credentials removed
    branch: str
    interval_seconds: float
    self_heal: bool
    started_at: float  # seconds since the epoch
    manifests: list[ManifestStatus] = Field(default_factory=list)

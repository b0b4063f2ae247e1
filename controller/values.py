"""The data the layers exchange: plain, immutable, JSON-serialisable values. No I/O here.

The plan (`Plan`), what apply did (`ApplyReport`), what promote or rollback changed
(`AliasEdit`), what history found (`HistoryEntry`) and what update decided for each tracked
alias (`TrackedAlias`) are computed once and rendered in
every format; renderers import this module, never the modules that do the work.
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from controller.policy import FreezeWindow, Gate

Action = Literal["create", "update", "delete"]
# Why an alias changes; history uses the same words for the same events.
Reason = Literal["assign", "promote", "rollback", "drift", "removed", "prune"]
# unknown: the writes were attempted but the read-back could not reach the registry.
Status = Literal["applied", "failed", "skipped", "unknown"]
STATUSES: tuple[Status, ...] = ("applied", "failed", "skipped", "unknown")
Severity = Literal["error", "warning"]
# Where the registry a command talks to was named, in precedence order.
RegistrySource = Literal[
    "--tracking-uri",
    "--registry-uri",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "manifest",
    "default",
]
# What audit tags and last-applied record instead of a commit that did not declare the change.
UNCOMMITTED = "local, uncommitted"

# 2: plans record their source (registry, manifest bytes, commit); 1 did not. 3: the target.
# 4: every change has a `copy` key, and a declared alias may be a copy. 5: ownership changes.
PLAN_FORMAT_VERSION = 5
# How a model changes hands: this manifest adopts it first, takes it over from another, or
# lets it go (`release:`).
OwnershipKind = Literal["adopt", "take_over", "release"]


def show_version(version: int | None) -> str:
    """A version as people read it: `none` where there is no version."""
    return "none" if version is None else str(version)


class Record(BaseModel):
    """Immutable, JSON-serialisable data; field aliases give the wire names (`from`, `to`)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)


class Problem(Record):
    """A manifest problem, kept as data so every output format can point at it."""

    file: str
    line: int
    col: int
    severity: Severity = "error"
    message: str

    def __init__(
        self, file: str, line: int, col: int, message: str, severity: Severity = "error"
    ) -> None:
        """Positional, as the manifest's many checks write it: where, then what."""
        super().__init__(file=file, line=line, col=col, message=message, severity=severity)

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else "warning: "
        return f"{self.file}:{self.line}:{self.col}: {prefix}{self.message}"


# Evidence: the facts a reviewer needs about a proposed version and the one it replaces.


class Column(Record):
    name: str
    type: str


class Signature(Record):
    """An MLmodel signature as columns: named columns by name, unnamed ones by position."""

    inputs: list[Column] = Field(default_factory=list)
    outputs: list[Column] = Field(default_factory=list)


class MetricPoint(Record):
    """Where a gated metric's value came from: the last step logged before the version was
    registered (`step`, `logged_at`), and how many values logged after it were not counted.
    No step: nothing was logged before the registration."""

    step: int | None = None
    logged_at: str | None = None
    later: int = 0


class VersionEvidence(Record):
    """What the plan shows about one version."""

    version: int
    created_at: str | None = None
    age_seconds: int | None = None
    creator: str | None = None
    description: str | None = None
    status: str
    tags: dict[str, str] = Field(default_factory=dict)
    run_id: str | None = None
    run_url: str | None = None
    run_deleted: bool = False
    metrics: dict[str, float] = Field(default_factory=dict)
    metric_points: dict[str, MetricPoint] = Field(default_factory=dict)
    metrics_hidden: int = 0
    has_signature: bool | None = None
    signature: Signature | None = None


class SignatureDiff(Record):
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


class ChangeEvidence(Record):
    """Evidence for one create or update: `to` is proposed, `from` is what it replaces."""

    to_version: VersionEvidence | None = Field(default=None, alias="to")
    from_version: VersionEvidence | None = Field(default=None, alias="from")
    signature_diff: SignatureDiff | None = None
    # False: only what the versions search returned and what a gate reads (no MLmodel, no
    # metrics beyond the gated ones); a plan details its first DETAILED_CHANGES changes.
    detailed: bool = True


class GateResult(Record):
    """One check of a gate: `metrics.rmse`, expected `max 120.0`, actual 131.2."""

    gate: str
    passed: bool
    expected: str
    actual: float | int | bool | str | None = None
    message: str


class RollbackLane(Record):
    """Why a change is a rollback: git history shows the version held this alias until a later
    commit moved it off, so the soft checks of its gate (`waived`) do not block it."""

    served_until: str  # the date (ISO) of the commit that moved the alias off this version
    commit: str | None = None  # the commit that declares the rollback; None: uncommitted
    committed_at: str | None = None  # its committer time (ISO), from which apply counts
    waived: list[str] = Field(default_factory=list)  # the gate checks not run, by name

    def waiver(self, alias: str) -> str | None:
        """The line every format shows, or None when the gate had nothing to waive."""
        if not self.waived:
            return None
        return (
            f"waived for a rollback to a version that served as {alias} until "
            f"{self.served_until[:10]}: {', '.join(self.waived)}"
        )


class CopyRef(Record):
    """A declared copy of a version held elsewhere: another registry (`source`, by its name in
    the manifest), another model, or both; `local` is this model's verified copy, if there is
    one already (apply looks for it again, and verifies it again, before trusting it)."""

    source: str | None = None  # None: this registry
    registry: str | None = None  # the source's URI without credentials; None: this registry
    model: str
    version: int
    local: int | None = None
    # The aliases the source version holds in its registry, as read with it (promotes_from).
    aliases: list[str] = Field(default_factory=list)

    def named(self) -> str:
        """`staging bikes v7`: where the copy comes from, as every format shows it."""
        where = f"{self.source} " if self.source else ""
        return f"{where}{self.model} v{self.version}"

    @property
    def facts_key(self) -> tuple[str, int]:
        """Where the source version's facts sit among a plan's (model, version) facts: a
        source's model names are prefixed so they never meet this registry's."""
        if self.source is None:
            return (self.model, self.version)
        return (f"{COPY_FACTS_PREFIX}{self.source}/{self.model}", self.version)


# No model name holds a NUL: the facts of a source's versions cannot collide with local ones.
COPY_FACTS_PREFIX = "\x00source:"


class Change(Record):
    model: str
    alias: str
    action: Action
    from_version: int | None = Field(alias="from")
    # A copy's `to` is the verified copy found at plan time, or None until apply makes it.
    to_version: int | None = Field(alias="to")
    reason: Reason
    copy_from: CopyRef | None = Field(default=None, alias="copy")
    evidence: ChangeEvidence | None = None
    gates: list[GateResult] = Field(default_factory=list)
    rollback: RollbackLane | None = None

    @property
    def address(self) -> str:
        return f"{self.model}@{self.alias}"

    @property
    def sets(self) -> bool:
        """Points the alias at a version (a create or an update), rather than deleting it."""
        return self.action != "delete"

    @property
    def target(self) -> str:
        """What the alias is to hold, as people read it: `7`, or `staging bikes v7 (copy)`."""
        if self.copy_from is not None:
            return f"{self.copy_from.named()} (copy)"
        return show_version(self.to_version)


class OwnershipChange(Record):
    """A model changing hands: a change a reviewer must see even when no alias moves."""

    model: str
    kind: OwnershipKind
    previous: str | None = None  # the owner a take-over takes it from (registry text)

    def describe(self) -> str:
        """`churn: take over from team-a/models:registry.yaml`."""
        if self.kind == "adopt":
            return f"{self.model}: first adoption"
        if self.kind == "take_over":
            return f"{self.model}: take over from {self.previous}"
        return f"{self.model}: release (aliases left as they are)"


class UnmanagedAlias(Record):
    model: str
    alias: str
    version: int


class PlanProblem(Record):
    """Why the plan cannot be applied, at the manifest line that declares the culprit."""

    model: str
    alias: str | None = None
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None

    @property
    def where(self) -> str | None:
        return f"{self.file}:{self.line}:{self.col}" if self.line else None


class Summary(Record):
    create: int = 0
    update: int = 0
    delete: int = 0
    unchanged: int = 0
    release: int = 0

    @classmethod
    def of(cls, changes: list[Change], unchanged: int, release: int = 0) -> Summary:
        counts = Counter(change.action for change in changes)
        return cls(
            create=counts["create"],
            update=counts["update"],
            delete=counts["delete"],
            unchanged=unchanged,
            release=release,
        )


class ModelSnapshot(Record):
    """What the plan saw and wants for one model; apply uses it to refuse a stale plan."""

    declared: dict[str, int | CopyRef | None]
    observed: dict[str, int]
    last_applied: dict[str, int] | None = None
    prune: bool = False
    # The owner tag the plan saw; apply records this manifest's identity where it differs.
    owner: str | None = None
    # The manifest no longer declares this model, but applied its aliases: they go, and so
    # does the ownership record.
    removed: bool = False


class RegistryRef(Record):
    """Which registry (redacted) and where that choice came from: named in every output."""

    uri: str
    source: RegistrySource

    def describe(self, manifest_path: str | None = None) -> str:
        """`http://host (from MLFLOW_TRACKING_URI)`, for the first line people read."""
        if self.source == "default":
            return f"{self.uri} (embedded default)"
        if self.source == "manifest":
            return f"{self.uri} (from tracking_uri in {manifest_path or 'the manifest'})"
        return f"{self.uri} (from {self.source})"


class PlanSource(Record):
    """What a plan was made from, so apply records it honestly (and the same shape as the
    saved-plan checks of issue 8 use). `registry` carries no `user:pass@`."""

    registry: str = Field(min_length=1)
    manifest_path: str
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    commit: str | None = None  # HEAD when the plan was made
    # Whether the manifest differed from `commit` (edited, staged, untracked, or no git): then
    # no commit declared what the plan applies. Unknown counts as differing.
    dirty: bool = True

    @property
    def committed(self) -> str:
        """The commit that declared what is applied, or that it was a local, uncommitted file."""
        return self.commit if self.commit and not self.dirty else UNCOMMITTED


class Address(Record):
    """A target: a whole model, or one of its aliases."""

    model: str
    alias: str | None = None

    def __str__(self) -> str:
        return self.model if self.alias is None else f"{self.model}@{self.alias}"


class Targeting(Record):
    """A partial plan (`--target`, as Terraform's): only these are planned, gated and applied."""

    addresses: list[Address]
    models: int  # how many models the addresses name
    total: int  # how many the whole plan would cover

    @computed_field  # type: ignore[prop-decorator]
    @property
    def headline(self) -> str:
        return f"Targeted plan: {self.models} of {self.total} models; the rest is not checked"

    def covers_model(self, model: str) -> bool:
        return any(a.model == model for a in self.addresses)

    def covers(self, model: str, alias: str | None) -> bool:
        """The whole model is targeted, or this alias of it (alias None: the model itself)."""
        return any(
            a.model == model and (a.alias is None or a.alias == alias) for a in self.addresses
        )


class Plan(Record):
    format_version: int = PLAN_FORMAT_VERSION
    manifest_path: str | None = None
    registry: RegistryRef | None = None
    source: PlanSource | None = None
    # This manifest's owner identity, recorded on every model it applies.
    owner: str | None = None
    changes: list[Change] = Field(default_factory=list)
    unmanaged: list[UnmanagedAlias] = Field(default_factory=list)
    errors: list[PlanProblem] = Field(default_factory=list)
    summary: Summary = Field(default_factory=Summary)
    models: dict[str, ModelSnapshot] = Field(default_factory=dict)
    # The policy as declared, for reviewers; `apply --plan` takes it from the manifest again.
    gate_specs: dict[str, Gate] = Field(default_factory=dict)
    freeze: list[FreezeWindow] = Field(default_factory=list)
    computed_at: str | None = None
    frozen: str | None = None  # the freeze window open when the plan was computed
    # Models this manifest managed but no longer declares (their applied aliases are deleted),
    # and models it lets go of without touching their aliases (`release:`).
    removed_models: list[str] = Field(default_factory=list)
    released: list[str] = Field(default_factory=list)
    # Models changing hands (adopted, taken over, released): changes too, never "No changes".
    ownership: list[OwnershipChange] = Field(default_factory=list)
    # `--target`: the plan covers only these; problems elsewhere are warnings, not errors.
    target: Targeting | None = None
    warnings: list[PlanProblem] = Field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes or self.removed_models or self.released or self.ownership)

    def exit_code(self, detailed: bool = False) -> int:
        """Terraform's contract: 1 on errors; with detailed exit codes, 2 means changes."""
        if self.errors:
            return 1
        return 2 if detailed and self.has_changes else 0


class ChangeResult(Change):
    status: Status
    error: str | None = None
    # Something true and worth saying about a change that did not fail, e.g. a lost reply.
    note: str | None = None
    # A rollback's time from its commit (committer time) to the alias being moved.
    rollback_seconds: int | None = None

    @classmethod
    def of(cls, change: Change, status: Status, error: str | None = None) -> ChangeResult:
        return cls(**change.model_dump(), status=status, error=error)


class ApplyReport(Record):
    registry: RegistryRef | None = None
    changes: list[ChangeResult] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    # Models no longer managed by this manifest now; their aliases were left as they were.
    released: list[str] = Field(default_factory=list)
    # The ownership changes that landed (adoptions, take-overs, releases).
    ownership: list[OwnershipChange] = Field(default_factory=list)
    target: Targeting | None = None  # the plan's, when it was a targeted one

    @property
    def ok(self) -> bool:
        return not self.errors and all(c.status == "applied" for c in self.changes)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def counts(self) -> dict[Status, int]:
        counts = Counter(c.status for c in self.changes)
        return {status: counts[status] for status in STATUSES}


class Provenance(Record):
    """Who applied what, recorded on the registry so a change can be traced to its commit."""

    commit: str | None  # a sha, or UNCOMMITTED
    actor: str | None
    applied_at: str
    freeze_override: str | None = None
    manifest_sha256: str | None = None
    reason: str | None = None  # "self-heal": the controller reverted drift to what this declares


class AliasEdit(Record):
    """What promote or rollback changed in the manifest, and where the change went."""

    path: str
    model: str
    alias: str
    from_version: int | None
    to_version: int
    # A copy: where the version comes from (`staging bikes v7`), `to_version` being its number.
    to_copy: str | None = None
    branch: str | None = None
    commit: str | None = None
    pull_request_url: str | None = None
    registry: RegistryRef | None = None  # the registry that confirmed the version, if asked


# Git's side, as plain data: gitops.py reads them and the pure history.py reads those, so they
# live here rather than in gitops.py.


class CommitInfo(Record):
    sha: str
    date: str  # author date, ISO 8601
    author: str
    subject: str
    committed: str | None = None  # committer date, ISO 8601: when it landed where it is

    def __init__(
        self, sha: str, date: str, author: str, subject: str, committed: str | None = None
    ) -> None:
        """Positional, in the order git's log format gives the fields."""
        super().__init__(sha=sha, date=date, author=author, subject=subject, committed=committed)


class Checkout(Record):
    """Where the manifest sits in git: what provenance and ownership need. Empty outside git."""

    root: str | None = None
    path_in_repo: str | None = None
    remote_url: str | None = None
    commit: str | None = None  # HEAD
    dirty: bool = True  # the file differs from HEAD's (edited, staged, untracked, no commit)


class Revision(Record):
    """The manifest as one commit left it; text is None where that commit deleted it."""

    commit: CommitInfo
    path: str
    text: str | None

    def __init__(self, commit: CommitInfo, path: str, text: str | None) -> None:
        """Positional: the commit, the file's path in it, its text there."""
        super().__init__(commit=commit, path=path, text=text)


HistoryKind = Literal["assign", "promote", "rollback", "removed"]


class HistoryEntry(Record):
    """One alias changing value in one commit; JSON shows it flat (render/json.py)."""

    commit: CommitInfo
    model: str
    alias: str
    from_version: int | None = Field(alias="from")
    to_version: int | None = Field(alias="to")
    # A copy declared on either side, as plans name it: `staging bikes v7`.
    from_copy: str | None = None
    to_copy: str | None = None
    kind: HistoryKind
    # A backwards move not followed by a forward one: `update` proposes only newer versions.
    holds: bool = False


# bump: the manifest should move to the candidate; branch-exists: that bump is already on
# its branch; up-to-date: the declared version is the candidate; hold: the declared version
# is newer than every matching one (never moved back); no-candidate: nothing matches.
Decision = Literal["bump", "branch-exists", "up-to-date", "hold", "no-candidate", "gated"]


class TrackedAlias(Record):
    """One tracked alias: what the manifest says, what the registry offers, and the verdict."""

    model: str
    alias: str
    declared: int
    candidate: int | None
    decision: Decision
    reason: str
    branch: str | None = None
    commit: str | None = None
    pull_request_url: str | None = None
    supersedes: list[str] = Field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.model}@{self.alias}"


# A notification (controller/notify.py): what happened to a manifest's registry, once per
# apply, drift found or drift healed. Renderers make its text; receivers also get the fields.
EventKind = Literal["applied", "failed", "unknown", "refused", "drift", "healed"]
EVENT_KINDS: tuple[EventKind, ...] = ("applied", "failed", "unknown", "refused", "drift", "healed")


class EventChange(Record):
    """One change an event is about: what moved (or would), and, once applied, how it went."""

    model: str
    alias: str
    action: Action
    from_version: int | None = Field(alias="from")
    to_version: int | None = Field(alias="to")
    reason: Reason
    status: Status | None = None  # None: planned (drift), not applied
    error: str | None = None

    @property
    def address(self) -> str:
        return f"{self.model}@{self.alias}"


class Event(Record):
    """What a notification receiver is told; `registry` carries no credentials."""

    kind: EventKind
    manifest: str
    registry: str | None = None  # None: the command failed before it named one
    commit: str | None = None  # the commit that declared what was applied, or UNCOMMITTED
    summary: str
    changes: list[EventChange] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    link: str | None = None  # the workflow run, in GitHub Actions

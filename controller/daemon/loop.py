"""The reconcile loop: fetch the branch, then plan and apply each manifest through the same
`controller.api` as `plan` and `apply`; only the when is the controller's own.

Level-triggered (controller-runtime's model): every trigger (the poll, a push hook, an MLflow
webhook) wakes the one loop, which recomputes from the full state; no trigger carries state,
and one reconcile runs at a time.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller import api
from controller.daemon.heals import (
    HealBudget,
    conflicted,
    drift_key,
    heals,
    leaving_out,
    stale_records,
    without_heals,
)
from controller.daemon.logs import Log
from controller.daemon.metrics import ControllerMetrics
from controller.daemon.status import (
    AliasStatus,
    ControllerStatus,
    ManifestStatus,
    Reconcile,
    ReconcileResult,
)
from controller.errors import GitopsError, ManifestError
from controller.output import without_credentials
from controller.values import ApplyReport, CopyRef, Event, Plan

# Errors kept per manifest for the status page, newest first.
KEPT_ERRORS = 5
# The first retry after a failure; each next one doubles, up to the interval.
FIRST_BACKOFF_S = 1.0
STATE_FILE = "controller-state.json"
# The secret MLflow signs its webhooks with (http.py checks them with the same variable).
WEBHOOK_SECRET_ENV = "MLFLOW_GITOPS_WEBHOOK_SECRET"
# Events already sent (per commit and kind, per drift), so none is sent twice; bounded.
MAX_REMEMBERED_EVENTS = 10_000

# Where events go (applied, failed, unknown, refused, drift, healed); never blocks the loop.
Notify = Callable[[Event], None]


@dataclass(frozen=True)
class Settings:
    """What `mlflow-gitops controller` was started with."""

    repo: str
    branch: str = "main"
    paths: tuple[str, ...] = ("registry.yaml",)
    interval: float = 60.0
    self_heal: bool = False
    state_dir: Path = Path(".mlflow-gitops-controller")
    allow_rewind: bool = False
    max_heals_per_hour: int = 30
    # Register MLflow's alias webhook on each registry, pointing here (…/hooks/mlflow).
    register_webhook: str | None = None
    flags: api.TargetFlags = field(default_factory=api.TargetFlags)


def backoff(failures: int, interval: float) -> float:
    """Seconds to wait after `failures` failed cycles in a row: 1, 2, 4, ... up to the interval."""
    if failures <= 0:
        return interval
    return min(interval, FIRST_BACKOFF_S * 2 ** (failures - 1))


def _local(declared: int | CopyRef | None, landed: int | None) -> int | None:
    """A declared copy as this registry's version: the copy apply just set, or the verified
    one the plan found (None: not made yet)."""
    if isinstance(declared, CopyRef):
        return landed if landed is not None else declared.local
    return declared


def alias_statuses(plan: Plan, report: ApplyReport | None = None) -> list[AliasStatus]:
    """Each declared alias, declared against live; live as the apply's read-back left it."""
    landed = {
        (r.model, r.alias): r.to_version for r in (report.changes if report else [])
        if r.status == "applied"
    }  # fmt: skip
    return [
        AliasStatus(
            model=name,
            alias=alias,
            declared=_local(declared, landed.get((name, alias))),
            live=landed.get((name, alias), snapshot.observed.get(alias)),
            copied_from=declared.named() if isinstance(declared, CopyRef) else None,
        )
        for name, snapshot in sorted(plan.models.items())
        if not snapshot.removed
        for alias, declared in sorted(snapshot.declared.items())
    ]


def result_of(report: ApplyReport) -> ReconcileResult:
    """applied when every change landed; refused when apply wrote nothing by rule; else error."""
    if report.ok:
        return "applied"
    if report.errors and all(c.status == "skipped" for c in report.changes):
        return "refused"
    return "error"


def summary_of(report: ApplyReport) -> str:
    counts = {s: sum(1 for c in report.changes if c.status == s) for s in ("applied", "failed")}
    skipped = len(report.changes) - counts["applied"] - counts["failed"]
    return f"{counts['applied']} applied, {counts['failed']} failed, {skipped} skipped"


# Who the audit tags and last-applied records name as having applied (in Kubernetes, the pod).
ACTOR = f"mlflow-gitops controller on {socket.gethostname()}"


@dataclass(frozen=True)
class Acted:
    """What a reconcile did once it had a plan."""

    result: ReconcileResult
    summary: str
    report: ApplyReport | None = None
    healed: int = 0
    errors: list[str] = field(default_factory=list)


class Controller:
    """The loop and what it knows. `run` in the main thread; triggers from any thread."""

    def __init__(
        self,
        settings: Settings,
        log: Log,
        notify: Notify | None = None,
        metrics: ControllerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.log = log
        self.notify: Notify = notify or (lambda event: None)
        self.metrics = metrics or ControllerMetrics()
        self.checkout = settings.state_dir / "checkout"
        self.halt = api.Halt()  # set by stop() alone: no new writes, in this apply or any later
        # The halt of the apply in flight: stop() sets it too, and an unreachable registry sets
        # it for that apply only, so the next reconcile writes again once the registry is back.
        self._applying: api.Halt | None = None
        self.budget = HealBudget(settings.max_heals_per_hour)
        self._wake = threading.Event()
        self._fetch_wanted = True
        self._stopping = False
        self._head: str | None = None
        self._fetched_at = float("-inf")  # the poll fetches once per interval, whatever woke it
        self._registries: dict[tuple[str, str], api.Registry] = {}
        self._webhooks: set[tuple[str, str]] = set()  # registries whose webhook points here
        self._notified: dict[tuple[str, ...], None] = {}  # in insertion order
        self._conflicted: dict[str, set[str]] = {}  # per manifest: models whose record we lost
        self._last_applied = self._read_state()
        self.status = ControllerStatus(
            repo=without_credentials(settings.repo),
            branch=settings.branch,
            interval_seconds=settings.interval,
            self_heal=settings.self_heal,
            started_at=time.time(),
            manifests=[
                ManifestStatus(path=p, registry="", last_applied_commit=self._last_applied.get(p))
                for p in settings.paths
            ],
        )
        for path in settings.paths:
            self.metrics.declare(path)

    # Triggers: each only wakes the loop.

    def fetch_now(self) -> None:
        """A push hook: fetch and reconcile at once."""
        self._fetch_wanted = True
        self._wake.set()

    def check_now(self) -> None:
        """A registry webhook: reconcile at once from the commit already fetched."""
        self._wake.set()

    def stop(self, reason: str) -> None:
        """Start no new writes; the one in flight finishes and is recorded, then `run` returns."""
        self.halt.set(reason)  # before reading _applying: _write_halt checks in the other order
        applying = self._applying
        if applying is not None:
            applying.set(reason)
        self._stopping = True
        self._wake.set()

    def _write_halt(self) -> api.Halt:
        """A fresh halt for one apply, already set if the controller is stopping (no lock: stop
        runs in a signal handler, which could interrupt its holder)."""
        halt = api.Halt()
        self._applying = halt
        if self.halt.is_set():
            halt.set(self.halt.reason)
        return halt

    def declares(self, model: str) -> bool:
        """Is this model declared by a manifest we keep (so its webhook is worth a check)?"""
        return any(a.model == model for m in self.status.manifests for a in m.aliases)

    def ready(self, now: float | None = None) -> bool:
        """Every manifest's last reconcile succeeded within three intervals."""
        moment = time.time() if now is None else now
        window = 3 * self.settings.interval
        return all(
            m.last_success_at is not None and moment - m.last_success_at <= window
            for m in self.status.manifests
        )

    def run(self) -> int:
        """Reconcile every interval (sooner when triggered) until stopped; exit code 0."""
        failures = 0
        self.log("controller started", repo=self.status.repo, branch=self.settings.branch,
                 manifests=list(self.settings.paths), interval=self.settings.interval,
                 self_heal=self.settings.self_heal)  # fmt: skip
        while not self._stopping:
            self._wake.clear()
            ok = self.cycle()
            failures = 0 if ok else failures + 1
            if self._stopping:
                break
            # The next poll is due an interval after the last fetch, whatever woke us since.
            until_due = self._fetched_at + self.settings.interval - time.monotonic()
            self._wake.wait(max(0.0, min(backoff(failures, self.settings.interval), until_due)))
            if not self._wake.is_set() and failures:  # a retry fetches again too
                self._fetch_wanted = True
        self.log("controller stopped", reason=self.halt.reason or "stopped")
        return 0

    def cycle(self) -> bool:
        """One fetch (when due) and one reconcile of each manifest; False if anything failed."""
        due = time.monotonic() - self._fetched_at >= self.settings.interval
        fetch, self._fetch_wanted = self._fetch_wanted or due, False
        if fetch or self._head is None:
            self._fetched_at = time.monotonic()
            try:
                head = api.fetch_branch(self.settings.repo, self.settings.branch, self.checkout)
                if head != self._head:
                    api.check_out(self.checkout, head)
                    self.log("fetched", commit=head, previous=self._head)
                    self._head = head
            except GitopsError as exc:
                self.log("fetch failed", level="error", error=str(exc))
                for index, status in enumerate(self.status.manifests):
                    self._failed_before_reading(index, status, str(exc))
                return False
        ok = True
        for index in range(len(self.status.manifests)):
            if self._stopping:
                break
            ok = self.reconcile(index) and ok
        return ok

    def reconcile(self, index: int) -> bool:
        """Plan one manifest at the checked-out head and apply what a commit declares."""
        status = self.status.manifests[index]
        commit = self._head
        started, clock = time.time(), time.monotonic()
        status = status.model_copy(update={"head_commit": commit})
        healed = 0
        errors: list[str] = []
        plan: Plan | None = None
        report: ApplyReport | None = None
        failure: GitopsError | None = None
        previous = self._last_applied.get(status.path)
        try:
            if (
                commit and previous and previous != commit
                and not api.is_ancestor(self.checkout, previous, commit)
                and not self.settings.allow_rewind
            ):  # fmt: skip
                result: ReconcileResult = "refused"
                summary = (
                    f"{commit[:12]} does not descend from the last applied {previous[:12]} "
                    "(history was rewound); not applied without --allow-rewind"
                )
                errors = [summary]
            else:
                loaded = api.validate(str(self.checkout / status.path))
                registry = self._registry(loaded)
                status = status.model_copy(update={"registry": api.registry_ref(registry).uri})
                # Planned as `apply` plans: no evidence that no gate needs.
                sources = api.open_sources(loaded, registry)
                plan = api.plan(loaded, registry, details=False, sources=sources)
                acted = self._act(plan, registry, status.path, sources)
                if acted is None:
                    return True
                result, summary, report = acted.result, acted.summary, acted.report
                healed, errors = acted.healed, acted.errors
        except GitopsError as exc:
            failure = exc
            # A manifest that does not validate is refused, as a plan with errors is; the
            # registry or git failing is an error, retried with backoff.
            result = "refused" if isinstance(exc, ManifestError) else "error"
            errors = [self._shown(line.removeprefix("error: ")) for line in exc.lines()]
            summary = errors[0] if errors else str(exc)
        except Exception as exc:  # a bug: report it and keep going, as a controller must
            result = "error"
            summary = f"internal error: {type(exc).__name__}: {exc}"
            errors = [summary]
        reconcile = Reconcile(
            commit=commit,
            result=result,
            started_at=started,
            duration_seconds=time.monotonic() - clock,
            summary=summary,
            errors=errors,
        )
        succeeded = result in ("applied", "no_changes")
        update: dict[str, Any] = {
            "last_reconcile": reconcile,
            "drift_heals": status.drift_heals + healed,
            "errors": (errors + status.errors)[:KEPT_ERRORS] if errors else status.errors,
        }
        if plan is not None:
            update["aliases"] = alias_statuses(plan, report)
        if succeeded:
            update["last_success_at"] = started + reconcile.duration_seconds
            if commit:
                update["last_applied_commit"] = commit
                update["commit_url"] = api.github_commit_url(self.settings.repo, commit)
                self._remember_applied(status.path, commit)
        status = status.model_copy(update=update)
        self.status = self.status.model_copy(
            update={"manifests": [*self.status.manifests[:index], status,
                                  *self.status.manifests[index + 1:]]}
        )  # fmt: skip
        self.metrics.reconciled(status.path, reconcile, healed)
        self.metrics.show(status)
        self._log_reconcile(status.path, reconcile, plan, report)
        self._announce(status.path, reconcile, plan, report, failure)
        return result != "error"

    def _act(
        self, plan: Plan, registry: api.Registry, path: str, sources: api.Sources
    ) -> Acted | None:
        """Apply what commits ask for; heal drift when allowed; report the rest. None: stopping
        before any write, so there is nothing to report."""
        if plan.errors:
            errors = [self._shown(f"{p.where + ': ' if p.where else ''}{p.message}")
                      for p in plan.errors]  # fmt: skip
            return Acted("refused", f"the plan has {len(errors)} error(s); nothing was applied",
                         errors=errors)  # fmt: skip
        if self.halt.is_set():
            return None
        healing = heals(plan)
        keys = [drift_key(c) for c in healing]
        self.budget.forget_all_but(keys)
        ours = self._conflicted.pop(path, set())
        commit_part = without_heals(plan)
        if commit_part.has_changes or stale_records(commit_part):
            report = api.apply(
                commit_part, registry, halt=self._write_halt(), actor=ACTOR, sources=sources
            )
            self._conflicted[path] = conflicted(plan, report.errors)
            if healing or self._conflicted[path]:
                self.check_now()  # a heal goes on its own, recorded as one
            return Acted(result_of(report), summary_of(report), report, errors=report.errors)
        if not healing:
            return Acted("no_changes", "no changes")
        # Drift from our own write that lost a race (two replicas at two commits) is ours to
        # undo; a person's is undone only with --self-heal.
        allowed = [c for c in healing if self.settings.self_heal or c.model in ours]
        drift = ", ".join(f"{c.address} is {c.from_version}, declared {c.to_version}"
                          for c in healing)  # fmt: skip
        if not allowed:
            return Acted("no_changes", f"drift (not healed without --self-heal): {drift}")
        now, allowed_keys = time.time(), [drift_key(c) for c in allowed]
        if not self.budget.allows(allowed_keys, now):
            reason = (
                f"drift not healed: {drift}; the cap of {self.budget.per_hour} heals per hour "
                "is reached, or this drift was healed once and came back"
            )
            return Acted("refused", reason, errors=[reason])
        self.budget.spend(allowed_keys, now)
        left = {(c.model, c.alias) for c in healing if c not in allowed}
        report = api.apply(
            leaving_out(plan, left), registry, halt=self._write_halt(), reason="self-heal",
            actor=ACTOR, sources=sources,
        )  # fmt: skip
        landed = sum(1 for c in report.changes if c.status == "applied")
        return Acted(result_of(report), f"healed: {summary_of(report)}", report, landed,
                     report.errors)  # fmt: skip

    def _registry(self, loaded: api.LoadedManifest) -> api.Registry:
        """One registry (and client) per target, kept: the controller pays for it once; its
        webhook registered when asked (retried on the next reconcile if that fails)."""
        registry = api.open_registry(
            self.settings.flags, loaded.manifest.tracking_uri, loaded.path, for_apply=True
        )
        key = (registry.target.tracking_uri, registry.target.registry_uri)
        registry = self._registries.setdefault(key, registry)
        url = self.settings.register_webhook
        if url and key not in self._webhooks:
            try:
                done = api.register_alias_webhook(registry, url, os.environ[WEBHOOK_SECRET_ENV])
            except GitopsError as exc:
                self.log("webhook not registered", level="warning", url=url, error=str(exc))
            else:
                self._webhooks.add(key)
                self.log("webhook registered", url=url, registry=api.registry_ref(registry).uri,
                         result=done)  # fmt: skip
        return registry

    def _failed_before_reading(self, index: int, status: ManifestStatus, error: str) -> None:
        reconcile = Reconcile(
            commit=self._head, result="error", started_at=time.time(), duration_seconds=0.0,
            summary=error, errors=[error],
        )  # fmt: skip
        updated = status.model_copy(
            update={"last_reconcile": reconcile, "errors": [error, *status.errors][:KEPT_ERRORS]}
        )
        manifests = list(self.status.manifests)
        manifests[index] = updated
        self.status = self.status.model_copy(update={"manifests": manifests})
        self.metrics.reconciled(status.path, reconcile, 0)

    def _shown(self, line: str) -> str:
        """Problems name files inside the checkout; say them as paths in the repository."""
        return line.replace(f"{self.checkout.resolve()}/", "").replace(f"{self.checkout}/", "")

    def _log_reconcile(
        self, path: str, reconcile: Reconcile, plan: Plan | None, report: ApplyReport | None
    ) -> None:
        changes = (
            [{"address": c.address, "from": c.from_version, "to": c.to_version,
              "reason": c.reason, "status": c.status, "error": c.error} for c in report.changes]
            if report else []
        )  # fmt: skip
        self.log(
            "reconciled",
            level="info" if reconcile.result in ("applied", "no_changes") else "error",
            manifest=path,
            commit=reconcile.commit,
            result=reconcile.result,
            summary=reconcile.summary,
            plan=plan.summary.model_dump() if plan else None,
            changes=changes,
            errors=reconcile.errors,
            duration_seconds=round(reconcile.duration_seconds, 3),
        )

    def _announce(
        self,
        path: str,
        reconcile: Reconcile,
        plan: Plan | None,
        report: ApplyReport | None,
        error: GitopsError | None,
    ) -> None:
        """Notify once per commit and event (and once per drift), never once per poll."""
        commit = reconcile.commit or ""
        event: Event | None = None
        if error is not None:
            event = api.error_event(error, path)
        elif plan is not None and report is not None:
            event = api.apply_event(plan, report, path)
            if event and event.kind == "applied" and reconcile.summary.startswith("healed"):
                event = event.model_copy(update={"kind": "healed"})
        elif reconcile.result == "refused":
            event = api.apply_event(plan, ApplyReport(errors=reconcile.errors), path) if (
                plan is not None and plan.errors
            ) else Event(kind="refused", manifest=path, summary=reconcile.summary,
                         errors=reconcile.errors)  # fmt: skip
        if event is not None:
            event = event.model_copy(update={"commit": event.commit or commit or None})
            key: tuple[str, ...] = (path, commit, event.kind)
            if event.kind == "healed":
                key += tuple(str(drift_key(c)) for c in heals(plan)) if plan else ()
            self._once(key, event)
        if plan is not None and report is None:
            for change in heals(plan):
                drift = api.plan_event(plan.model_copy(update={"changes": [change]}), path)
                if drift is not None:
                    self._once((path, "drift", str(drift_key(change))), drift)

    def _once(self, key: tuple[str, ...], event: Event) -> None:
        if key in self._notified:
            return
        self._notified[key] = None
        while len(self._notified) > MAX_REMEMBERED_EVENTS:  # the oldest go first
            del self._notified[next(iter(self._notified))]
        self.notify(event)

    def _read_state(self) -> dict[str, str]:
        """The last applied commit per manifest, kept across restarts for the rewind check."""
        try:
            data = json.loads((self.settings.state_dir / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def _remember_applied(self, path: str, commit: str) -> None:
        if self._last_applied.get(path) == commit:
            return
        self._last_applied[path] = commit
        target = self.settings.state_dir / STATE_FILE
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(self._last_applied), encoding="utf-8")
        partial.replace(target)

"""`/metrics`: the series issue 23 names, in Prometheus' text format, from the status value.

Counters and the histogram accumulate per reconcile; the gauges are set from the manifest's
status after each one. Labels stay bounded: manifests and the aliases they declare.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from controller.daemon.status import RESULTS, ManifestStatus, Reconcile

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ControllerMetrics:
    """The controller's series, in a registry of its own (no process or GC collectors)."""

    def __init__(self) -> None:
        # Exactly the series: no `_created` twin per counter (a process-wide switch,
        # and this process is the controller).
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        self.alias_in_sync = Gauge(
            "mlflow_gitops_alias_in_sync",
            "1 when the live alias points at the declared version, else 0.",
            ["manifest", "model", "alias"],
            registry=self.registry,
        )
        self.reconcile_total = Counter(
            "mlflow_gitops_reconcile",
            "Reconciles of a manifest, by result.",
            ["manifest", "result"],
            registry=self.registry,
        )
        self.reconcile_duration = Histogram(
            "mlflow_gitops_reconcile_duration_seconds",
            "How long one reconcile of a manifest took.",
            ["manifest"],
            registry=self.registry,
        )
        self.last_applied_commit = Gauge(
            "mlflow_gitops_last_applied_commit_info",
            "The last commit applied in full (value 1; the commit is the label).",
            ["manifest", "commit"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "mlflow_gitops_last_success_timestamp_seconds",
            "When a reconcile of the manifest last succeeded (seconds since the epoch).",
            ["manifest"],
            registry=self.registry,
        )
        self.drift_heals = Counter(
            "mlflow_gitops_drift_heals",
            "Drifted aliases the controller reverted (--self-heal).",
            ["manifest"],
            registry=self.registry,
        )
        self._aliases: dict[str, set[tuple[str, str]]] = {}
        self._commits: dict[str, str] = {}

    def declare(self, manifest: str) -> None:
        """Every result at 0 from the start, so rates and alerts work before the first error."""
        for result in RESULTS:
            self.reconcile_total.labels(manifest, result)
        self.drift_heals.labels(manifest)

    def reconciled(self, manifest: str, reconcile: Reconcile, heals: int) -> None:
        self.reconcile_total.labels(manifest, reconcile.result).inc()
        self.reconcile_duration.labels(manifest).observe(reconcile.duration_seconds)
        if heals:
            self.drift_heals.labels(manifest).inc(heals)

    def show(self, status: ManifestStatus) -> None:
        """Set the gauges from a manifest's status; series of undeclared aliases go away."""
        manifest = status.path
        current = {(a.model, a.alias) for a in status.aliases}
        for model, alias in self._aliases.get(manifest, set()) - current:
            self.alias_in_sync.remove(manifest, model, alias)
        for alias_status in status.aliases:
            gauge = self.alias_in_sync.labels(manifest, alias_status.model, alias_status.alias)
            gauge.set(1 if alias_status.in_sync else 0)
        self._aliases[manifest] = current
        commit = status.last_applied_commit
        if commit and self._commits.get(manifest) != commit:
            if manifest in self._commits:
                self.last_applied_commit.remove(manifest, self._commits[manifest])
            self.last_applied_commit.labels(manifest, commit).set(1)
            self._commits[manifest] = commit
        if status.last_success_at is not None:
            self.last_success.labels(manifest).set(status.last_success_at)

    def text(self) -> bytes:
        return generate_latest(self.registry)

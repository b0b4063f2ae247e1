"""Shape what the registry layer read about a version (`RawVersion`) into what a reviewer sees.
It judges nothing (gates.py does); review.py puts both on the plan.

Which metrics to show, the age against the plan's clock, the signature from the MLmodel
text and its diff between two versions. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from controller.state import RawVersion
from controller.values import (
    Column,
    MetricPoint,
    Signature,
    SignatureDiff,
    VersionEvidence,
)

# One logged value of a metric, as MLflow's history holds it: (value, step, timestamp in ms).
Logged = tuple[float, int, int]
# What `runs/get` says of a run: its latest metrics, and whether it is deleted.
RunFacts = tuple[dict[str, float], bool]
VersionKey = tuple[str, int]

# Without a manifest naming the metrics, a run's first metrics (by name) up to this many.
MAX_METRICS = 12


@dataclass(frozen=True)
class EvidenceNeeds:
    """What the evidence of a plan must read, and no more.

    Every version a change names gets the facts the versions search already returned (free);
    a run's metrics only where a gate bounds or compares them or the change is shown in
    detail; the MLmodel only for `require_signature` and shown details; a metric's history
    only for the metrics a gate reads (`histories`). `exact` are the versions whose every fact
    counts (gated or shown): read one by one if the registry's search leaves their tags out.
    """

    versions: frozenset[VersionKey] = frozenset()
    runs: frozenset[VersionKey] = frozenset()
    signatures: frozenset[VersionKey] = frozenset()
    histories: Mapping[VersionKey, frozenset[str]] = field(default_factory=dict)
    exact: frozenset[VersionKey] = frozenset()

    def without(self, done: EvidenceNeeds) -> EvidenceNeeds:
        """What is left to read once `done` was read (no history is read twice)."""
        return EvidenceNeeds(
            versions=self.versions,
            runs=self.runs - done.runs,
            signatures=self.signatures - done.signatures,
            exact=self.exact - done.exact,
        )


def merged(
    first: Mapping[VersionKey, RawVersion],
    more: Mapping[VersionKey, RawVersion],
    needs: EvidenceNeeds,
) -> dict[VersionKey, RawVersion]:
    """Evidence read in two rounds as one: the second round adds what `needs` asked of it (a
    run's metrics, an MLmodel) to what the first round read."""
    combined = dict(first)
    for key, found in more.items():
        base = combined.get(key)
        if base is None:
            combined[key] = found
            continue
        update: dict[str, object] = {}
        if key in needs.runs:
            update |= {
                "metrics": found.metrics,
                "metric_points": found.metric_points,
                "run_deleted": found.run_deleted,
                "run_url": found.run_url,
            }
        if key in needs.signatures:
            update |= {"has_signature": found.has_signature, "signature": found.signature}
        if key in needs.exact:
            update |= {"tags": found.tags, "description": found.description}
        combined[key] = base.model_copy(update=update)
    return combined


def _columns(spec: Any) -> list[Column]:
    """Columns of one side of a signature (MLmodel stores each side as a JSON string)."""
    if isinstance(spec, str):
        spec = json.loads(spec)
    columns = []
    for index, column in enumerate(spec or []):
        kind = str(column.get("type", "unknown"))
        if kind == "tensor":
            tensor = column.get("tensor-spec") or {}
            kind = f"tensor {tensor.get('dtype')} {tensor.get('shape')}"
        columns.append(Column(name=str(column.get("name") or f"#{index}"), type=kind))
    return columns


def parse_mlmodel(text: str) -> Signature | None:
    """The signature in an MLmodel file, or None when it has none."""
    document = yaml.safe_load(text) or {}
    signature = document.get("signature") if isinstance(document, dict) else None
    if not signature:
        return None
    return Signature(
        inputs=_columns(signature.get("inputs")), outputs=_columns(signature.get("outputs"))
    )


def mlmodel_identity(text: str) -> tuple[Any, Any] | None:
    """An MLmodel file's flavors and signature as written (what a copy must keep), or None
    when the text is no YAML mapping."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(document, dict):
        return None
    return document.get("flavors"), document.get("signature")


def diff_signatures(old: Signature | None, new: Signature | None) -> SignatureDiff:
    """Columns added, removed or retyped between two versions, as `inputs.temp: double`."""
    before = _by_name(old)
    after = _by_name(new)
    return SignatureDiff(
        added=[f"{key}: {after[key]}" for key in after if key not in before],
        removed=[f"{key}: {before[key]}" for key in before if key not in after],
        changed=[
            f"{key}: {before[key]} -> {after[key]}"
            for key in after
            if key in before and before[key] != after[key]
        ],
    )


def _by_name(signature: Signature | None) -> dict[str, str]:
    if signature is None:
        return {}
    return {
        **{f"inputs.{c.name}": c.type for c in signature.inputs},
        **{f"outputs.{c.name}": c.type for c in signature.outputs},
    }


def shown_metrics(metrics: dict[str, float], named: Iterable[str]) -> tuple[dict, int]:
    """The metrics a manifest names (missing ones left out), else the first MAX_METRICS."""
    wanted = list(dict.fromkeys(named))
    if wanted:
        return {m: metrics[m] for m in wanted if m in metrics}, 0
    keys = sorted(metrics)
    return {m: metrics[m] for m in keys[:MAX_METRICS]}, max(0, len(keys) - MAX_METRICS)


def latest(history: Sequence[Logged]) -> Logged:
    """The value MLflow reports as a metric's latest: the highest step, then the latest time."""
    return max(history, key=lambda point: (point[1], point[2]))


def as_registered(raw: RawVersion, histories: Mapping[str, Sequence[Logged]]) -> RawVersion:
    """The gated metrics as they stood when the version was registered.

    A run stays writable after it finished: a better value logged later (at a higher step)
    would become the run's latest and flip a gate. Values logged after the registration do
    not count; `metric_points` says which step was used, when it was logged, and how many
    later values were left out. Timestamps are the logging client's, so a backdated value
    still counts (docs/gates.md says what that means).
    """
    metrics = dict(raw.metrics)
    points = {}
    for name, history in histories.items():
        before = [p for p in history if raw.created_ms is None or p[2] <= raw.created_ms]
        later = len(history) - len(before)
        if before:
            value, step, logged_ms = latest(before)
            metrics[name] = value
            points[name] = MetricPoint(step=step, logged_at=_utc(logged_ms), later=later)
        else:
            metrics.pop(name, None)
            if later:
                points[name] = MetricPoint(later=later)
    return raw.model_copy(update={"metrics": metrics, "metric_points": points})


def history_reads(
    versions: Mapping[VersionKey, RawVersion],
    runs: Mapping[str, RunFacts],
    gated: Mapping[VersionKey, Iterable[str]],
) -> list[tuple[str, str]]:
    """(run, metric) pairs whose history a gate needs: one request each, so only metrics a
    gate reads, once per run, and none for a deleted run (its metrics fail every gate)."""
    return sorted(
        {
            (version.run_id, name)
            for key, version in versions.items()
            if version.run_id and not runs[version.run_id][1]
            for name in gated.get(key, ())
        }
    )


def with_metrics(
    raw: RawVersion,
    runs: Mapping[str, RunFacts],
    histories: Mapping[tuple[str, str], Sequence[Logged]],
    logged_models: Mapping[str, Mapping[str, Sequence[Logged]]],
    gated: Iterable[str],
) -> RawVersion:
    """The version with its run's metrics (or its logged model's, without a run), the gated
    ones as they stood at the registration, and whether the run is deleted."""
    if raw.run_id:
        metrics, deleted = runs[raw.run_id]
        history = {n: histories[(raw.run_id, n)] for n in gated if (raw.run_id, n) in histories}
    else:
        by_name = logged_models.get(raw.model_id or "", {})
        metrics, deleted = {n: latest(points)[0] for n, points in by_name.items()}, False
        history = {n: by_name.get(n, []) for n in gated}
    found = raw.model_copy(update={"metrics": metrics, "run_deleted": deleted})
    return as_registered(found, history)


def _utc(ms: int) -> str:
    """A logged timestamp as UTC; any number is accepted from the client, so not all are dates."""
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return f"{ms} ms"


def version_evidence(
    raw: RawVersion, named_metrics: Iterable[str], now: datetime
) -> VersionEvidence:
    created = datetime.fromtimestamp(raw.created_ms / 1000, tz=UTC) if raw.created_ms else None
    named = list(named_metrics)
    metrics, hidden = shown_metrics(raw.metrics, named)
    return VersionEvidence(
        version=raw.version,
        created_at=created.strftime("%Y-%m-%dT%H:%M:%SZ") if created else None,
        age_seconds=max(0, int((now - created).total_seconds())) if created else None,
        creator=raw.creator or None,
        description=raw.description or None,
        status=raw.status,
        tags=dict(sorted(raw.tags.items())),
        run_id=raw.run_id,
        run_url=raw.run_url,
        run_deleted=raw.run_deleted,
        metrics=metrics,
        metric_points={
            m: point for m, point in raw.metric_points.items() if m in metrics or m in named
        },
        metrics_hidden=hidden,
        has_signature=raw.has_signature,
        signature=raw.signature,
    )

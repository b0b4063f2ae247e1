"""Shape what the registry layer read about a version (`RawVersion`) into what a reviewer sees.

Which metrics to show, the age against the plan's clock, the signature from the MLmodel
text and its diff between two versions. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import yaml

from controller.state import RawVersion
from controller.values import Column, Signature, SignatureDiff, VersionEvidence

# Without a manifest naming the metrics, a run's first metrics (by name) up to this many.
MAX_METRICS = 12


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


def version_evidence(
    raw: RawVersion, named_metrics: Iterable[str], now: datetime
) -> VersionEvidence:
    created = datetime.fromtimestamp(raw.created_ms / 1000, tz=UTC) if raw.created_ms else None
    metrics, hidden = shown_metrics(raw.metrics, named_metrics)
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
        metrics=metrics,
        metrics_hidden=hidden,
        has_signature=raw.has_signature,
        signature=raw.signature,
    )

"""Plans, reports, problems and history as JSON: the machine-readable contract."""

from __future__ import annotations

import json
from typing import Any

from controller.values import ApplyReport, HistoryEntry, Plan, Problem, TrackedAlias


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2)


def plan(plan: Plan) -> str:
    return dumps(plan.model_dump(mode="json", by_alias=True))


def report(report: ApplyReport) -> str:
    return dumps({**report.model_dump(mode="json", by_alias=True), "summary": report.counts()})


def problems(problems: list[Problem]) -> str:
    return dumps(
        {
            "valid": not any(p.severity == "error" for p in problems),
            "problems": [p.model_dump(mode="json") for p in problems],
        }
    )


def history(entries: list[HistoryEntry]) -> str:
    """One flat object per entry: the commit's fields beside the change, as `git log` reads."""
    return dumps([_flat(entry) for entry in entries])


def _flat(entry: HistoryEntry) -> dict[str, str | int | bool | None]:
    return {
        "commit": entry.commit.sha,
        "date": entry.commit.date,
        "author": entry.commit.author,
        "model": entry.model,
        "alias": entry.alias,
        "from": entry.from_version,
        "to": entry.to_version,
        "from_copy": entry.from_copy,
        "to_copy": entry.to_copy,
        "kind": entry.kind,
        "holds": entry.holds,
        "subject": entry.commit.subject,
    }


def tracked(results: list[TrackedAlias], path: str) -> str:
    return dumps(
        {"manifest": path, "tracked": [result.model_dump(mode="json") for result in results]}
    )

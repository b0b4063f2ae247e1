"""Plans, reports, problems and history as JSON: the machine-readable contract."""

from __future__ import annotations

import json
from typing import Any

from controller.values import ApplyReport, HistoryEntry, Plan, Problem, TrackedAlias


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2)


def plan(plan: Plan) -> str:
    return dumps(plan.to_json_dict())


def report(report: ApplyReport) -> str:
    return dumps(report.to_json_dict())


def problems(problems: list[Problem], path: str, models: int | None) -> str:
    return dumps(
        {
            "valid": not any(p.severity == "error" for p in problems),
            "problems": [
                {
                    "file": p.file,
                    "line": p.line,
                    "col": p.col,
                    "severity": p.severity,
                    "message": p.message,
                }
                for p in problems
            ],
        }
    )


def history(entries: list[HistoryEntry]) -> str:
    return dumps([entry.to_json_dict() for entry in entries])


def tracked(results: list[TrackedAlias], path: str) -> str:
    return dumps({"manifest": path, "tracked": [result.to_json_dict() for result in results]})

"""Turn a Plan or an ApplyReport into text, JSON, Markdown or GitHub annotations.

Rendering never decides anything.
"""

from __future__ import annotations

import json

from controller import github, markdown
from controller.apply import ApplyReport
from controller.manifest import Problem
from controller.plan import Change, Plan

SYMBOLS = {"create": "+", "update": "~", "delete": "-"}


def change_line(change: Change) -> str:
    symbol = SYMBOLS[change.action]
    if change.action == "create":
        values = f"{change.to_version}"
    elif change.action == "delete":
        values = f"{change.from_version}"
    else:
        values = f"{change.from_version} -> {change.to_version}"
    return f"{symbol} {change.address}: {values} ({change.reason})"


def plan_text(plan: Plan) -> str:
    lines: list[str] = []
    if plan.changes:
        lines += ["Changes:", *(f"  {change_line(c)}" for c in plan.changes), ""]
    if plan.unmanaged:
        lines.append("Unmanaged aliases (left alone; declare them, or set prune: true):")
        lines += [f"  {u.model}@{u.alias} -> {u.version}" for u in plan.unmanaged]
        lines.append("")
    if plan.errors:
        lines.append("Errors:")
        for error in plan.errors:
            where = f"{error.file}:{error.line}:{error.col}: " if error.line else ""
            lines.append(f"  {where}{error.message}")
        lines += ["", "The plan has errors; nothing will be applied."]
    elif plan.changes:
        s = plan.summary
        lines.append(f"Plan: {s.create} to create, {s.update} to update, {s.delete} to delete.")
    else:
        manifest = plan.manifest or "the manifest"
        lines.append(f"No changes. The registry matches {manifest}.")
    return "\n".join(lines)


def report_text(report: ApplyReport) -> str:
    lines = []
    for result in report.changes:
        suffix = f": {result.error}" if result.error else ""
        lines.append(f"  {change_line(result)} ... {result.status}{suffix}")
    lines += [f"error: {e}" for e in report.errors]
    if not report.changes and not report.errors:
        return "Nothing to apply. The registry already matches."
    applied, failed, skipped = (report.count(s) for s in ("applied", "failed", "skipped"))
    lines.append(f"Apply: {applied} applied, {failed} failed, {skipped} skipped.")
    return "\n".join(lines)


def plan_as(output_format: str, plan: Plan, registry_uri: str) -> str:
    """The plan in a --format; `github` prefixes the text with annotations for each error."""
    if output_format == "json":
        return to_json(plan.to_json_dict())
    if output_format == "markdown":
        return markdown.plan_markdown(plan, registry_uri)
    if output_format == "github" and plan.errors:
        return github.plan_annotations(plan) + "\n" + plan_text(plan)
    return plan_text(plan)


def problems_json(problems: list[Problem]) -> str:
    return to_json(
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


def to_json(data: object) -> str:
    return json.dumps(data, indent=2)

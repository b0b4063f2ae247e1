"""GitHub Actions workflow commands (`::error file=…,line=…::message`): pure formatting.

Escaping follows GitHub's own toolkit (@actions/core), so any message lands as exactly one
annotation on its line. The `github` format is the text output with these in front; only
these may be written as commands (`output.workflow_commands`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from controller.values import Plan, Problem

Level = Literal["error", "warning", "notice"]


def escape_data(message: str) -> str:
    """Escape a workflow-command message: a raw newline would end the command early."""
    return message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a property value: ':' and ',' would also end it early."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def annotation(
    level: Level,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    col: int | None = None,
    title: str | None = None,
) -> str:
    """One `::error file=…,line=…,col=…,title=…::message` workflow command."""
    properties = {"file": file, "line": line, "col": col, "title": title}
    joined = ",".join(
        f"{name}={escape_property(str(value))}"
        for name, value in properties.items()
        if value is not None
    )
    return f"::{level}{' ' + joined if joined else ''}::{escape_data(message)}"


def problem_annotations(problems: Iterable[Problem]) -> str:
    """Manifest problems as annotations on their exact lines."""
    return "\n".join(
        annotation(
            "error" if p.severity == "error" else "warning",
            p.message,
            file=p.file,
            line=p.line,
            col=p.col,
            title=f"manifest {p.severity}",
        )
        for p in problems
    )


def plan_annotations(plan: Plan) -> str:
    """Plan errors (missing model or version) as annotations on the declaring line; a targeted
    plan's partiality, its warnings and each take-over as warnings."""
    lines = []
    if plan.target:
        lines.append(annotation("warning", plan.target.headline, title="targeted plan"))
    lines += [
        annotation(
            "error", e.message, file=e.file, line=e.line, col=e.col, title="registry plan error"
        )
        for e in plan.errors
    ]
    title = "outside the target" if plan.target else "registry plan warning"
    lines += [
        annotation("warning", e.message, file=e.file, line=e.line, col=e.col, title=title)
        for e in plan.warnings
    ]
    lines += [
        annotation("warning", change.describe(), title="ownership change")
        for change in plan.ownership
        if change.kind == "take_over"
    ]
    return "\n".join(lines)

"""GitHub Actions integration: annotations, step outputs and the job summary.

Escaping and the output file format follow GitHub's own toolkit (@actions/core), so any
message lands as exactly one annotation and any value, however many lines, as one output.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from controller import markdown
from controller.apply import ApplyReport
from controller.manifest import Problem
from controller.plan import Plan
from controller.uris import redact

Level = Literal["error", "warning", "notice"]


def escape_data(text: str) -> str:
    """Escape a workflow-command message: a raw newline would end the command early."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value: ':' and ',' would also end it early."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


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
    """Plan errors (missing model or version) as annotations on the declaring line."""
    return "\n".join(
        annotation(
            "error", e.message, file=e.file, line=e.line, col=e.col, title="registry plan error"
        )
        for e in plan.errors
    )


def _delimiter(value: str) -> str:
    """A random heredoc delimiter; redrawn in the (astronomically unlikely) event it occurs."""
    while True:
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
        if delimiter not in value:
            return delimiter


def write_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    """Append step outputs in the `name<<DELIM` form, which is safe for any value."""
    with path.open("a", encoding="utf-8") as file:
        for name, value in outputs.items():
            delimiter = _delimiter(value)
            file.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def append_summary(path: Path, text: str) -> None:
    """Append Markdown to the job summary (it collects every step's summary in order)."""
    with path.open("a", encoding="utf-8") as file:
        file.write(text.rstrip("\n") + "\n")


def publish(outputs: Mapping[str, str], summary: str) -> None:
    """Write outputs and the job summary when running in GitHub Actions; else do nothing.

    Both are published beyond the log, so they are redacted like all other output.
    """
    if output_path := os.environ.get("GITHUB_OUTPUT"):
        write_outputs(Path(output_path), {k: redact(v) for k, v in outputs.items()})
    if summary_path := os.environ.get("GITHUB_STEP_SUMMARY"):
        append_summary(Path(summary_path), redact(summary))


def publish_plan(plan: Plan, exit_code: int, plan_path: str | None, registry_uri: str) -> None:
    """The plan's outputs (`markdown` feeds the PR comment) and its summary table."""
    text = markdown.plan_markdown(plan, registry_uri)
    publish(
        {
            "has-changes": str(plan.has_changes).lower(),
            "exit-code": str(exit_code),
            "plan-json": str(Path(plan_path).resolve()) if plan_path else "",
            "markdown": text,
        },
        text,
    )


def publish_report(report: ApplyReport, exit_code: int, registry_uri: str) -> None:
    """The apply result's outputs and its summary table."""
    text = markdown.report_markdown(report, registry_uri)
    publish(
        {
            "has-changes": str(bool(report.changes)).lower(),
            "exit-code": str(exit_code),
            "markdown": text,
        },
        text,
    )

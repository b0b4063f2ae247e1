"""GitHub Actions I/O at the edge: step outputs, the job summary, and who ran the job.

The output file format follows GitHub's own toolkit (@actions/core), so any value, however
many lines, lands as one output. Annotations are pure formatting: see render/annotations.py.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path

from controller.output import err, redact
from controller.render import markdown
from controller.values import ApplyReport, Plan


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def ci_actor() -> str | None:
    """Who GitHub Actions ran the job for; None anywhere else."""
    return os.environ.get("GITHUB_ACTOR")


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

    Both are published beyond the log, so they are redacted like all other output. They are
    side channels: failing to write one is a warning, never the command's result.
    """
    if output_path := os.environ.get("GITHUB_OUTPUT"):
        try:
            write_outputs(Path(output_path), {k: redact(v) for k, v in outputs.items()})
        except OSError as exc:
            err(f"warning: could not write the step outputs to {output_path}: {exc.strerror}")
    if summary_path := os.environ.get("GITHUB_STEP_SUMMARY"):
        try:
            append_summary(Path(summary_path), redact(summary))
        except OSError as exc:
            err(f"warning: could not write the job summary to {summary_path}: {exc.strerror}")


def publish_plan(plan: Plan, exit_code: int, plan_path: str | None, registry_uri: str) -> None:
    """The plan's outputs (`markdown` feeds the PR comment) and its summary table."""
    text = markdown.plan(plan, registry_uri)
    publish(
        {
            "has-changes": str(plan.has_changes).lower(),
            "exit-code": str(exit_code),
            "plan-json": str(Path(plan_path).resolve()) if plan_path else "",
            "markdown": text,
        },
        text,
    )


def publish_report(report: ApplyReport, registry_uri: str) -> None:
    """The apply result's outputs and its summary table."""
    text = markdown.report(report, registry_uri)
    publish(
        {
            "has-changes": str(bool(report.changes)).lower(),
            "exit-code": str(report.exit_code),
            "markdown": text,
        },
        text,
    )

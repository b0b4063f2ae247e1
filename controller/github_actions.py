"""GitHub Actions I/O at the edge: step outputs, the job summary, and who ran the job.

The output file format follows GitHub's own toolkit (@actions/core), so any value, however
many lines, lands as one output. Annotations are pure formatting: see render/github.py; what
is published when is the console's choice (controller/console.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path

from controller.output import err, redact


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def ci_actor() -> str | None:
    """Who GitHub Actions ran the job for; None anywhere else."""
    return os.environ.get("GITHUB_ACTOR")


def run_url() -> str | None:
    """The web page of the running workflow run (its job summary is on it); None elsewhere."""
    parts = [os.environ.get(name) for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY")]
    run_id = os.environ.get("GITHUB_RUN_ID")
    if not all(parts) or not run_id:
        return None
    return f"{parts[0]}/{parts[1]}/actions/runs/{run_id}"


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

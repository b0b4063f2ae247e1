"""Run the real CLI in a fresh process, with no registry leaking in from the caller's shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Variables that pick a registry or change what apply records: a test sets them explicitly.
SCRUBBED = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "GITHUB_ACTIONS",
    "GITHUB_SHA",
    "GITHUB_ACTOR",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
)


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`mlflow-gitops ARGS` as a user runs it: its own process, no terminal, output captured."""
    base = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,  # a hang guard, not a timing assertion
    )

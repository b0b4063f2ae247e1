"""Run the real CLI hermetically: in a fresh process or in-process, with an environment built
from scratch, so nothing leaks in from the caller's shell or from the CI job running the suite
(GitHub sets GITHUB_ACTIONS, CI, GITHUB_SHA, ... in every step; the CLI reads them)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from click.testing import CliRunner

from controller.cli import main

# All a child keeps from the caller's environment; everything else a test passes explicitly.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "TMPDIR")
# `python -m controller`: the same entry point as the `mlflow-gitops` script.
CLI_ENTRY = ("-m", "controller")
HANG_GUARD_S = 180  # kills a hung run; never a timing assertion


class CliResult(NamedTuple):
    """What an in-process run returned: its exit code and what it printed on each stream."""

    code: int
    out: str
    err: str


def cli_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment a CLI run sees: the allow-list from ours, then the test's own."""
    passed = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    return {**passed, **(env or {})}


def run_cli(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    entry: tuple[str, ...] = CLI_ENTRY,
) -> subprocess.CompletedProcess[str]:
    """`mlflow-gitops ARGS` as a user runs it: its own process, no terminal, output captured.

    `entry` replaces `-m controller` for a probe (`-c CODE`) that runs the CLI its own way.
    """
    return subprocess.run(
        [sys.executable, *entry, *args],
        cwd=cwd,
        env=cli_environment(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )


def start_cli(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """`mlflow-gitops ARGS` started, not awaited, for a test that acts while it runs; stdout
    and stderr are pipes (read them with `communicate`)."""
    return subprocess.Popen(
        [sys.executable, *CLI_ENTRY, *args],
        cwd=cwd,
        env=cli_environment(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def hermetic_environ(env: Mapping[str, str] | None = None) -> Iterator[None]:
    """This process's `os.environ` is exactly `cli_environment(env)` inside, and exactly what
    it was outside, including whatever the CLI set on the way (its fast-fail defaults)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(cli_environment(env))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def invoke_cli(
    *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
) -> CliResult:
    """`mlflow-gitops ARGS` in this process (fast, and a debugger reaches it), in the same
    environment a child of `run_cli` would get; streams are captured by click's runner."""
    with (
        hermetic_environ(env),
        CliRunner().isolation(input=stdin) as (stdout, stderr, _),
    ):
        code = main(list(args))
        sys.stdout.flush()  # the runner's text streams buffer over its byte streams
        sys.stderr.flush()
        return CliResult(code, stdout.getvalue().decode(), stderr.getvalue().decode())

"""apply shows the plan and reads the answer from stdin, terminal or not, as Terraform does;
only `yes` approves. --auto-approve and a saved plan skip the question; CI never waits."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow import MlflowClient

from testing.cli import cli_environment, run_cli

pytestmark = pytest.mark.server

PROMPT = "Only 'yes' will be accepted to approve."
HANG_GUARD_S = 120.0


def run_on_a_terminal(
    args: list[str], cwd: Path, answer: str | None, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run the CLI with a real pseudo-terminal as stdin/stdout/stderr; answer its prompt."""
    primary, secondary = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", *args],
        cwd=cwd,
        env=cli_environment(env),
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
    )
    os.close(secondary)
    seen = b""
    answered = answer is None
    deadline = time.monotonic() + HANG_GUARD_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(primary, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if answer is not None and not answered and b"Enter a value:" in seen:
                os.write(primary, answer.encode() + b"\n")
                answered = True
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(primary)
    return code, seen.decode(errors="replace").replace("\r\n", "\n")


@pytest.fixture
def manifest_dir(tmp_path: Path, make_model: Callable[..., str]) -> tuple[Path, str]:
    name = make_model("confirm", versions=2)
    (tmp_path / "registry.yaml").write_text(
        f"version: 1\nmodels:\n  {name}:\n    aliases:\n      champion: 2\n"
    )
    return tmp_path, name


def test_apply_on_a_terminal_shows_the_plan_then_applies_after_yes(
    manifest_dir: tuple[Path, str], mlflow_server: str, server_client: MlflowClient
) -> None:
    folder, name = manifest_dir
    code, screen = run_on_a_terminal(["apply", "--tracking-uri", mlflow_server], folder, "yes")
    assert code == 0, screen
    assert screen.index(f"+ {name}@champion: 2") < screen.index(PROMPT)
    assert server_client.get_registered_model(name).aliases == {"champion": "2"}


def test_any_other_answer_cancels_and_writes_nothing(
    manifest_dir: tuple[Path, str], mlflow_server: str, server_client: MlflowClient
) -> None:
    folder, name = manifest_dir
    code, screen = run_on_a_terminal(["apply", "--tracking-uri", mlflow_server], folder, "y")
    assert code == 1, screen
    assert "Apply cancelled." in screen
    assert server_client.get_registered_model(name).aliases == {}


def test_auto_approve_skips_the_question_on_a_terminal(
    manifest_dir: tuple[Path, str], mlflow_server: str, server_client: MlflowClient
) -> None:
    folder, name = manifest_dir
    args = ["apply", "--auto-approve", "--tracking-uri", mlflow_server]
    code, screen = run_on_a_terminal(args, folder, None)
    assert code == 0, screen
    assert PROMPT not in screen
    assert server_client.get_registered_model(name).aliases == {"champion": "2"}


@pytest.mark.parametrize(
    "answer", ["no\n", "y\n", "YES please\n", ""], ids=["no", "y", "other", "eof"]
)
def test_without_a_terminal_anything_but_yes_cancels_and_writes_nothing(
    manifest_dir: tuple[Path, str], mlflow_server: str, server_client: MlflowClient, answer: str
) -> None:
    """`echo no | mlflow-gitops apply` must not apply: stdin is the answer, even from a pipe."""
    folder, name = manifest_dir
    result = run_cli("apply", "--tracking-uri", mlflow_server, cwd=folder, stdin=answer)
    assert result.returncode == 1, result
    assert PROMPT in result.stderr
    assert result.stderr.rstrip().endswith("Apply cancelled."), result.stderr
    assert "applied" not in result.stdout
    assert server_client.get_registered_model(name).aliases == {}


def test_without_a_terminal_yes_on_stdin_applies(
    manifest_dir: tuple[Path, str], mlflow_server: str, server_client: MlflowClient
) -> None:
    folder, name = manifest_dir
    result = run_cli("apply", "--tracking-uri", mlflow_server, cwd=folder, stdin="yes\n")
    assert result.returncode == 0, result
    assert PROMPT in result.stderr
    assert f"+ {name}@champion: 2 (assign) ... applied" in result.stdout
    assert server_client.get_registered_model(name).aliases == {"champion": "2"}


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_auto_approve_never_reads_stdin(
    manifest_dir: tuple[Path, str],
    mlflow_server: str,
    server_client: MlflowClient,
    output_format: str,
) -> None:
    folder, name = manifest_dir
    args = ["--auto-approve", "--format", output_format, "--tracking-uri", mlflow_server]
    result = run_cli("apply", *args, cwd=folder, stdin="no\n")
    assert result.returncode == 0, result
    assert PROMPT not in result.stdout + result.stderr
    assert server_client.get_registered_model(name).aliases == {"champion": "2"}


def test_a_saved_plan_is_applied_without_asking(
    manifest_dir: tuple[Path, str], mlflow_server: str, server_client: MlflowClient
) -> None:
    """The plan file was what was reviewed and approved (Terraform's `apply PLANFILE`)."""
    folder, name = manifest_dir
    uri = ["--tracking-uri", mlflow_server]
    assert run_cli("plan", "--out", "plan.json", *uri, cwd=folder).returncode == 0
    result = run_cli("apply", "--plan", "plan.json", *uri, cwd=folder, stdin="")
    assert result.returncode == 0, result
    assert PROMPT not in result.stdout + result.stderr
    assert server_client.get_registered_model(name).aliases == {"champion": "2"}


def test_nothing_to_do_asks_nothing(
    manifest_dir: tuple[Path, str], mlflow_server: str, server_client: MlflowClient
) -> None:
    folder, name = manifest_dir
    uri = ["--tracking-uri", mlflow_server]
    assert run_cli("apply", "--auto-approve", *uri, cwd=folder).returncode == 0
    result = run_cli("apply", *uri, cwd=folder, stdin="")
    assert result.returncode == 0, result
    assert PROMPT not in result.stderr
    assert "No changes." in result.stdout
    assert server_client.get_registered_model(name).aliases == {"champion": "2"}


@pytest.mark.parametrize("variable", ["CI", "GITHUB_ACTIONS"])
def test_in_ci_without_auto_approve_apply_cancels_at_once(
    manifest_dir: tuple[Path, str],
    mlflow_server: str,
    server_client: MlflowClient,
    variable: str,
) -> None:
    """act hands each step a pseudo-terminal; nobody is at it to answer, so never wait."""
    folder, name = manifest_dir
    from testing.repos import commit_file, make_repo

    # In GitHub Actions apply also wants a committed manifest: commit it.
    repo = make_repo(folder)
    commit_file(repo, "registry.yaml", (folder / "registry.yaml").read_text(), "declare")
    args = ["apply", "--tracking-uri", mlflow_server]
    code, screen = run_on_a_terminal(args, folder, None, {variable: "true"})
    assert code == 1, screen
    assert PROMPT not in screen
    cancelled = [line for line in screen.splitlines() if "Apply cancelled" in line]
    assert len(cancelled) == 1 and "--auto-approve" in cancelled[0], screen
    assert server_client.get_registered_model(name).aliases == {}

    code, screen = run_on_a_terminal([*args, "--auto-approve"], folder, None, {variable: "true"})
    assert code == 0, screen
    assert server_client.get_registered_model(name).aliases == {"champion": "2"}

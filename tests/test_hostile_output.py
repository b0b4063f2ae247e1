"""Registry text an EDIT-only user wrote cannot rewrite the operator's screen, run a workflow
command in the CI log, ping people from the PR comment or push the evidence out of it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pyte
import pytest
from mlflow import MlflowClient

from testing.cli import run_cli
from tests.test_apply_confirmation import run_on_a_terminal

pytestmark = pytest.mark.server

GITHUB_COMMENT_LIMIT = 65_536
# The line apply shows before asking, and what a tag tries to turn it into.
FORGED_LINE = "  ~ {model}@champion: 1 -> 1 (nothing to see)"
WORKFLOW_COMMANDS = [
    "\n::add-mask::champion",
    "\n::stop-commands::tok",
    "\n::error file=registry.yaml,line=1::APPROVED",
]


def screen_of(output: str, columns: int = 400, lines: int = 200) -> list[str]:
    """What a terminal shows after printing `output`: escapes and carriage returns obeyed."""
    screen = pyte.Screen(columns, lines)
    screen.set_mode(pyte.modes.LNM)  # a newline also returns the carriage, as a tty does
    pyte.Stream(screen).feed(output)
    return [line.rstrip() for line in screen.display]


@pytest.fixture
def promotion(
    tmp_path: Path, make_model: Callable[..., str], server_client: MlflowClient
) -> Callable[[str, str], str]:
    """`promote(tag_value, gates)`: bikes@champion at 1, the manifest promoting it to 2, whose
    `note` tag holds `tag_value`; returns the model's name."""

    def promote(tag_value: str, gates: str = "") -> str:
        name = make_model("hostile", versions=2)
        server_client.set_registered_model_alias(name, "champion", "1")
        server_client.set_model_version_tag(name, "2", "note", tag_value)
        (tmp_path / "registry.yaml").write_text(
            f"version: 1\n{gates}models:\n  {name}:\n    aliases:\n      champion: 2\n"
        )
        return name

    return promote


def test_escapes_and_carriage_returns_in_a_tag_cannot_rewrite_the_plan_on_screen(
    promotion: Callable[..., str], mlflow_server: str, tmp_path: Path
) -> None:
    name = promotion("x\x1b[1A\x1b[2K\r" + FORGED_LINE.format(model="m") + "\x1b[8m\u202e")
    result = run_cli("plan", "--tracking-uri", mlflow_server, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    screen = screen_of(result.stdout)
    assert f"  ~ {name}@champion: 1 -> 2 (promote)" in screen
    assert FORGED_LINE.format(model="m") not in screen
    assert "\x1b" not in result.stdout
    assert "\u202e" not in result.stdout
    assert "\\x1b[1A\\x1b[2K\\r" in result.stdout  # shown, escaped, not dropped


def test_apply_shows_the_true_plan_on_the_terminal_before_it_asks(
    promotion: Callable[..., str],
    mlflow_server: str,
    tmp_path: Path,
    server_client: MlflowClient,
) -> None:
    name = promotion("\x1b[1A\x1b[2K\r" + FORGED_LINE.format(model="m"))
    code, shown = run_on_a_terminal(["apply", "--tracking-uri", mlflow_server], tmp_path, "no")
    assert code == 1, shown
    before_the_question = shown.split("Do you want to perform these actions?")[0]
    screen = screen_of(before_the_question)
    assert f"  ~ {name}@champion: 1 -> 2 (promote)" in screen
    assert FORGED_LINE.format(model="m") not in screen
    assert server_client.get_registered_model(name).aliases == {"champion": "1"}


def test_a_tag_cannot_start_a_workflow_command_in_the_github_format(
    promotion: Callable[..., str], mlflow_server: str, tmp_path: Path
) -> None:
    gates = "gates:\n  champion:\n    require_tags: {note: approved}\n"
    promotion("".join(WORKFLOW_COMMANDS), gates)
    result = run_cli("plan", "--format", "github", "--tracking-uri", mlflow_server, cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # the tag gate fails: the tool's own error
    commands = [line for line in result.stdout.splitlines() if line.lstrip().startswith("::")]
    assert len(commands) == 1, commands
    assert commands[0].startswith("::error file=registry.yaml,line=")
    assert "title=registry plan error::" in commands[0]
    assert "tag note is '\\n::add-mask::champion\\n::stop-commands::tok" in commands[0]
    assert "note=\\n::add-mask::champion\\n::stop-commands::tok" in result.stdout


def test_a_70000_character_tag_leaves_the_comment_its_headline_rows_and_gates(
    promotion: Callable[..., str], mlflow_server: str, tmp_path: Path
) -> None:
    gates = "gates:\n  champion:\n    require_tags: {note: approved}\n"
    name = promotion("@team #123 " + "x" * 70_000, gates)
    result = run_cli("plan", "--format", "markdown", "--tracking-uri", mlflow_server, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    comment = result.stdout
    assert len(comment) < GITHUB_COMMENT_LIMIT
    assert "**❌ The plan has 1 error; nothing will be applied.**" in comment
    assert "- ❌ require\\_tags.note = " in comment
    assert f"#### {name}" in comment
    assert "/versions/2) | promote | ❌ 1 of 1 failed |" in comment
    assert " more) " in comment
    assert "expected = approved" in comment.split("#### Errors")[1]
    assert "@team" not in comment and "#123" not in comment
    assert "@\u200dteam #\u200d123" in comment


def test_500_changes_keep_a_row_each_in_the_comment_and_all_evidence_in_the_job_summary(
    make_model: Callable[..., str], mlflow_server: str, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    actions = {
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/models",
        "GITHUB_RUN_ID": "42",
    }
    name = make_model("many", versions=1)
    aliases = "".join(f"      a{i}: 1\n" for i in range(500))
    (tmp_path / "registry.yaml").write_text(
        f"version: 1\nmodels:\n  {name}:\n    aliases:\n{aliases}"
    )
    args = ["plan", "--format", "markdown", "--tracking-uri", mlflow_server]
    result = run_cli(*args, cwd=tmp_path, env=actions)
    assert result.returncode == 0, result.stderr
    comment = result.stdout
    assert len(comment) < GITHUB_COMMENT_LIMIT
    assert "**Plan: 500 to create, 0 to update, 0 to delete, 1 to adopt.**" in comment
    rows = [line for line in comment.splitlines() if re.match(r"\| a\d+ \|", line)]
    assert [row.split(" | ")[0] for row in rows] == [f"| a{i}" for i in range(500)]
    assert all(row.endswith(" | assign |") for row in rows)
    assert "#### Evidence" in comment
    assert (
        "left out to fit GitHub's comment limit: see "
        "[the job summary](https://github.com/acme/models/actions/runs/42)." in comment
    )
    full = summary.read_text(encoding="utf-8")
    assert full.count(f"**{name}@a") == 500  # every change's evidence
    assert "left out" not in full
    assert comment.count("<details>") == comment.count("</details>")

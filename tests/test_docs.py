"""The documentation stays true: every command it shows exists with the options it shows, every
link resolves, and the caller workflow it quotes is the example the act tests run."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from controller.cli import cli
from controller.manifest import parse_manifest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE_SPAN = re.compile(r"`(mlflow-gitops [^`]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def shown_commands(page: Path) -> list[str]:
    """`mlflow-gitops …` in inline code and at the start of code-block lines (after `$ `)."""
    text = page.read_text(encoding="utf-8")
    found = [m.replace("\\|", "|") for m in CODE_SPAN.findall(text)]
    in_block = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
        elif in_block:
            command = line.strip().removeprefix("$ ")
            if command.startswith("mlflow-gitops "):
                found.append(command.split("  #")[0])
    return found


def options_of(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {
        "-h",
        "--help",
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_shown_exists_with_the_options_shown(page: Path) -> None:
    commands = shown_commands(page)
    for shown in commands:
        words = shown.split()[1:]
        first = words[0] if words else ""
        command = cli.commands.get(first) if not first.startswith("-") else None
        if command is None:
            assert first.startswith("-"), f"{page.name}: unknown command in {shown!r}"
            command = cli
        used = {w.strip("[]|\\").split("=")[0] for w in words}
        flags = {w for w in used if re.fullmatch(r"--?[a-z][a-z-]*", w)}
        unknown = flags - options_of(command)
        assert not unknown, f"{page.name}: {shown!r} uses {sorted(unknown)}"


def test_the_pages_show_commands_at_all() -> None:
    # The parser above must find something, or the test before it proves nothing.
    assert len(shown_commands(ROOT / "docs" / "reference.md")) > 10
    assert "mlflow-gitops --version" in shown_commands(ROOT / "README.md")


# Notes meant for the people building the tool, not for its users (issue 20's papercut).
DEVELOPMENT_NOTES = re.compile(
    r"\(issue \d+\)|\bthis issue\b|for the lead|^#+ Testing the workflow$", re.M
)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_pages_carry_no_development_notes(page: Path) -> None:
    found = DEVELOPMENT_NOTES.findall(page.read_text(encoding="utf-8"))
    assert found == [], f"{page.name}: {found}"


def anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "#")):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve()
        assert resolved.exists(), f"{page.name}: {target}"
        if anchor:
            assert anchor in anchors(resolved), f"{page.name}: {target}"


def test_the_quoted_caller_is_the_example_the_end_to_end_tests_run() -> None:
    text = (ROOT / "docs" / "workflows.md").read_text(encoding="utf-8")
    quoted = text.split("# .github/workflows/registry-plan.yml\n", 1)[1].split("```", 1)[0]
    example = (ROOT / "examples" / "workflows" / "registry-plan.yml").read_text(encoding="utf-8")
    # The example opens with two comment lines the page leaves out.
    assert quoted == example.split("\n", 2)[2]


def test_the_pipeline_manifests_are_valid() -> None:
    text = (ROOT / "docs" / "pipelines.md").read_text(encoding="utf-8")
    for name in ("staging.yaml", "production.yaml"):
        block = text.split(f"# {name}\n", 1)[1].split("```", 1)[0]
        assert parse_manifest(block, name).manifest.models["bikes"].aliases

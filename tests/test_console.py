"""One console per format: each shows the same value its way, registry text always inert."""

from __future__ import annotations

import json

import click
import pytest

from controller.cli import cli
from controller.console import CONSOLES, console_for
from controller.values import Change, ChangeEvidence, Plan, VersionEvidence

HOSTILE = "ok\x1b[2J\r\n::error::x\u202e"


def hostile_plan() -> Plan:
    found = VersionEvidence(version=2, status="READY", tags={"note": HOSTILE})
    change = Change(
        model="bikes",
        alias="champion",
        action="update",
        from_version=1,
        to_version=2,
        reason="promote",
        evidence=ChangeEvidence(to_version=found),
    )
    return Plan(changes=[change], manifest_path="registry.yaml")


def test_every_format_a_command_offers_has_its_console() -> None:
    offered = {
        choice
        for command in cli.commands.values()
        for param in command.params
        if param.name == "output_format" and isinstance(param.type, click.Choice)
        for choice in param.type.choices
    }
    assert offered == set(CONSOLES)


@pytest.mark.parametrize("output_format", ["text", "markdown", "github"])
def test_formats_for_people_show_registry_text_escaped(
    output_format: str, capsys: pytest.CaptureFixture[str]
) -> None:
    console_for(output_format).plan(hostile_plan(), 2, None)
    shown = capsys.readouterr().out
    assert "x1b" in shown and "u202e" in shown  # shown escaped (Markdown escapes the `\\`)
    assert not any(char in shown for char in "\x1b\r\u202e")
    assert not any(line.lstrip().startswith("::") for line in shown.splitlines())


def test_json_keeps_the_exact_value_and_escapes_it_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    console_for("json").plan(hostile_plan(), 2, None)
    shown = capsys.readouterr().out
    assert not any(char in shown for char in "\x1b\r\u202e")
    assert json.loads(shown)["changes"][0]["evidence"]["to"]["tags"]["note"] == HOSTILE

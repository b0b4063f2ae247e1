"""The sanitizer every format uses: registry text shown escaped, bounded, inert."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller import output
from controller.render import github, markdown
from controller.render.sanitize import (
    MAX_FIELD_CHARS,
    clean,
    cleaned,
    escape_text,
    escape_value,
    shorten,
    without_mentions,
    without_workflow_commands,
)
from controller.values import (
    Change,
    ChangeEvidence,
    Plan,
    Problem,
    UnmanagedAlias,
    VersionEvidence,
)

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def unsafe(char: str) -> bool:
    """What must never reach a terminal raw: controls (C0, DEL, C1) and bidi overrides."""
    return unicodedata.category(char) == "Cc" or char in BIDI or char in "\u2028\u2029"


def test_escape_sequences_and_carriage_returns_are_shown_not_obeyed() -> None:
    assert escape_value("1 -> 2\x1b[1A\x1b[2K\r1 -> 1") == "1 -> 2\\x1b[1A\\x1b[2K\\r1 -> 1"


def test_a_newline_in_a_value_stays_on_its_line() -> None:
    assert escape_value("a\n::add-mask::x") == "a\\n::add-mask::x"


def test_bidi_overrides_are_shown_as_code_points() -> None:
    assert escape_value("abc\u202egpj.exe\u2066") == "abc\\u202egpj.exe\\u2066"


def test_c1_controls_and_delete_are_escaped() -> None:
    assert escape_value("\x9b31m\x7f\x00") == "\\x9b31m\\x7f\\x00"


def test_plain_text_and_other_unicode_are_left_alone() -> None:
    assert escape_value("val_rmse ≤ 0.5 (Zürich, 東京) \\n") == "val_rmse ≤ 0.5 (Zürich, 東京) \\n"


@given(st.text())
def test_an_escaped_value_holds_no_unsafe_character(value: str) -> None:
    assert not any(unsafe(char) for char in escape_value(value))


@given(st.lists(st.text(alphabet=st.characters(exclude_characters="\n"))))
def test_a_whole_text_keeps_its_own_lines_and_escapes_the_rest(lines: list[str]) -> None:
    shown = escape_text("\n".join(lines))
    assert not any(unsafe(char) for char in shown if char not in "\n\t")
    assert shown.count("\n") == max(len(lines) - 1, 0)


def test_a_long_field_keeps_its_start_and_end_and_counts_the_rest() -> None:
    value = "a" * 70_000 + "END"
    shown = shorten(value)
    assert shown.startswith("a" * 400 + "… (69,503 more) …")
    assert shown.endswith("END")
    assert len(shown) < MAX_FIELD_CHARS + 40


def test_a_short_field_is_left_whole() -> None:
    assert shorten("x" * MAX_FIELD_CHARS) == "x" * MAX_FIELD_CHARS


@given(st.text(min_size=MAX_FIELD_CHARS + 1, max_size=5 * MAX_FIELD_CHARS))
def test_a_cleaned_field_is_bounded_whatever_its_length(value: str) -> None:
    assert len(clean(value)) <= 4 * MAX_FIELD_CHARS + 40


def test_cleaning_a_plan_reaches_every_string_and_every_key() -> None:
    evidence = VersionEvidence(
        version=2, status="READY", creator="ann\x1b[31m", tags={"k\r": "v\n::x"}
    )
    plan = Plan(
        changes=[
            Change(
                model="m\u202e",
                alias="champion",
                action="update",
                from_version=1,
                to_version=2,
                reason="promote",
                evidence=ChangeEvidence(to_version=evidence),
            )
        ],
        unmanaged=[UnmanagedAlias(model="m", alias="a\x1b", version=1)],
    )
    clean_plan = cleaned(plan)
    found = clean_plan.changes[0]
    assert found.model == "m\\u202e"
    assert found.evidence and found.evidence.to_version
    assert found.evidence.to_version.creator == "ann\\x1b[31m"
    assert found.evidence.to_version.tags == {"k\\r": "v\\n::x"}
    assert clean_plan.unmanaged[0].alias == "a\\x1b"
    assert plan.changes[0].model == "m\u202e"  # a copy: the plan itself is unchanged


def test_cleaning_reaches_problems_too() -> None:
    problem = Problem("registry.yaml", 1, 2, "bad \x1b[2J")
    assert cleaned([problem]) == [Problem("registry.yaml", 1, 2, "bad \\x1b[2J")]


@given(st.text())
def test_no_line_of_github_text_reads_as_a_workflow_command(text: str) -> None:
    shown = without_workflow_commands(text)
    assert not any(line.lstrip().startswith("::") for line in shown.splitlines())


def test_a_command_like_line_is_shown_with_its_first_colon_encoded() -> None:
    assert without_workflow_commands("ok\n  ::error::x\nok ::y") == "ok\n  %3A:error::x\nok ::y"


@given(
    level=st.sampled_from(["error", "warning", "notice"]),
    message=st.text(),
    file=st.text(),
    title=st.text(),
    line=st.integers(min_value=1),
)
def test_an_annotation_is_one_command_whatever_its_text(
    level: github.Level, message: str, file: str, title: str, line: int
) -> None:
    command = github.annotation(level, message, file=file, line=line, title=title)
    assert "\n" not in command and "\r" not in command
    head, _, data = command.partition("::")[2].partition("::")
    properties = head.removeprefix(level).strip().split(",")
    assert [p.split("=")[0] for p in properties] == ["file", "line", "title"]
    assert all(":" not in p for p in properties)
    unescaped = data.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")
    assert unescaped == message


def test_mentions_and_issue_references_notify_nobody() -> None:
    shown = without_mentions("ping @team and @org/admins about #123, mail a@b.c")
    assert shown == "ping @\u200dteam and @\u200dorg/admins about #\u200d123, mail a@b.c"
    assert not re.search(r"[@#]\w", shown.replace("a@b", ""))


def test_markdown_escapes_then_neutralises_mentions_in_registry_text() -> None:
    assert markdown.escape("@data_team") == "@\u200ddata\\_team"


def test_a_code_span_shows_a_name_as_written() -> None:
    assert markdown.code("val_rmse") == "`val_rmse`"
    assert markdown.code("a`b") == "``a`b``"
    assert markdown.code("`x`") == "`` `x` ``"
    assert markdown.code("p|q", in_table=True) == "`p\\|q`"


def test_only_the_tools_own_commands_reach_the_log_as_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    output.workflow_commands(github.annotation("error", "bad\n::x", file="registry.yaml"))
    output.out("a tag\n::add-mask::champion")
    output.err("an error\n  ::stop-commands::tok\x1b[2J")
    shown = capsys.readouterr()
    assert shown.out == ("::error file=registry.yaml::bad%0A::x\na tag\n%3A:add-mask::champion\n")
    assert shown.err == "an error\n  %3A:stop-commands::tok\\x1b[2J\n"

"""Workflow commands written the way GitHub's toolkit reads them: one annotation per message."""

from __future__ import annotations

from controller.render import github
from controller.values import Plan, PlanProblem, Problem


def test_message_escapes_percent_cr_and_lf() -> None:
    assert github.escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"


def test_percent_is_escaped_first_so_escapes_in_the_input_survive() -> None:
    assert github.escape_data("literal %0A") == "literal %250A"


def test_message_keeps_colons_and_commas() -> None:
    assert github.escape_data("a: b, c") == "a: b, c"


def test_property_also_escapes_colon_and_comma() -> None:
    assert github.escape_property("C:\\x,y%\n") == "C%3A\\x%2Cy%25%0A"


def test_annotation_carries_file_line_col_and_title() -> None:
    line = github.annotation(
        "error", "version 9 does not exist", file="registry.yaml", line=7, col=17, title="plan"
    )
    assert line == "::error file=registry.yaml,line=7,col=17,title=plan::version 9 does not exist"


def test_annotation_without_properties_is_bare() -> None:
    assert github.annotation("notice", "hi") == "::notice::hi"


def test_annotation_properties_cannot_break_out() -> None:
    line = github.annotation("error", "m", file="a,line=1:b.yaml", title="t::x")
    assert line == "::error file=a%2Cline=1%3Ab.yaml,title=t%3A%3Ax::m"


def test_manifest_problems_annotate_their_line_with_their_severity() -> None:
    problems = [
        Problem("registry.yaml", 4, 7, "unknown key 'prun'"),
        Problem("registry.yaml", 6, 7, "aliases differ only in case", severity="warning"),
    ]
    assert github.problem_annotations(problems).splitlines() == [
        "::error file=registry.yaml,line=4,col=7,title=manifest error::unknown key 'prun'",
        "::warning file=registry.yaml,line=6,col=7,title=manifest warning::"
        "aliases differ only in case",
    ]


def test_plan_errors_annotate_the_declaring_line() -> None:
    plan = Plan(
        errors=[
            PlanProblem(
                model="bikes",
                alias="champion",
                message="version 9 of model 'bikes' does not exist",
                file="registry.yaml",
                line=7,
                col=17,
            )
        ]
    )
    assert github.plan_annotations(plan) == (
        "::error file=registry.yaml,line=7,col=17,title=registry plan error::"
        "version 9 of model 'bikes' does not exist"
    )

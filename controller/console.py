"""One console per output format: where each result, warning and question goes.

Commands ask `console_for(format)` once and call it; they never branch on the format. Every
value is cleaned (`render.sanitize.cleaned`) before a format renders it for people, so registry
text reaches a terminal, a CI log or a PR comment only escaped. JSON keeps the data exact: its
encoder escapes every control character itself.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from controller.errors import ManifestError
from controller.github_actions import publish, run_url
from controller.output import err, out, workflow_commands
from controller.render import github, json, markdown, text
from controller.render.sanitize import cleaned
from controller.values import ApplyReport, HistoryEntry, Plan, Problem, TrackedAlias

APPROVAL_QUESTION = """
Do you want to perform these actions?
  mlflow-gitops will perform the actions described above.
  Only 'yes' will be accepted to approve.
"""


class TextConsole:
    """Text for people: results on stdout, everything else on stderr. The other formats are
    this console with what they show differently overridden."""

    def warn(self, warnings: Iterable[object]) -> None:
        for warning in warnings:
            err(str(warning))

    def validated(self, warnings: list[Problem], path: str, models: int) -> None:
        self.warn(warnings)
        out(text.problems([], path, models))

    def invalid(self, error: ManifestError, path: str) -> int:
        """A manifest that failed `validate`: one line per problem on stderr, from main."""
        raise error

    def refused(self, error: ManifestError) -> None:
        """A manifest that failed before a plan: main says why, on stderr."""

    def plan(self, plan: Plan, exit_code: int, plan_path: str | None) -> None:
        out(self._plan(plan))
        publish_plan(plan, exit_code, plan_path)

    def _plan(self, plan: Plan) -> str:
        return text.plan(cleaned(plan))

    def before_apply(self, plan: Plan, auto_approve: bool) -> bool:
        """Show the plan; with something to do and no --auto-approve, only `yes` goes on."""
        out(text.plan(cleaned(plan)))
        return not must_ask(plan, auto_approve) or approved()

    def applied(self, plan: Plan, report: ApplyReport) -> None:
        if not plan.errors and (plan.has_changes or report.errors):
            out("\n" + text.report(cleaned(report)))
        publish_report(report)

    def history(self, entries: list[HistoryEntry]) -> None:
        out(text.history(cleaned(entries)))

    def tracked(self, results: list[TrackedAlias], path: str) -> None:
        out(text.tracked(cleaned(results), path))


class JsonConsole(TextConsole):
    """JSON on stdout, the whole result at once; people's text (the prompt) on stderr."""

    def validated(self, warnings: list[Problem], path: str, models: int) -> None:
        out(json.problems(warnings))

    def invalid(self, error: ManifestError, path: str) -> int:
        out(json.problems(error.problems))
        return 1

    def _plan(self, plan: Plan) -> str:
        return json.plan(plan)  # exact data: the JSON encoder escapes controls itself

    def before_apply(self, plan: Plan, auto_approve: bool) -> bool:
        if not must_ask(plan, auto_approve):
            return True
        err(text.plan(cleaned(plan)))  # stdout is for the machine-readable report
        return approved()

    def applied(self, plan: Plan, report: ApplyReport) -> None:
        out(self._report(report))
        publish_report(report)

    def _report(self, report: ApplyReport) -> str:
        return json.report(report)

    def history(self, entries: list[HistoryEntry]) -> None:
        out(json.history(entries))

    def tracked(self, results: list[TrackedAlias], path: str) -> None:
        out(json.tracked(results, path))


class MarkdownConsole(JsonConsole):
    """The PR comment's Markdown on stdout, within GitHub's comment limit."""

    def _plan(self, plan: Plan) -> str:
        return markdown.plan(cleaned(plan), full_plan_url=run_url())

    def _report(self, report: ApplyReport) -> str:
        return markdown.report(cleaned(report))


class GithubConsole(TextConsole):
    """Text with workflow-command annotations for the Actions log; only ours read as commands."""

    def validated(self, warnings: list[Problem], path: str, models: int) -> None:
        workflow_commands(github.problem_annotations(cleaned(warnings)))
        out(text.problems([], path, models))

    def invalid(self, error: ManifestError, path: str) -> int:
        self.refused(error)
        return 1

    def refused(self, error: ManifestError) -> None:
        workflow_commands(github.problem_annotations(cleaned(error.problems)))

    def plan(self, plan: Plan, exit_code: int, plan_path: str | None) -> None:
        clean = cleaned(plan)
        workflow_commands(github.plan_annotations(clean))
        out(text.plan(clean))
        publish_plan(plan, exit_code, plan_path)


CONSOLES: dict[str, type[TextConsole]] = {
    "text": TextConsole,
    "json": JsonConsole,
    "markdown": MarkdownConsole,
    "github": GithubConsole,
}


def console_for(output_format: str) -> TextConsole:
    return CONSOLES[output_format]()


def must_ask(plan: Plan, auto_approve: bool) -> bool:
    """Terraform's rule: ask whenever there is something to do, unless told not to."""
    return not auto_approve and plan.has_changes and not plan.errors


def in_ci() -> bool:
    """A CI job: nobody is there to answer, even on the pseudo-terminal a runner may hand out."""
    return os.environ.get("CI") == "true" or os.environ.get("GITHUB_ACTIONS") == "true"


def approved() -> bool:
    """Read the answer from stdin, terminal or not, as Terraform does: only the word `yes`
    approves; anything else, or the end of input, cancels. In CI, cancel without waiting."""
    if in_ci():
        err(
            "Apply cancelled: CI is set and nobody can answer the approval question; "
            "pass --auto-approve to apply without it."
        )
        return False
    sys.stderr.write(APPROVAL_QUESTION + "\n  Enter a value: ")  # stdout stays the result
    sys.stderr.flush()
    answer = sys.stdin.readline() if sys.stdin else ""
    if answer.strip() == "yes":
        return True
    err("\nApply cancelled.")
    return False


def publishing() -> bool:
    """Whether GitHub Actions collects outputs or a summary here: else nothing is rendered."""
    return bool(os.environ.get("GITHUB_OUTPUT") or os.environ.get("GITHUB_STEP_SUMMARY"))


def publish_plan(plan: Plan, exit_code: int, plan_path: str | None) -> None:
    """In GitHub Actions: the plan's outputs (`markdown` feeds the PR comment, within GitHub's
    limit) and the whole plan as the job summary, which the comment points to."""
    if not publishing():
        return
    clean = cleaned(plan)
    publish(
        {
            "has-changes": str(plan.has_changes).lower(),
            "exit-code": str(exit_code),
            "plan-json": str(Path(plan_path).resolve()) if plan_path else "",
            "markdown": markdown.plan(clean, full_plan_url=run_url()),
        },
        markdown.plan(clean, markdown.SUMMARY_MAX_CHARS),
    )


def publish_report(report: ApplyReport) -> None:
    """In GitHub Actions: the apply result's outputs and its summary table."""
    if not publishing():
        return
    shown = markdown.report(cleaned(report))
    publish(
        {
            "has-changes": str(bool(report.changes)).lower(),
            "exit-code": str(report.exit_code),
            "markdown": shown,
        },
        shown,
    )

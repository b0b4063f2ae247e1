"""Every output format in one table: a command looks its format up, never branches on it.

Each format renders the same values (`Plan`, `ApplyReport`, manifest problems, history,
update's tracked aliases);
a format a command does not offer is simply not among its `--format` choices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controller.render import github, json, markdown, text
from controller.values import ApplyReport, HistoryEntry, Plan, Problem, TrackedAlias


def _unsupported(*_: object) -> str:
    raise NotImplementedError("no command offers this format for this value")


@dataclass(frozen=True)
class Format:
    plan: Callable[[Plan, str], str]
    report: Callable[[ApplyReport, str], str] = _unsupported
    problems: Callable[[list[Problem], str, int | None], str] = _unsupported
    history: Callable[[list[HistoryEntry]], str] = _unsupported
    tracked: Callable[[list[TrackedAlias], str], str] = _unsupported
    # Text is read by people: a plan's text precedes apply's report and problems go to stderr.
    for_people: bool = False


FORMATS: dict[str, Format] = {
    "text": Format(
        text.plan, text.report, text.problems, text.history, text.tracked, for_people=True
    ),
    "json": Format(json.plan, json.report, json.problems, json.history, json.tracked),
    "markdown": Format(markdown.plan, markdown.report),
    "github": Format(github.plan, problems=github.problems),
}

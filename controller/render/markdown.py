"""Plans and apply reports as GitHub Markdown, for the pull-request comment and job summary."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from urllib.parse import quote

from controller.render import words
from controller.render.headline import count, plan_headline, report_headline
from controller.render.sanitize import MAX_FIELD_CHARS, shorten, without_mentions
from controller.uris import ui_base, without_userinfo
from controller.values import (
    ApplyReport,
    Change,
    ChangeResult,
    OwnershipChange,
    Plan,
    PlanProblem,
    RegistryRef,
    SignatureDiff,
    VersionEvidence,
)

# Hidden in the rendered comment; the plan workflow finds its own comment by it. One per
# manifest and registry, so two manifests in one repository never overwrite each other.
MARKER_PREFIX = "<!-- mlflow-gitops:plan"
# GitHub rejects comments over 65,536 characters; keep some room below that.
MAX_CHARS = 65_000
# A job summary may hold 1 MiB: the whole plan, where the comment has only what fits (in
# characters, of which the emoji take up to four bytes).
SUMMARY_MAX_CHARS = 250_000
# Tables with more rows than this fold into <details>, so a big plan stays skimmable.
FOLD_ROWS = 20
# The share of the limit kept for evidence when choosing how to lay out the rows.
_EVIDENCE_SHARE = 20
NONE = "—"
STATUS_ICONS = {"applied": "✅", "failed": "❌", "skipped": "⏭️", "unknown": "❓"}

_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")


def escape(value: str) -> str:
    """Escape user data (model names, messages) so it renders literally inside a table cell,
    notifies nobody and links no issue."""
    escaped = html.escape(value, quote=False)
    escaped = _MARKDOWN_PUNCTUATION.sub(r"\\\1", escaped).replace("\r", " ").replace("\n", " ")
    return without_mentions(escaped)


def code(value: str, *, in_table: bool = False) -> str:
    """A name as a code span: shown as written (`val_rmse`), nothing in it a mention or a link.

    A backtick run in the value needs a longer fence; in a table a pipe is escaped, which
    GitHub undoes inside the cell's code span.
    """
    value = value.replace("\r", " ").replace("\n", " ")
    value = value.replace("|", "\\|") if in_table else value
    runs = [len(run) for run in re.findall(r"`+", value)]
    fence = "`" * (max(runs, default=0) + 1)
    padded = f" {value} " if value.startswith("`") or value.endswith("`") else value
    return f"{fence}{padded}{fence}"


def version_cell(model: str, version: int | None, base: str | None) -> str:
    """A version number, linked to its page in the MLflow UI when the UI has a web address."""
    if version is None:
        return NONE
    if base is None:
        return str(version)
    return f"[{version}]({base}/#/models/{quote(model, safe='')}/versions/{version})"


def target_cell(change: Change, base: str | None) -> str:
    """What the alias is to hold: a version, or the copy and where it comes from."""
    if change.copy_from is not None:
        return escape(change.target)
    return version_cell(change.model, change.to_version, base)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows), ""]


def _fold(summary: str, body: list[str], rows: int) -> list[str]:
    if rows <= FOLD_ROWS:
        return body
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "</details>", ""]


def _status_cell(result: ChangeResult) -> str:
    cell = f"{STATUS_ICONS[result.status]} {result.status}"
    cell = f"{cell}: {escape(result.error)}" if result.error else cell
    cell = f"{cell} ({escape(result.note)})" if result.note else cell
    took = words.rollback_time(result)
    return f"{cell} ({took})" if took else cell


def _gates_cell(change: Change) -> str:
    """A change's gate result in a word or two: the row a reviewer scans first."""
    failed = sum(not g.passed for g in change.gates)
    if not change.gates:
        return NONE
    if failed:
        return f"❌ {failed} of {len(change.gates)} failed"
    return f"✅ {len(change.gates)} passed"


def _change_tables(changes: Sequence[Change], base: str | None) -> list[str]:
    """One table per model, in plan order; apply results get a status column."""
    gated = any(change.gates for change in changes)
    by_model: dict[str, list[Change]] = {}
    for change in changes:
        by_model.setdefault(change.model, []).append(change)
    lines: list[str] = []
    for model, rows in by_model.items():
        with_status = isinstance(rows[0], ChangeResult)
        header = ["alias", "from", "to", "reason", *(["gates"] if gated else [])]
        cells = [
            [
                escape(c.alias),
                version_cell(model, c.from_version, base),
                target_cell(c, base),
                escape(words.reason(c)),
                *([_gates_cell(c)] if gated else []),
                *([_status_cell(c)] if isinstance(c, ChangeResult) else []),
            ]
            for c in rows
        ]
        header += ["status"] if with_status else []
        lines += [f"#### {escape(model)}", "", *_table(header, cells)]
    summary = f"{count(len(changes), 'change')} in {count(len(by_model), 'model')}"
    return _fold(summary, lines, len(changes))


def _summary_table(changes: Sequence[Change], base: str | None) -> list[str]:
    """Every change as one row of one table: model, alias, from -> to, reason, gate result."""
    rows = [
        [
            escape(c.model),
            escape(c.alias),
            f"{version_cell(c.model, c.from_version, base)} → "
            f"{version_cell(c.model, c.to_version, base)}",
            escape(words.reason(c)),
            _gates_cell(c),
        ]
        for c in changes
    ]
    body = _table(["model", "alias", "from → to", "reason", "gates"], rows)
    models = len({c.model for c in changes})
    return _fold(f"{count(len(changes), 'change')} in {count(models, 'model')}", body, len(rows))


def _bold(headline: tuple[str, str], icon: str = "") -> str:
    lead, detail = headline
    return f"**{icon}{escape(lead)}**" + (f" {escape(detail)}" if detail else "")


def _ui_base(registry: RegistryRef | None) -> str | None:
    return ui_base(registry.uri) if registry else None


def registry_name(registry: RegistryRef | None) -> str:
    """The registry as the comment names it: its UI address, or the URI without credentials."""
    if registry is None:
        return ""
    return ui_base(registry.uri) or without_userinfo(registry.uri)


def marker(plan: Plan) -> str:
    """`<!-- mlflow-gitops:plan manifest=registry.yaml registry=http://mlflow:5000 -->`."""
    manifest = plan.manifest_path or "registry.yaml"
    safe = f"manifest={manifest} registry={registry_name(plan.registry)}".replace("--", "- -")
    return f"{MARKER_PREFIX} {safe} -->"


def _header(plan: Plan) -> list[str]:
    """The commit and the time the plan was computed for, under the registry line."""
    parts = []
    if plan.source and plan.source.commit:
        dirty = " (with uncommitted edits)" if plan.source.dirty else ""
        parts.append(f"commit `{plan.source.commit[:12]}`{dirty}")
    if plan.computed_at:
        parts.append(f"at {escape(plan.computed_at)}")
    return ["Planned for " + ", ".join(parts) + ".", ""] if parts else []


def _run_cell(version: VersionEvidence | None) -> str:
    if version is None or not version.run_id:
        return NONE
    short = escape(version.run_id[:8])
    cell = f"[{short}]({version.run_url})" if version.run_url else short
    return cell + (" (run deleted)" if version.run_deleted else "")


def _evidence_table(change: Change, base: str | None) -> list[str]:
    """Current against proposed, metric by metric with the difference, then the facts (for a
    change not detailed: what the search returned and the metrics its gates read)."""
    found = change.evidence
    if found is None or found.to_version is None:
        return []
    new, old = found.to_version, found.from_version
    title = (
        f"**{escape(change.address)}**: "
        f"{version_cell(change.model, change.from_version, base)} → "
        f"{target_cell(change, base)} ({change.reason})"
    )

    def both(fact: Callable[[VersionEvidence], str]) -> list[str]:
        return [escape(_cell(fact(old))) if old else NONE, escape(_cell(fact(new)))]

    names = list(dict.fromkeys([*(old.metrics if old else {}), *new.metrics]))
    rows = [
        [
            code(name, in_table=True),
            escape(words.metric(old, name)) if old else NONE,
            escape(words.metric(new, name)),
            words.delta(old.metrics.get(name) if old else None, new.metrics.get(name)) or NONE,
        ]
        for name in names
    ]
    rows += [
        ["created", *both(words.created), ""],
        ["status", *both(lambda v: v.status), ""],
        ["run", _run_cell(old), _run_cell(new), ""],
        ["tags", *both(words.tags), ""],
    ]  # fmt: skip
    if found.detailed:  # else its MLmodel was never read: no signature to claim
        rows.append(["signature", *both(words.signature), _diff_cell(found.signature_diff)])
    if new.description or (old and old.description):
        rows.append(["description", *both(lambda v: v.description or NONE), ""])
    lines = [title, "", *_table(["", "current", "proposed", "Δ"], rows)]
    if change.gates:
        icons = {words.PASS: "✅", words.FAIL: "❌"}
        marks = [escape(words.gate_mark(g)) for g in change.gates]
        lines += ["Gates:", "", *(f"- {icons[m[0]]}{m[1:]}" for m in marks), ""]
    return lines


def _cell(fact: str) -> str:
    """A fact that joins many fields (every tag) is bounded too, to a few fields' worth."""
    return shorten(fact, 2 * MAX_FIELD_CHARS)


def _diff_cell(diff: SignatureDiff | None) -> str:
    return escape(", ".join(words.diff_words(diff))) if diff else ""


def _deletion_warnings(changes: Sequence[Change]) -> list[str]:
    deletions = [c for c in changes if c.action == "delete"]
    return [
        f"> ⚠️ **Deletes {code(c.address)}** (now {c.from_version}): anything loading "
        f"{code('models:/' + c.address)} will fail."
        for c in deletions
    ] + ([""] if deletions else [])


def plan(plan: Plan, limit: int = MAX_CHARS, full_plan_url: str | None = None) -> str:
    """The plan for a PR comment (or, with a larger limit, the job summary), within `limit`.

    What decides a review is always there: the headline, a row for every change with its gate
    result, and the errors. Evidence follows, failing changes first, for as many changes as fit;
    the rest is at `full_plan_url` (the run's job summary), or else in the text output.
    """
    base = _ui_base(plan.registry)
    path = plan.manifest_path
    title = f"### MLflow registry plan: {escape(path)}" if path else "### Plan"
    lines = [marker(plan), title, *_registry(plan.registry, path), ""]
    lines += [*_header(plan), _bold(plan_headline(plan), "❌ " if plan.errors else ""), ""]
    if plan.target:
        targets = ", ".join(code(str(a)) for a in plan.target.addresses)
        lines += [f"> [!IMPORTANT]\n> **{escape(plan.target.headline)}**: {targets}.", ""]
    if plan.frozen:
        lines += [f"> 🧊 **Apply is frozen now**: {escape(plan.frozen)}.", ""]
    if plan.removed_models:  # before the tables: a whole model's aliases going is easy to miss
        names = ", ".join(code(name) for name in plan.removed_models)
        lines += [
            f"> [!WARNING]\n> No longer in {escape(path or 'the manifest')}: {names}. "
            "The aliases this manifest applied to them will be deleted.",
            "",
        ]
    if plan.ownership:
        lines += ["#### Ownership", "", *(_ownership_line(c) for c in plan.ownership), ""]
    lines += _deletion_warnings(plan.changes)
    tail = _unmanaged(plan, base) + _errors(plan) + _warnings(plan)
    # A row for every change comes first: a table per model for a few models, else one table of
    # every change (a heading and a header per model cost more than the row), with links while
    # they fit; the rest of the room is for evidence.
    room_for_tables = limit - _length(lines) - _length(tail) - limit // _EVIDENCE_SHARE
    few = len({c.model for c in plan.changes}) <= FOLD_ROWS
    layout = _change_tables if few else _summary_table
    for build in (  # each built only if the one before did not fit
        lambda: layout(plan.changes, base),
        lambda: layout(plan.changes, None),
        lambda: _summary_table(plan.changes, None),
    ):
        tables = build()
        if _length(tables) <= room_for_tables:
            break
    lines += tables
    where = f"[the job summary]({full_plan_url})" if full_plan_url else "the text output"
    room = limit - _length(lines) - _length(tail) - len(_MORE_EVIDENCE) - len(where) - 100
    shown, left_out = _evidence_within(plan.changes, base, room)
    if shown:
        lines += ["#### Evidence", "", *shown]
    if left_out:
        lines += [_MORE_EVIDENCE.format(count(left_out, "more change"), where), ""]
    brief = sum(1 for c in plan.changes if c.evidence and not c.evidence.detailed)
    if brief:
        lines += [_NOT_DETAILED.format(count(brief, "change")), ""]
    return truncate("\n".join(lines + tail).rstrip("\n"), limit)


def _ownership_line(change: OwnershipChange) -> str:
    """`- churn: take over from team-a/models:registry.yaml`, names as code spans."""
    if change.kind == "adopt":
        return f"- {code(change.model)}: first adoption"
    if change.kind == "take_over":
        return f"- {code(change.model)}: **take over** from {code(change.previous or '')}"
    return f"- {code(change.model)}: release (aliases left as they are)"


_MORE_EVIDENCE = "…and the evidence of {}, left out to fit GitHub's comment limit: see {}."
_NOT_DETAILED = (
    "Metrics and signatures are read for the first changes only (failing ones first); for {} "
    "the evidence is what the registry's search returned, and what the gates read."
)


def _length(lines: Sequence[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _evidence_within(
    changes: Sequence[Change], base: str | None, room: int
) -> tuple[list[str], int]:
    """Evidence tables, failing changes first, while they fit in `room`; and how many did not."""
    failing_first = sorted(
        changes,
        key=lambda c: (all(g.passed for g in c.gates), not (c.evidence and c.evidence.detailed)),
    )
    shown: list[str] = []
    left_out = 0
    for change in failing_first:
        if change.evidence is None or change.evidence.to_version is None:
            continue  # nothing to show: neither shown nor left out
        block = [] if left_out else _evidence_table(change, base)
        if left_out or _length(shown) + _length(block) > room:
            left_out += 1
        else:
            shown += block
    return shown, left_out


def _unmanaged(plan: Plan, base: str | None) -> list[str]:
    if not plan.unmanaged:
        return []
    rows = [
        [escape(u.model), escape(u.alias), version_cell(u.model, u.version, base)]
        for u in plan.unmanaged
    ]
    body = _table(["model", "alias", "version"], rows)
    return [
        "#### Unmanaged aliases",
        "",
        "Left alone: declare them in the manifest, or set `unmanaged: delete` to delete them.",
        "",
        *_fold(count(len(rows), "unmanaged alias"), body, len(rows)),
    ]


def _errors(plan: Plan) -> list[str]:
    if not plan.errors:
        return []
    return ["#### Errors", "", *_problem_table(plan.errors)]


def _warnings(plan: Plan) -> list[str]:
    if not plan.warnings:
        return []
    why = "outside the target; not blocking" if plan.target else "not blocking"
    return [f"#### Warnings ({why})", "", *_problem_table(plan.warnings)]


def _problem_table(problems: list[PlanProblem]) -> list[str]:
    rows = [
        [
            escape(e.where) if e.where else NONE,
            escape(e.model),
            escape(e.alias) if e.alias else NONE,
            escape(e.message),
        ]
        for e in problems
    ]
    return _table(["where", "model", "alias", "message"], rows)


def _registry(registry: RegistryRef | None, manifest_path: str | None) -> list[str]:
    """The registry under the title: which one, and where that choice came from."""
    if registry is None:
        return []
    if registry.source == "default":
        where = "embedded default"
    elif registry.source == "manifest":
        where = f"from `tracking_uri` in {escape(manifest_path or 'the manifest')}"
    else:
        where = f"from `{registry.source}`"
    return [f"Registry: {code(registry.uri)} ({where})"]


def report(report: ApplyReport) -> str:
    """What apply did, change by change, for the job summary."""
    lines = ["### MLflow registry apply", *_registry(report.registry, None), ""]
    lines += [_bold(report_headline(report)), ""]
    if report.target:
        targets = ", ".join(code(str(a)) for a in report.target.addresses)
        lines += [f"Applied only {targets} (a targeted apply).", ""]
    lines += _change_tables(report.changes, _ui_base(report.registry))
    if report.ownership:
        lines += ["#### Changed hands", "", *(_ownership_line(c) for c in report.ownership), ""]
    if report.errors:
        lines += ["#### Errors", "", *(f"- {escape(e)}" for e in report.errors), ""]
    return truncate("\n".join(lines).rstrip("\n"))


def truncate(markdown: str, limit: int = MAX_CHARS) -> str:
    """Cut at a line boundary under `limit`, close an open <details>, and say so."""
    if len(markdown) <= limit:
        return markdown
    note = (
        f"\n**Truncated** from {len(markdown):,} characters to fit GitHub's limit; "
        "the text output (as in the workflow log) has every line."
    )
    closing = "</details>\n"
    kept = markdown[: limit - len(note) - len(closing)]
    kept = kept[: kept.rfind("\n") + 1]
    if kept.count("<details>") > kept.count("</details>"):
        kept += closing
    return kept + note

"""Plans, apply reports, history and edits as terminal text. Rendering never decides anything."""

from __future__ import annotations

from controller.render import words
from controller.render.headline import plan_headline, report_headline
from controller.values import (
    AliasEdit,
    ApplyReport,
    Change,
    HistoryEntry,
    Plan,
    Problem,
    RegistryRef,
    TrackedAlias,
    show_version,
)

SYMBOLS = {"create": "+", "update": "~", "delete": "-"}


def _line(lead: str, detail: str) -> str:
    return f"{lead} {detail}" if detail else lead


def change_line(change: Change) -> str:
    symbol = SYMBOLS[change.action]
    if change.action == "create":
        values = change.target
    elif change.action == "delete":
        values = f"{change.from_version}"
    else:
        values = f"{change.from_version} -> {change.target}"
    return f"{symbol} {change.address}: {values} ({words.reason(change)})"


def registry_line(registry: RegistryRef | None, manifest_path: str | None) -> list[str]:
    """`Registry: URI (from SOURCE)`: the first thing every registry command says."""
    return [f"Registry: {registry.describe(manifest_path)}", ""] if registry else []


def evidence_lines(change: Change) -> list[str]:
    """A short line per version, then a pass or fail mark per gate."""
    found = change.evidence
    if found is None:
        return []
    lines = []
    for side, version in (("to", found.to_version), ("from", found.from_version)):
        if version is None:
            continue
        diff = found.signature_diff if side == "to" else None
        # A copy's facts are its source version's: name it so, not as a version of this model.
        copy = change.copy_from if side == "to" else None
        which = copy.named() if copy else f"v{version.version}"
        head = f"{side:>4} {which}: {words.created(version)}, {version.status}, "
        if found.detailed:
            head += (
                f"{words.run(version)}, signature {words.signature(version, diff)}; "
                f"{words.metrics(version)}; "
            )
        else:  # what the search returned, and any metric a gate read
            gated = f"{words.metrics(version)}; " if version.metrics else ""
            head += f"{words.run(version)}; {gated}"
        lines.append(f"{head}tags {words.tags(version)}")
    lines += [words.gate_mark(result) for result in change.gates]
    return [f"      {line}" for line in lines]


def plan(plan: Plan) -> str:
    lines = registry_line(plan.registry, plan.manifest_path)
    if plan.target:
        lines += [f"{plan.target.headline}: {', '.join(map(str, plan.target.addresses))}.", ""]
    if plan.frozen:
        lines += [f"Apply is frozen now: {plan.frozen}.", ""]
    manifest = plan.manifest_path or "the manifest"
    for name in plan.removed_models:  # first: a whole model's aliases going is easy to miss
        lines.append(f"Model no longer in {manifest}: {name}; deleting the aliases it applied:")
        for change in (c for c in plan.changes if c.model == name):
            lines += [f"  {change_line(change)}", *evidence_lines(change)]
        lines.append("")
    changes = [c for c in plan.changes if c.model not in plan.removed_models]
    if changes:
        lines.append("Changes:")
        for change in changes:
            lines += [f"  {change_line(change)}", *evidence_lines(change)]
        lines.append("")
    if plan.ownership:
        lines.append("Ownership (which manifest manages each model):")
        lines += [f"  * {change.describe()}" for change in plan.ownership]
        lines.append("")
    if plan.unmanaged:
        lines.append("Unmanaged aliases (left alone; declare them, or set unmanaged: delete):")
        lines += [f"  {u.model}@{u.alias} -> {u.version}" for u in plan.unmanaged]
        lines.append("")
    if plan.errors:
        lines.append("Errors:")
        lines += [f"  {e.where + ': ' if e.where else ''}{e.message}" for e in plan.errors]
        lines.append("")
    if plan.warnings:
        lines.append(
            "Warnings (outside the target; they do not block it):"
            if plan.target
            else "Warnings (they do not block the plan):"
        )
        lines += [f"  {e.where + ': ' if e.where else ''}{e.message}" for e in plan.warnings]
        lines.append("")
    lines.append(_line(*plan_headline(plan)))
    return "\n".join(lines)


def report(report: ApplyReport) -> str:
    lines = []
    for result in report.changes:
        suffix = f": {result.error}" if result.error else ""
        suffix += f" ({result.note})" if result.note else ""
        took = words.rollback_time(result)
        suffix += f" ({took})" if took else ""
        lines.append(f"  {change_line(result)} ... {result.status}{suffix}")
    lines += [f"  * {change.describe()} ... done" for change in report.ownership]
    lines += [f"error: {e}" for e in report.errors]
    lines.append(_line(*report_headline(report)))
    return "\n".join(lines)


def problems(problems: list[Problem], path: str, models: int | None) -> str:
    """Every problem on its own line; then the verdict when the manifest is valid."""
    lines = [str(p) for p in problems]
    if models is not None:
        lines.append(f"{path}: valid ({models} model{'' if models == 1 else 's'})")
    return "\n".join(lines)


def _side(version: int | None, copy: str | None) -> str:
    return f"{copy} (copy)" if copy else show_version(version)


def history(entries: list[HistoryEntry]) -> str:
    """Aligned columns: date, commit, author, address, from -> to, kind, subject."""
    rows = [
        [
            e.commit.date[:16].replace("T", " "),
            e.commit.sha[:7],
            e.commit.author,
            f"{e.model}@{e.alias}",
            f"{_side(e.from_version, e.from_copy)} -> {_side(e.to_version, e.to_copy)}",
            f"{e.kind} (held)" if e.holds else e.kind,
            e.commit.subject,
        ]
        for e in entries
    ]
    if not rows:
        return "no alias changes found"
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )


def edit(edit: AliasEdit) -> str:
    """What promote or rollback did: the edit, then the commit and the pull-request link."""
    lines = [
        f"{edit.path}: {edit.model}@{edit.alias} "
        f"{show_version(edit.from_version)} -> {_side(edit.to_version, edit.to_copy)}"
    ]
    if edit.commit:
        lines.append(f"committed {edit.commit[:7]} on branch {edit.branch}")
    if edit.pull_request_url:
        lines.append(f"open a pull request: {edit.pull_request_url}")
    return "\n".join(lines)


def tracked(results: list[TrackedAlias], path: str) -> str:
    """What update decided, one line per tracked alias; a bump also says where it went."""
    if not results:
        return f"{path}: no tracked aliases (declare them under track:)"
    lines = []
    for result in results:
        head = f"{result.address}: {result.declared}"
        if result.decision == "bump":
            lines.append(f"~ {head} -> {result.candidate} ({result.reason})")
            if result.commit:
                lines.append(f"    committed {result.commit[:7]} on branch {result.branch}")
            if result.pull_request_url:
                lines.append(f"    open a pull request: {result.pull_request_url}")
            lines += [f"    supersedes branch {name}" for name in result.supersedes]
        elif result.decision == "branch-exists":
            lines.append(f"= {head} -> {result.candidate} ({result.reason}; nothing to do)")
        else:
            lines.append(f"  {head} ({result.reason})")
    bumped = sum(result.decision == "bump" for result in results)
    count = f"{len(results)} tracked alias{'' if len(results) == 1 else 'es'}"
    if not bumped:
        lines.append(f"\n{path}: nothing to update ({count}).")
    else:
        done = "committed" if any(result.commit for result in results) else "edited"
        lines.append(f"\n{path}: {bumped} of {count} {done}.")
    return "\n".join(lines)

"""The one-line verdicts every format leads with, written once: a lead and a detail."""

from __future__ import annotations

from controller.values import ApplyReport, Plan


def count(n: int, noun: str) -> str:
    """`1 error`, `2 errors`, `3 aliases`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('s') else 's'}"


def plan_headline(plan: Plan) -> tuple[str, str]:
    if plan.errors:
        return f"The plan has {count(len(plan.errors), 'error')}; nothing will be applied.", ""
    if plan.has_changes:
        s = plan.summary
        adopt = sum(change.kind == "adopt" for change in plan.ownership)
        take_over = sum(change.kind == "take_over" for change in plan.ownership)
        hands = (f", {adopt} to adopt" if adopt else "") + (
            f", {take_over} to take over" if take_over else ""
        )
        release = f", {s.release} to release" if s.release else ""
        lead = (
            f"Plan: {s.create} to create, {s.update} to update, {s.delete} to delete"
            f"{hands}{release}."
        )
        return lead, f"{s.unchanged} unchanged."
    return "No changes.", f"The registry matches {plan.manifest_path or 'the manifest'}."


def report_headline(report: ApplyReport) -> tuple[str, str]:
    if not report.changes and not report.errors and not report.released and not report.ownership:
        return "Nothing to apply.", "The registry already matches."
    counts = report.counts()
    unknown = f", {counts['unknown']} unknown" if counts["unknown"] else ""
    lead = f"{counts['applied']} applied, {counts['failed']} failed, {counts['skipped']} skipped"
    hands = len(report.ownership)
    changed_hands = f"; {count(hands, 'model')} changed hands" if hands else ""
    return f"Apply: {lead}{unknown}{changed_hands}.", ""

"""The one-line verdicts every format leads with, written once: a lead and a detail."""

from __future__ import annotations

from controller.values import ApplyReport, Plan


def count(n: int, noun: str) -> str:
    """`1 error`, `2 errors`, `3 aliases`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('s') else 's'}"


def plan_headline(plan: Plan) -> tuple[str, str]:
    if plan.errors:
        return f"The plan has {count(len(plan.errors), 'error')}; nothing will be applied.", ""
    if plan.changes:
        s = plan.summary
        lead = f"Plan: {s.create} to create, {s.update} to update, {s.delete} to delete."
        return lead, f"{s.unchanged} unchanged."
    return "No changes.", f"The registry matches {plan.manifest_path or 'the manifest'}."


def report_headline(report: ApplyReport) -> tuple[str, str]:
    if not report.changes and not report.errors:
        return "Nothing to apply.", "The registry already matches."
    applied, failed, skipped = report.counts().values()
    return f"Apply: {applied} applied, {failed} failed, {skipped} skipped.", ""

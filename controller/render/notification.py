"""A notification's text: a few lines a chat channel shows, in Slack's `text` syntax.

Registry text is cleaned first (one line each, bounded), then `&`, `<` and `>` are escaped as
Slack asks, so a tag cannot write `<!channel>` or a link of its own; other receivers get the
same plain lines.
"""

from __future__ import annotations

from controller.render.sanitize import cleaned
from controller.values import Event, EventChange, EventKind, show_version

# What each kind says first: the event in a few words.
TITLES: dict[EventKind, str] = {
    "applied": "applied",
    "failed": "apply failed",
    "unknown": "apply outcome unknown",
    "refused": "apply refused",
    "drift": "drift: the registry differs from the manifest",
    "healed": "drift healed",
}
ICONS: dict[EventKind, str] = {
    "applied": "✅",
    "failed": "❌",
    "unknown": "❓",
    "refused": "⛔",
    "drift": "⚠️",
    "healed": "🩹",
}
SYMBOLS = {"create": "+", "update": "~", "delete": "-"}
# A chat message stays short: the rest is in the run's log and the event's fields.
MAX_CHANGES = 20
MAX_ERRORS = 5


def slack_escaped(text: str) -> str:
    """Text Slack shows as written: its control sequences (`<!here>`, links) need `<` and `>`."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def change_line(change: EventChange) -> str:
    """`~ bikes@champion: 2 → 3 (promote): applied`."""
    if change.action == "create":
        values = show_version(change.to_version)
    elif change.action == "delete":
        values = show_version(change.from_version)
    else:
        values = f"{show_version(change.from_version)} → {show_version(change.to_version)}"
    line = f"{SYMBOLS[change.action]} {change.address}: {values} ({change.reason})"
    if change.status:
        line += f": {change.status}"
    return line + (f" ({change.error})" if change.error else "")


def _more(shown: int, total: int, noun: str) -> list[str]:
    return [f"… and {total - shown} more {noun}"] if total > shown else []


def text(event: Event) -> str:
    """The event in a few lines: what happened where, the verdict, the changes, the errors."""
    clean = cleaned(event)
    where = clean.manifest
    if clean.commit:
        where += f" at {clean.commit[:7] if len(clean.commit) == 40 else clean.commit}"
    if clean.registry:
        where += f" on {clean.registry}"
    lines = [f"{ICONS[event.kind]} mlflow-gitops {TITLES[event.kind]}: {where}", clean.summary]
    lines += [f"• {change_line(c)}" for c in clean.changes[:MAX_CHANGES]]
    lines += _more(MAX_CHANGES, len(clean.changes), "changes")
    lines += [f"error: {e}" for e in clean.errors[:MAX_ERRORS]]
    lines += _more(MAX_ERRORS, len(clean.errors), "errors")
    shown = slack_escaped("\n".join(lines))
    if clean.link:  # ours (the run's address), so a link; escaped all the same
        shown += f"\n<{slack_escaped(clean.link)}|the run>"
    return shown

"""The controller's status as a page a person reads (`/`): plain server-rendered HTML, no script.

Every string from the status is registry, git or configuration text and treated as hostile:
control and bidi characters are escaped (`render.sanitize`), then HTML-escaped, and links
are only ever https. The Content-Security-Policy below forbids every script, so even markup
that slipped through could not run.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from controller.daemon.status import AliasStatus, ControllerStatus, ManifestStatus, Reconcile
from controller.render.sanitize import clean, escape_text, shorten
from controller.uris import ui_base, without_userinfo

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem;
       padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { text-align: left; padding: .25rem .75rem; border-bottom: 1px solid #d0d7de; }
dl { display: grid; grid-template-columns: max-content auto; gap: .15rem 1rem; }
dt { color: #59636e; } dd { margin: 0; }
code, pre { font: 13px ui-monospace, monospace; }
pre { white-space: pre-wrap; margin: 0; }
.in-sync { color: #1a7f37; } .out-of-sync, .result-error, .result-refused { color: #cf222e; }
.errors li { margin-bottom: .4rem; }
"""
# Styles are allowed by their hash only: the page has no inline script or style anyone could
# inject into, and no other source of anything.
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
_POLICY = (
    "default-src 'none'",
    f"style-src 'sha256-{_STYLE_HASH}'",
    "img-src 'none'",
    "script-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
)
# The meta element carries the policy within the page; the HTTP layer sends the header, which
# can also refuse framing (browsers ignore frame-ancestors in a meta element).
CONTENT_SECURITY_POLICY = "; ".join((*_POLICY, "frame-ancestors 'none'"))
_META_POLICY = "; ".join(_POLICY)
# The page reloads itself (a meta refresh, no script) about once per reconcile interval.
MIN_REFRESH_SECONDS = 5
MAX_REFRESH_SECONDS = 300
# Error messages may span lines; they get more room than a field, still bounded.
MAX_ERROR_CHARS = 2_000
SHORT_COMMIT = 12
NONE = "—"


def status_page_html(status: ControllerStatus) -> str:
    """The whole page for one status value; pure, so tests render it without a server."""
    refresh = round(min(max(status.interval_seconds, MIN_REFRESH_SECONDS), MAX_REFRESH_SECONDS))
    in_sync = sum(manifest.in_sync for manifest in status.manifests)
    body = [
        "<h1>mlflow-gitops controller</h1>",
        _fields(
            [
                ("Repository", f"<code>{_text(without_userinfo(status.repo))}</code>"),
                ("Branch", f"<code>{_text(status.branch)}</code>"),
                ("Interval", f"{status.interval_seconds:g} s"),
                ("Self-heal", "on" if status.self_heal else "off (drift is reported)"),
                ("Started", _time(status.started_at)),
                ("Manifests in sync", f"{in_sync} of {len(status.manifests)}"),
            ]
        ),
    ]
    if not status.manifests:
        body.append("<p>No manifest reconciled yet.</p>")
    body.extend(_manifest_section(manifest) for manifest in status.manifests)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_META_POLICY}">',
            f'<meta http-equiv="refresh" content="{refresh}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="referrer" content="no-referrer">',
            "<title>mlflow-gitops controller</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _manifest_section(manifest: ManifestStatus) -> str:
    sync = _sync(manifest.in_sync)
    parts = [
        f'<section class="manifest" data-in-sync="{_bool(manifest.in_sync)}">',
        f"<h2><code>{_text(manifest.path)}</code> {sync}</h2>",
        _fields(
            [
                ("Registry", f"<code>{_text(without_userinfo(manifest.registry))}</code>"),
                ("Branch head", _head(manifest)),
                (
                    "Last applied commit",
                    _commit(manifest.last_applied_commit, manifest.commit_url),
                ),
                ("Last reconcile", _reconcile(manifest.last_reconcile)),
                ("Last success", _time(manifest.last_success_at)),
                ("Drift heals", str(manifest.drift_heals)),
            ]
        ),
        _aliases_table(manifest.aliases, ui_base(manifest.registry)),
        _errors(manifest),
        "</section>",
    ]
    return "\n".join(part for part in parts if part)


def _aliases_table(aliases: list[AliasStatus], ui: str | None) -> str:
    if not aliases:
        return "<p>No alias declared.</p>"
    rows = [
        f'<tr class="alias" data-in-sync="{_bool(alias.in_sync)}">'
        f"<td><code>{_text(alias.model)}</code></td>"
        f"<td><code>{_text(alias.alias)}</code></td>"
        f'<td class="declared">{_version(alias.model, alias.declared, ui)}</td>'
        f'<td class="live">{_version(alias.model, alias.live, ui)}</td>'
        f"<td>{_sync(alias.in_sync)}</td></tr>"
        for alias in aliases
    ]
    header = "<tr><th>Model</th><th>Alias</th><th>Declared</th><th>Live</th><th>State</th></tr>"
    return "\n".join(
        [
            '<table class="aliases">',
            f"<thead>{header}</thead>",
            "<tbody>",
            *rows,
            "</tbody></table>",
        ]
    )


def _errors(manifest: ManifestStatus) -> str:
    if not manifest.errors:
        return ""
    items = "".join(f"<li><pre>{_long_text(error)}</pre></li>" for error in manifest.errors)
    return f'<h3>Last errors</h3>\n<ol class="errors">{items}</ol>'


def _reconcile(reconcile: Reconcile | None) -> str:
    if reconcile is None:
        return NONE
    return (
        f'<span class="result result-{reconcile.result}">{reconcile.result}</span>'
        f" at {_time(reconcile.started_at)} ({reconcile.duration_seconds:.2f} s"
        f", commit {_commit(reconcile.commit, None)}): "
        f'<span class="summary">{_text(reconcile.summary)}</span>'
    )


def _fields(pairs: Iterable[tuple[str, str]]) -> str:
    """A definition list; values are already HTML."""
    return "<dl>" + "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in pairs) + "</dl>"


def _head(manifest: ManifestStatus) -> str:
    """The branch head, and whether it is still waiting to be applied (or was refused)."""
    shown = _commit(manifest.head_commit, None)
    if manifest.head_commit is None or manifest.head_commit == manifest.last_applied_commit:
        return shown
    return f'{shown} <span class="out-of-sync pending">not applied</span>'


def _commit(commit: str | None, url: str | None) -> str:
    if commit is None:
        return NONE
    shown = f'<code title="{_text(commit)}">{_text(commit[:SHORT_COMMIT])}</code>'
    if url is None or not _is_https(url):
        return shown
    return f'<a class="commit" href="{_text(url)}" rel="noopener noreferrer">{shown}</a>'


def _version(model: str, version: int | None, ui: str | None) -> str:
    """A version number, linked to its page in the MLflow UI (`ui_base`: http or https only)."""
    if version is None:
        return NONE
    if ui is None:
        return str(version)
    url = f"{ui}/#/models/{quote(model, safe='')}/versions/{version}"
    return f'<a href="{_text(url)}" rel="noopener noreferrer">{version}</a>'


def _sync(in_sync: bool) -> str:
    if in_sync:
        return '<span class="in-sync">in sync</span>'
    return '<span class="out-of-sync">out of sync</span>'


def _time(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    moment = datetime.fromtimestamp(seconds, UTC)
    return f'<time datetime="{moment.isoformat()}">{moment:%Y-%m-%d %H:%M:%S} UTC</time>'


def _is_https(url: str) -> bool:
    # Never javascript:, data: or a relative URL, whatever a remote's name turned into.
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.hostname)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _text(value: str) -> str:
    """One value inside an element or a quoted attribute: inert, on one line, bounded."""
    return html.escape(clean(value), quote=True)


def _long_text(value: str) -> str:
    """A message that may span lines: its line breaks kept, every other control escaped."""
    return html.escape(shorten(escape_text(value), MAX_ERROR_CHARS), quote=True)

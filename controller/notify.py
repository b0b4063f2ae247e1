"""Notifications: one JSON POST per receiver for each apply, drift found or drift healed.

The payload's `text` is Slack's, so an incoming-webhook URL works as is; the event's fields ride
beside it for other receivers. A receiver is best effort: three attempts with exponential
backoff and a timeout each, then a warning, never an exception, so it cannot fail what it
reports on. Receiver URLs are secrets (a webhook's path is its credential): they are registered
with the output's redaction before anything is sent, and warnings name a receiver by position.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote, urlsplit

from controller.errors import GitopsError, RegistryError
from controller.github_actions import run_url
from controller.output import redact, remember_secret
from controller.render import notification
from controller.render.headline import plan_headline, report_headline
from controller.uris import without_userinfo
from controller.values import (
    ApplyReport,
    Change,
    ChangeResult,
    Event,
    EventChange,
    EventKind,
    Plan,
)

__all__ = ["Event", "apply_event", "error_event", "notify", "plan_event", "receivers"]

# The variable CI passes the receivers in (a secret): URLs separated by whitespace or commas.
NOTIFY_URLS_VARIABLE = "MLFLOW_GITOPS_NOTIFY_URLS"
ATTEMPTS = 3
BACKOFF_SECONDS = 0.5  # before the 2nd attempt; doubled before each one after
TIMEOUT_SECONDS = 5.0
_SEPARATORS = re.compile(r"[\s,]+")


def receivers(given: Iterable[str] = (), environ: dict[str, str] | None = None) -> list[str]:
    """The receivers: `--notify` URLs, then $MLFLOW_GITOPS_NOTIFY_URLS's, each once, every one
    remembered as a secret before anything can print it."""
    variable = (os.environ if environ is None else environ).get(NOTIFY_URLS_VARIABLE, "")
    found: list[str] = []
    for url in [*given, *_SEPARATORS.split(variable)]:
        url = url.strip()
        if url and url not in found:
            remember_secret(url)
            found.append(url)
    return found


def notify(urls: Sequence[str], event: Event) -> list[str]:
    """POST the event to every receiver at once; a warning line for each that did not take it."""
    if not urls:
        return []
    for url in urls:
        remember_secret(url)
    body = redact(json.dumps(payload(event), ensure_ascii=False)).encode()
    with ThreadPoolExecutor(max_workers=min(len(urls), 8)) as pool:
        failures = list(pool.map(lambda url: _deliver(url, body), urls))
    return [
        f"warning: notification receiver {number} of {len(urls)} failed: {failure}"
        for number, failure in enumerate(failures, start=1)
        if failure
    ]


def payload(event: Event) -> dict[str, Any]:
    """Slack's `text`, and the event's fields for receivers that read them."""
    return {"text": notification.text(event), **event.model_dump(mode="json", by_alias=True)}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a hop: the event is never sent on to another address."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _deliver(url: str, body: bytes) -> str | None:
    """Up to ATTEMPTS tries; None once a receiver answered 2xx, else why it did not."""
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        return "not an http(s) URL"
    headers = {"Content-Type": "application/json", "User-Agent": "mlflow-gitops"}
    if parts.username is not None:  # urllib sends no userinfo itself: Basic, as curl would
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    request = urllib.request.Request(without_userinfo(url), body, headers, method="POST")
    why = "no attempt"
    for attempt in range(1, ATTEMPTS + 1):
        if attempt > 1:
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 2))
        try:
            with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
                response.read()
            return None
        except urllib.error.HTTPError as exc:
            exc.close()
            why = f"HTTP {exc.code}"
            if exc.code < 500 and exc.code != 429:  # the receiver said no: asking again won't help
                return why
        except (ValueError, http.client.InvalidURL) as exc:  # a URL urllib cannot use
            return f"not a usable URL ({type(exc).__name__})"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            why = _network_reason(exc)
    return f"{why} (after {ATTEMPTS} attempts)"


def _network_reason(exc: BaseException) -> str:
    """Why no answer came, in words that never quote the URL (str(exc) may)."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"no answer within {TIMEOUT_SECONDS:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return type(reason).__name__ if isinstance(reason, BaseException) else "no answer"


# The events the CLI (and the controller) send, made from the values they already have.


def _event_change(change: Change) -> EventChange:
    if isinstance(change, ChangeResult):
        status, error = change.status, change.error
    else:
        status, error = None, None
    return EventChange(
        model=change.model,
        alias=change.alias,
        action=change.action,
        from_version=change.from_version,
        to_version=change.to_version,
        reason=change.reason,
        status=status,
        error=error,
    )


def _commit(plan: Plan) -> str | None:
    """The commit that declared the plan, or that the manifest was local and uncommitted."""
    return plan.source.committed if plan.source else None


def apply_kind(plan: Plan, report: ApplyReport) -> EventKind | None:
    """What an apply amounts to; None when it had nothing to do (no event then)."""
    counts = report.counts()
    if plan.errors:
        return "refused"
    if counts["failed"]:
        return "failed"
    if counts["unknown"]:
        return "unknown"
    if report.errors:  # nothing written, or the writes landed but the records did not
        written = counts["applied"] or report.released or report.ownership
        return "failed" if written else "refused"
    if report.changes or report.released or report.ownership:  # a take-over is work too
        return "applied"
    return None


def apply_event(plan: Plan, report: ApplyReport, manifest: str) -> Event | None:
    """The one event of an apply, or None when there was nothing to do."""
    kind = apply_kind(plan, report)
    if kind is None:
        return None
    if plan.errors:
        summary = plan_headline(plan)[0]
        errors = [f"{e.where + ': ' if e.where else ''}{e.message}" for e in plan.errors]
    else:
        summary = " ".join(part for part in report_headline(report) if part)
        errors = list(report.errors)
    return Event(
        kind=kind,
        manifest=manifest,
        registry=plan.registry.uri if plan.registry else None,
        commit=_commit(plan),
        summary=summary,
        changes=[_event_change(c) for c in report.changes],
        errors=errors,
        link=run_url(),
    )


def plan_event(plan: Plan, manifest: str) -> Event | None:
    """Drift: the plan of an applied manifest has changes, or cannot be made. None if neither."""
    if not plan.has_changes and not plan.errors:
        return None
    return Event(
        kind="drift",
        manifest=manifest,
        registry=plan.registry.uri if plan.registry else None,
        commit=_commit(plan),
        summary=" ".join(part for part in plan_headline(plan) if part),
        changes=[_event_change(c) for c in plan.changes],
        errors=[f"{e.where + ': ' if e.where else ''}{e.message}" for e in plan.errors],
        link=run_url(),
    )


def error_event(error: GitopsError, manifest: str) -> Event:
    """An apply that stopped with an error before it had a result: failed when the registry
    failed it, refused when the tool would not go on (an invalid manifest, a stale plan)."""
    return Event(
        kind="failed" if isinstance(error, RegistryError) else "refused",
        manifest=manifest,
        summary="The apply stopped with an error.",
        errors=error.lines(),
        link=run_url(),
    )

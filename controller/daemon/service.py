"""`mlflow-gitops controller` as a process: endpoints, signals, the loop, a clean exit.

SIGTERM or SIGINT start no new writes; the write in flight finishes, apply reads it back and
records it, and the process exits 0 (Kubernetes' grace period is 30 s; this takes seconds).
"""

from __future__ import annotations

import signal
from typing import Any

from controller.daemon.http import Endpoints, serve_endpoints
from controller.daemon.logs import Log, LogFormat
from controller.daemon.loop import Controller, Notify, Settings
from controller.errors import UsageError


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:8080`) -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {listen!r} is not HOST:PORT (for example 127.0.0.1:8080)")
    return host, int(port)


def logged_notifications(log: Log) -> Notify:
    """Until receivers are wired in: every notification is at least a log line."""

    def notify(event: str, text: str, details: dict[str, Any]) -> None:
        log("notification", event_kind=event, text=text, **details)

    return notify


def run_controller(
    settings: Settings,
    *,
    listen: str | None,
    log_format: LogFormat,
    notify: Notify | None = None,
) -> int:
    """Serve the endpoints (if asked) and run the loop until a signal; 0 on a clean stop."""
    log = Log(log_format)
    address = parse_listen(listen) if listen else None
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(settings, log, notify or logged_notifications(log))
    server = serve_endpoints(Endpoints(controller), *address) if address else None
    if address:
        log("listening", address=f"http://{address[0]}:{server.server_port if server else 0}")

    def on_signal(signum: int, _frame: object) -> None:
        controller.stop(f"stopped by {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return controller.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.shutdown()
            server.server_close()

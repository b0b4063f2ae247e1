"""`mlflow-gitops controller` as a process: endpoints, signals, the loop, a clean exit.

SIGTERM or SIGINT start no new writes; the write in flight finishes, apply reads it back and
records it, and the process exits 0 (Kubernetes' grace period is 30 s; this takes seconds).
"""

from __future__ import annotations

import fcntl
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from controller import api
from controller.daemon.http import Endpoints, serve_endpoints
from controller.daemon.logs import Log, LogFormat
from controller.daemon.loop import Controller, Notify, Settings
from controller.errors import UsageError
from controller.values import Event


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:8080`) -> (host, port)."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {listen!r} is not HOST:PORT (for example 127.0.0.1:8080)")
    return host, int(port)


def notifications(receivers: list[str], log: Log) -> tuple[Notify, ThreadPoolExecutor]:
    """Each event is a log line, and is posted to the receivers from a thread of its own, so a
    slow or failing receiver (retried with backoff) never holds up a reconcile."""
    sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify")

    def post(event: Event) -> None:
        for warning in api.notify(receivers, event):
            log("notification failed", level="warning", warning=warning)

    def notify(event: Event) -> None:
        log("notification", kind=event.kind, manifest=event.manifest, commit=event.commit,
            summary=event.summary)  # fmt: skip
        if receivers:
            sender.submit(post, event)

    return notify, sender


def lock_state_dir(state_dir: Path) -> IO[bytes]:
    """One controller per state dir: two would check out commits under each other's feet."""
    handle = (state_dir / "controller.lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UsageError(
            f"another controller is using --state-dir {state_dir}; give each its own"
        ) from None
    return handle


def run_controller(
    settings: Settings,
    *,
    listen: str | None,
    log_format: LogFormat,
    receivers: list[str] | None = None,
) -> int:
    """Serve the endpoints (if asked) and run the loop until a signal; 0 on a clean stop."""
    log = Log(log_format)
    address = parse_listen(listen) if listen else None
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    lock = lock_state_dir(settings.state_dir)
    notify, sender = notifications(receivers or [], log)
    controller = Controller(settings, log, notify)
    try:
        server = serve_endpoints(Endpoints(controller), *address) if address else None
    except OSError as exc:
        lock.close()
        raise UsageError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
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
        sender.shutdown(wait=True, cancel_futures=False)
        lock.close()

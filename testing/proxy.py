"""A loopback HTTP proxy that injects faults between the tool and a real `mlflow server`.

Standard library only. It forwards every request to the upstream server and records
(method, path); rules pick requests (by method, path substring, nth match or every match) and
replace the normal exchange with a fault, so tests can prove what the tool does when a write
lands but its reply is lost, when the server answers 503 or when nobody answers at all.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# What a rule can do to the requests it matches.
FORWARD = "forward"  # pass it through (with `delay`, this adds latency)
REFUSE = "refuse"  # reset this connection and every open one, and stop listening
RESET_BEFORE = "reset-before"  # reset the connection; the server never sees the request
RESET_AFTER = "reset-after"  # forward, then reset: the server applied it, the reply is lost
STATUS = "status"  # answer `status` (with `forward=True`, only after the server applied it)
BLACKHOLE = "blackhole"  # read the request and never answer
FAULTS = (FORWARD, REFUSE, RESET_BEFORE, RESET_AFTER, STATUS, BLACKHOLE)

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
UPSTREAM_TIMEOUT_S = 60.0


@dataclass
class Rule:
    """One fault. `nth` counts this rule's matches from 1; None means every match."""

    fault: str
    method: str | None = None
    path: str | None = None
    body: str | None = None  # a substring of the request body, e.g. one alias's name
    nth: int | None = None
    status: int = 503
    forward: bool = False
    retry_after: str | None = None
    delay: float = 0.0
    hold: threading.Event | None = None  # wait for this before acting, as a gate
    echo: bool = False  # a status reply quotes the request's credentials, as some servers do
    # A forwarded reply's body rewritten, as a registry that answers differently would.
    rewrite: Callable[[bytes], bytes] | None = None
    matched: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; expected one of {FAULTS}")

    def matches(self, method: str, path: str, body: str) -> bool:
        return (
            (self.method is None or self.method == method)
            and (self.path is None or self.path in path)
            and (self.body is None or self.body in body)
        )

    def take(self, method: str, path: str, body: str) -> bool:
        """Count a matching request; say whether the fault applies to it."""
        if not self.matches(method, path, body):
            return False
        self.matched += 1
        if self.nth is not None and self.matched != self.nth:
            return False
        self.fired += 1
        return True


@dataclass
class FaultProxy:
    """The proxy's state: its rules, the requests it saw, and its listening server."""

    upstream: str
    port: int = 0
    rules: list[Rule] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _open: set[socket.socket] = field(default_factory=set)
    _released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, fault: str, **options: object) -> Rule:
        rule = Rule(fault, **options)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Drop every rule: from now on requests pass through."""
        with self._lock:
            self.rules.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests seen so far (faulted ones included) matching method and path substring."""
        with self._lock:
            return sum(
                1
                for m, p in self.requests
                if (method is None or m == method) and (path is None or path in p)
            )

    # Lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        handler = type("BoundHandler", (_Handler,), {"proxy": self})
        server = _QuietServer(("127.0.0.1", self.port), handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def refuse(self) -> None:
        """Stop listening and reset every open connection: new connects get ECONNREFUSED."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            _reset(connection, wake=True)

    def resume(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self.start()

    def stop(self) -> None:
        self._released.set()  # black-holed handlers give up their threads
        for rule in self.rules:
            if rule.hold is not None:
                rule.hold.set()
        self.refuse()

    def _decide(self, method: str, path: str, body: bytes) -> Rule | None:
        text = body.decode(errors="replace")
        with self._lock:
            self.requests.append((method, path))
            for rule in self.rules:
                if rule.take(method, path, text):
                    return rule
        return None


@contextlib.contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    """A started proxy in front of `upstream` (a base URL), stopped afterwards."""
    proxy = FaultProxy(upstream=upstream)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def _reset(connection: socket.socket, wake: bool = False) -> None:
    """Close with SO_LINGER 0, so the peer sees a TCP RST instead of an orderly close.

    The file descriptor closes (sending the RST) once its handler lets go of it; `wake` first
    shuts the socket down, so a handler blocked reading it (another thread's) lets go.
    """
    with contextlib.suppress(OSError):
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if wake:
            connection.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        connection.close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """Connections this proxy resets on purpose end in errors: they are not news."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as MLflow's requests session expects
    proxy: FaultProxy

    def setup(self) -> None:
        super().setup()
        with self.proxy._lock:
            self.proxy._open.add(self.connection)

    def finish(self) -> None:
        with self.proxy._lock:
            self.proxy._open.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, *args: object) -> None:
        pass

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urlsplit(self.path).path
        rule = self.proxy._decide(self.command, path, body)
        if rule is not None and rule.hold is not None:
            rule.hold.wait()
        if rule is not None and rule.delay:
            time.sleep(rule.delay)
        fault = rule.fault if rule is not None else FORWARD
        if fault == BLACKHOLE:
            self.proxy._released.wait()
            self.close_connection = True
            return
        if fault == REFUSE:
            self.close_connection = True
            self.proxy.refuse()  # resets this connection too
            return
        if fault == RESET_BEFORE:
            self._reset()
            return
        if fault == STATUS and rule is not None and not rule.forward:
            self._reply(*_injected(rule, self._credentials()))
            return
        try:
            status, headers, reply = self._forward(body)
        except OSError:  # the server is gone: answer as a load balancer would
            status, headers, reply = 502, {}, b"upstream unavailable"
        if fault == RESET_AFTER:
            self._reset()
        elif fault == STATUS and rule is not None:
            self._reply(*_injected(rule, self._credentials()))
        else:
            if rule is not None and rule.rewrite is not None:
                reply = rule.rewrite(reply)
            self._reply(status, headers, reply)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

    def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        upstream = urlsplit(self.proxy.upstream)
        assert upstream.hostname is not None, self.proxy.upstream
        connection = http.client.HTTPConnection(
            upstream.hostname, upstream.port, timeout=UPSTREAM_TIMEOUT_S
        )
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            reply = response.read()
            kept = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
            }
            return response.status, kept, reply
        finally:
            connection.close()

    def _credentials(self) -> str:
        """The Authorization header, and a Basic one decoded, as a careless server echoes it."""
        header = self.headers.get("Authorization", "")
        kind, _, value = header.partition(" ")
        if kind == "Basic":
            with contextlib.suppress(ValueError):
                return f"{header} ({base64.b64decode(value).decode(errors='replace')})"
        return header

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _reset(self) -> None:
        self.close_connection = True
        _reset(self.connection)


def _injected(rule: Rule, credentials: str) -> tuple[int, dict[str, str], bytes]:
    """The reply a rule answers with: MLflow's error JSON, and Retry-After when asked."""
    headers = {"Content-Type": "application/json"}
    if rule.retry_after is not None:
        headers["Retry-After"] = rule.retry_after
    message = f"injected {rule.status}" + (f" for {credentials}" if rule.echo else "")
    code = "INVALID_PARAMETER_VALUE" if rule.status == 400 else "INTERNAL_ERROR"
    return rule.status, headers, json.dumps({"error_code": code, "message": message}).encode()

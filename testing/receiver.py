"""A real notification receiver on loopback: a threaded HTTP server that records every POST
and answers with the statuses a test scripts (then 200), as a Slack webhook or a flaky proxy
would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One POST as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """Where the server listens, what it got, and what it will answer next."""

    url: str
    statuses: list[int] = field(default_factory=list)
    posts: list[Received] = field(default_factory=list)
    accepted: list[bool] = field(default_factory=list)  # per post: answered 2xx

    def events(self) -> list[dict[str, Any]]:
        """The payloads it accepted, in order."""
        return [post.body for post, ok in zip(self.posts, self.accepted, strict=True) if ok]


@contextmanager
def receiver(*statuses: int, path: str = "/hook") -> Iterator[Receiver]:
    """A receiver at http://127.0.0.1:PORT{path} answering `statuses` in turn, then 200."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            with lock:
                status = state.statuses.pop(0) if state.statuses else 200
                state.posts.append(Received(self.path, dict(self.headers.items()), body))
                state.accepted.append(200 <= status < 300)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads `posts`, not a log."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}{path}", list(statuses))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

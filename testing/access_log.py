"""Count the HTTP requests a server received, from its access log, not from the client's word.

uvicorn (which `mlflow server` runs) logs one line per request. A marker request before and
after the counted work brackets the lines, so requests from anything else (health checks, an
earlier run) are never counted, and no sleep is needed to wait for the log to catch up.
"""

from __future__ import annotations

import contextlib
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MARKER_TIMEOUT_S = 30.0
REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')
READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    status: int

    @property
    def endpoint(self) -> str:
        return self.path.split("?", 1)[0]


@dataclass
class Requests:
    """The requests seen between two markers; filled when the `counted_requests` block ends."""

    seen: list[Request] = field(default_factory=list)

    @property
    def reads(self) -> int:
        return sum(r.method in READ_METHODS for r in self.seen)

    @property
    def writes(self) -> int:
        return len(self.seen) - self.reads

    def by_endpoint(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for request in self.seen:
            key = f"{request.method} {request.endpoint}"
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))


def _mark(url: str, log: Path) -> int:
    """Send a marker request and return the log offset just after its line."""
    token = uuid.uuid4().hex
    with urllib.request.urlopen(f"{url}/health?mark={token}", timeout=10) as resp:
        resp.read()
    deadline = time.monotonic() + MARKER_TIMEOUT_S
    while True:
        data = log.read_bytes()
        at = data.find(token.encode())
        if at >= 0:
            end = data.find(b"\n", at)
            return len(data) if end < 0 else end + 1
        if time.monotonic() > deadline:
            raise TimeoutError(f"the marker request never reached {log}")
        time.sleep(0.05)


def parse(lines: str) -> list[Request]:
    return [
        Request(m["method"], m["path"], int(m["status"]))
        for m in map(REQUEST_LINE.search, lines.splitlines())
        if m
    ]


@contextlib.contextmanager
def counted_requests(url: str, log: Path) -> Iterator[Requests]:
    """Yield a `Requests` that, after the block, holds every request the server logged in it."""
    requests = Requests()
    start = _mark(url, log)
    yield requests
    end = _mark(url, log)
    text = log.read_bytes()[start:end].decode(errors="replace")
    requests.seen = [r for r in parse(text) if "mark=" not in r.path]

"""The controller's log: one JSON object per line for machines, or `--log-format text` for
people. Through output.err, so secrets are redacted and control characters escaped."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Literal

from controller.output import err

LogFormat = Literal["json", "text"]
LOG_FORMATS: tuple[LogFormat, ...] = ("json", "text")


def log_line(fmt: LogFormat, at: float, level: str, event: str, fields: dict[str, Any]) -> str:
    """One record: `{"time": ..., "level": ..., "event": ..., ...}`, or `TIME LEVEL event k=v`."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"
    if fmt == "json":
        record = {"time": stamp, "level": level, "event": event, **fields}
        return json.dumps(record, separators=(",", ":"), default=str)
    parts = [stamp, level.upper(), event]
    for key, value in fields.items():
        if value is None or value == [] or value == {}:
            continue
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        parts.append(f"{key}={shown}")
    return " ".join(parts)


class Log:
    """Writes whole lines from any thread (the loop, the HTTP server)."""

    def __init__(self, fmt: LogFormat = "json") -> None:
        self.fmt = fmt
        self._lock = threading.Lock()

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        line = log_line(self.fmt, time.time(), level, event, fields)
        with self._lock:
            err(line)

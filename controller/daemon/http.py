"""`--listen`: health, readiness, metrics, the status (a page and JSON) and the two hooks.

Standard library HTTP in a thread beside the loop: the endpoints only read the status value
or wake the loop; none of them writes to the registry or decides anything.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from controller import webhooks
from controller.daemon.loop import WEBHOOK_SECRET_ENV as MLFLOW_SECRET_ENV
from controller.daemon.loop import Controller
from controller.daemon.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from controller.daemon.status import ControllerStatus
from controller.render.status_page import CONTENT_SECURITY_POLICY, status_page_html

GIT_SECRET_ENV = "MLFLOW_GITOPS_GIT_HOOK_SECRET"
# GitHub's push payloads stay far below this; anything larger is not a push event.
MAX_GIT_HOOK_BODY_BYTES = 5 * 1024 * 1024


class Endpoints:
    """Routes to answers; the secrets come from the environment, once, at start."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.mlflow_secret = os.environ.get(MLFLOW_SECRET_ENV) or None
        self.git_secret = os.environ.get(GIT_SECRET_ENV) or None
        self.deliveries = webhooks.RecentDeliveries()
        self._deliveries_lock = threading.Lock()
        # The last status rendered, per format: a status with 20,000 aliases takes a while to
        # render, and a poller must not take that time from the reconcile (the GIL).
        self._rendered: dict[str, tuple[object, bytes]] = {}

    def _render(self, kind: str, status: ControllerStatus) -> bytes:
        cached = self._rendered.get(kind)
        if cached is not None and cached[0] is status:
            return cached[1]
        if kind == "json":
            body = status.model_dump_json().encode()
        else:
            body = status_page_html(status).encode()
        self._rendered[kind] = (status, body)
        return body

    def get(self, path: str) -> tuple[int, str, bytes]:
        controller = self.controller
        if path == "/healthz":
            return 200, "text/plain", b"ok\n"
        if path == "/readyz":
            ready = controller.ready()
            return (200 if ready else 503), "text/plain", b"ready\n" if ready else b"not ready\n"
        if path == "/metrics":
            return 200, METRICS_CONTENT_TYPE, controller.metrics.text()
        if path == "/api/status":
            return 200, "application/json", self._render("json", controller.status)
        if path == "/":
            return 200, "text/html; charset=utf-8", self._render("html", controller.status)
        return 404, "text/plain", b"not found\n"

    def mlflow_hook(self, headers: dict[str, str], read: Callable[[int], bytes | None]) -> Answer:
        """MLflow's signed alias webhook: a declared model's alias moved, so check at once."""
        if not self.mlflow_secret or (signed := webhooks.signed_headers(headers)) is None:
            return _json(401, {"error": "missing or invalid X-MLflow-Signature"})
        body = read(webhooks.MAX_WEBHOOK_BODY_BYTES)
        if body is None:
            return _json(413, {"error": "body too large"})
        if not webhooks.signature_is_valid(self.mlflow_secret, headers, body):
            return _json(401, {"error": "missing or invalid X-MLflow-Signature"})
        with self._deliveries_lock:
            first = self.deliveries.first_time(signed.delivery_id, int(signed.timestamp))
        if not first:
            return _json(409, {"error": "this delivery was already received"})
        try:
            event = webhooks.alias_event(json.loads(body))
        except ValueError:
            return _json(400, {"error": "body is not JSON"})
        check = event is not None and self.controller.declares(event[0])
        if check:
            self.controller.check_now()
        return _json(200, {"check": check})

    def git_hook(self, headers: dict[str, str], read: Callable[[int], bytes | None]) -> Answer:
        """A signed push hook (GitHub's X-Hub-Signature-256): fetch at once."""
        if not self.git_secret:
            return _json(404, {"error": f"push hooks are off: set {GIT_SECRET_ENV}"})
        body = read(MAX_GIT_HOOK_BODY_BYTES)
        if body is None:
            return _json(413, {"error": "body too large"})
        if not webhooks.github_signature_is_valid(self.git_secret, headers, body):
            return _json(401, {"error": "missing or invalid X-Hub-Signature-256"})
        self.controller.fetch_now()
        return _json(202, {"fetch": True})


Answer = tuple[int, str, bytes]


def _json(status: int, body: dict[str, Any]) -> Answer:
    return status, "application/json", json.dumps(body).encode()


def serve_endpoints(endpoints: Endpoints, host: str, port: int) -> ThreadingHTTPServer:
    """Listen on host:port in a daemon thread; the caller shuts the server down."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "mlflow-gitops"
        sys_version = ""

        def do_GET(self) -> None:
            self._answer(endpoints.get(self.path.split("?", 1)[0]))

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            headers = {key: value for key, value in self.headers.items()}
            if path == "/hooks/mlflow":
                self._answer(endpoints.mlflow_hook(headers, self._body))
            elif path == "/hooks/git":
                self._answer(endpoints.git_hook(headers, self._body))
            else:
                self._answer((404, "text/plain", b"not found\n"))

        def _body(self, limit: int) -> bytes | None:
            """The body by its declared length; None when that is over `limit`. A body of
            undeclared length (chunked) is not read: it is empty, so no signature matches."""
            declared = self.headers.get("Content-Length", "")
            if not declared.isdigit() or int(declared) > limit:
                self.close_connection = True
                return None if declared.isdigit() else b""
            return self.rfile.read(int(declared))

        def _answer(self, answer: Answer) -> None:
            status, content_type, body = answer
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            if content_type.startswith("text/html"):
                self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Requests are not logged: probes and scrapes would drown the reconcile lines."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="endpoints", daemon=True).start()
    return server

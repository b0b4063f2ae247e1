"""The fault proxy does what each fault promises, seen from both the client and the server."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from testing.proxy import (
    BLACKHOLE,
    FORWARD,
    REFUSE,
    RESET_AFTER,
    RESET_BEFORE,
    STATUS,
    FaultProxy,
    fault_proxy,
)


class Upstream:
    """A tiny server that records what reached it and answers 200 with the path."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream.seen.append((self.command, self.path, body))
                reply = f"{self.command} {self.path}".encode()
                self.send_response(200)
                self.send_header("X-Upstream", "yes")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = do_DELETE = do_PATCH = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[FaultProxy]:
    with fault_proxy(upstream.url) as running:
        yield running


def call(
    proxy: FaultProxy, method: str, path: str, body: bytes = b"", timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)
    try:
        connection.request(method, path, body=body or None)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_forwards_requests_and_counts_them(proxy: FaultProxy, upstream: Upstream) -> None:
    status, headers, body = call(proxy, "POST", "/api/2.0/x?y=1", b'{"a": 1}')

    assert (status, headers["X-Upstream"], body) == (200, "yes", b"POST /api/2.0/x?y=1")
    assert upstream.seen == [("POST", "/api/2.0/x?y=1", b'{"a": 1}')]
    assert proxy.requests == [("POST", "/api/2.0/x")]
    assert proxy.count("POST", "/x") == 1
    assert proxy.count("GET") == 0


def test_status_without_forwarding_never_reaches_the_server(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    proxy.add(STATUS, status=429, retry_after="3")

    status, headers, body = call(proxy, "POST", "/write")

    assert (status, headers["Retry-After"]) == (429, "3")
    assert b"injected 429" in body
    assert upstream.seen == []


def test_status_after_forwarding_reaches_the_server_and_hides_its_reply(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    proxy.add(STATUS, status=500, forward=True)

    status, headers, _ = call(proxy, "DELETE", "/alias")

    assert status == 500
    assert "X-Upstream" not in headers
    assert [seen[:2] for seen in upstream.seen] == [("DELETE", "/alias")]


def test_nth_rule_faults_only_its_nth_matching_request(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    rule = proxy.add(STATUS, method="POST", path="/alias", nth=2, status=503)

    statuses = [
        call(proxy, "POST", "/alias")[0],
        call(proxy, "GET", "/alias")[0],
        call(proxy, "POST", "/other")[0],
        call(proxy, "POST", "/alias")[0],
        call(proxy, "POST", "/alias")[0],
    ]

    assert statuses == [200, 200, 200, 503, 200]
    assert (rule.matched, rule.fired) == (3, 1)
    assert len(upstream.seen) == 4


def test_reset_before_forwarding_loses_the_request(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.add(RESET_BEFORE, method="POST")

    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        call(proxy, "POST", "/write")

    assert upstream.seen == []
    assert proxy.count("POST") == 1


def test_reset_after_forwarding_applies_the_request_and_loses_the_reply(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    proxy.add(RESET_AFTER, method="POST", nth=1)

    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        call(proxy, "POST", "/write", b"v=2")

    assert upstream.seen == [("POST", "/write", b"v=2")]
    assert call(proxy, "POST", "/write")[0] == 200  # nth=1: only the first one


def test_blackhole_accepts_and_never_answers(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.add(BLACKHOLE)

    with pytest.raises(TimeoutError):
        call(proxy, "GET", "/health", timeout=0.3)

    assert upstream.seen == []
    assert proxy.count("GET", "/health") == 1


def test_latency_delays_a_forwarded_reply_past_a_short_timeout(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    proxy.add(FORWARD, path="/slow", delay=2.0)

    with pytest.raises(TimeoutError):
        call(proxy, "GET", "/slow", timeout=0.3)

    assert call(proxy, "GET", "/fast")[0] == 200


def test_refuse_stops_listening_until_resumed(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.add(REFUSE, method="POST", nth=1)

    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        call(proxy, "POST", "/write")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5).close()

    proxy.resume()
    assert call(proxy, "POST", "/write")[0] == 200
    assert upstream.seen == [("POST", "/write", b"")]


def test_refuse_resets_open_keep_alive_connections(proxy: FaultProxy) -> None:
    kept = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    kept.request("GET", "/first")
    assert kept.getresponse().read() == b"GET /first"

    proxy.refuse()

    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        kept.request("GET", "/second")
        kept.getresponse()
    kept.close()


def test_body_rule_faults_only_requests_whose_body_contains_it(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    proxy.add(STATUS, body='"a03"', status=503)

    assert call(proxy, "POST", "/alias", b'{"alias": "a02"}')[0] == 200
    assert call(proxy, "POST", "/alias", b'{"alias": "a03"}')[0] == 503
    assert [seen[2] for seen in upstream.seen] == [b'{"alias": "a02"}']


def test_a_held_request_waits_for_its_gate(proxy: FaultProxy, upstream: Upstream) -> None:
    gate = threading.Event()
    proxy.add(FORWARD, method="POST", hold=gate)
    replies: list[int] = []
    caller = threading.Thread(target=lambda: replies.append(call(proxy, "POST", "/w")[0]))
    caller.start()
    while proxy.count("POST") < 1:
        caller.join(0.05)

    assert upstream.seen == [] and replies == []
    gate.set()
    caller.join(10)
    assert replies == [200] and len(upstream.seen) == 1


def test_echo_quotes_the_credentials_a_careless_server_would(proxy: FaultProxy) -> None:
    proxy.add(STATUS, status=400, echo=True)
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    connection.request("POST", "/w", headers={"Authorization": "Basic YW5uOlF6Nw=="})
    body = connection.getresponse().read().decode()
    connection.close()

    assert "Basic YW5uOlF6Nw== (ann:Qz7)" in body


def test_unknown_fault_is_rejected(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        proxy.add("explode")


@pytest.mark.server
def test_reset_after_forwarding_lands_an_mlflow_write_whose_reply_is_lost(
    mlflow_server: str, server_client, make_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # see the fault, not a retry
    name = make_model(versions=2)
    with fault_proxy(mlflow_server) as proxied:
        proxied.add(RESET_AFTER, method="POST", path="registered-models/alias")
        client = MlflowClient(tracking_uri=proxied.url, registry_uri=proxied.url)
        with pytest.raises(Exception):  # noqa: B017 - whatever requests/MLflow raise
            client.set_registered_model_alias(name, "champion", "2")
        writes = proxied.count("POST", "registered-models/alias")

    assert writes == 1
    assert server_client.get_registered_model(name).aliases == {"champion": "2"}

"""Serve a registered model by alias, and follow the alias when a promotion or rollback moves it.

`mlflow models serve` loads a model once. `AliasedModel` keeps checking the alias (one cheap
registry call per interval, or at once when a signed MLflow webhook says it moved), loads a new
version beside the current one and swaps atomically, so requests never wait for or fail on a
load. `serve` puts MLflow's own scoring protocol (`mlflow.pyfunc.scoring_server`) in front of it.
mlflow is imported lazily: it takes seconds, and other commands never need it here.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.errors import ServingError
from controller.output import err, redact
from controller.registry import mlflow_private, open_registry
from controller.registry.errors import translated
from controller.target import TargetFlags
from controller.webhooks import (
    MAX_WEBHOOK_BODY_BYTES,
    RecentDeliveries,
    concerns,
    signature_is_valid,
    signed_headers,
)

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

log = logging.getLogger("mlflow_gitops.serving")

_ALIASED_URI = re.compile(r"^(?:models:/)?(?P<name>[^@/]+)@(?P<alias>[A-Za-z0-9_-]+)$")


def parse_aliased_uri(uri: str) -> tuple[str, str]:
    """`models:/NAME@ALIAS` or `NAME@ALIAS` -> (name, alias)."""
    match = _ALIASED_URI.match(uri.strip())
    if not match:
        raise ServingError(f"{uri!r} is not MODEL@ALIAS (for example models:/bikes@champion)")
    return match["name"], match["alias"]


@dataclass(frozen=True)
class LoadedVersion:
    """One loaded version; swapped as a whole, so a request sees a consistent model."""

    version: str
    model: PyFuncModel
    folder: Path


# What mlflow.pyfunc imports that the registry client (mlflow-skinny) does not bring: the
# `serve` extra's packages.
SERVING_LIBRARIES = ("numpy", "pandas")


def require_serving_libraries() -> None:
    """Fail in one line naming the extra, before any registry call, when it is not installed."""
    missing = [name for name in SERVING_LIBRARIES if importlib.util.find_spec(name) is None]
    if missing:
        raise ServingError(
            f"serving a model needs {' and '.join(missing)}, which the plain install leaves "
            "out: install mlflow-gitops[serve] (uv tool install 'mlflow-gitops[serve]')"
        )


class AliasedModel:
    """A pyfunc model that follows `models:/NAME@ALIAS` as the alias moves.

    A background thread checks the alias every `refresh_interval` seconds with one call; only
    when it points elsewhere is the new version downloaded and loaded, off the request path, and
    then swapped in. A failed load leaves the current version serving and is retried next check.
    """

    def __init__(
        self,
        model_uri: str,
        refresh_interval: float = 30,
        *,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
    ) -> None:
        require_serving_libraries()
        self.name, self.alias = parse_aliased_uri(model_uri)
        self.refresh_interval = refresh_interval
        # Resolved as every command resolves it; its client carries the Retry-After cap.
        self._registry = open_registry(TargetFlags(tracking_uri, registry_uri), None)
        self.tracking_uri = self._registry.target.tracking_uri
        self.registry_uri = self._registry.target.registry_uri
        self.checks = 0
        self.last_checked: datetime | None = None
        self.last_error: str | None = None
        self._root = Path(tempfile.mkdtemp(prefix="mlflow-gitops-serve-"))
        self._check_lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        try:
            self._current = self._load(self._resolve())
        except Exception as exc:
            shutil.rmtree(self._root, ignore_errors=True)
            raise ServingError(
                f"cannot serve {self.name}@{self.alias}: {_first_line(exc)}"
            ) from None
        self.last_checked = datetime.now(UTC)
        self._thread = threading.Thread(
            target=self._poll, name=f"follow {self.name}@{self.alias}", daemon=True
        )
        self._thread.start()

    @property
    def version(self) -> str:
        return self._current.version

    @property
    def model_uri(self) -> str:
        """The concrete version being served, e.g. models:/bikes/2."""
        return f"models:/{self.name}/{self.version}"

    def current(self) -> LoadedVersion:
        """The version serving now; hold on to it to answer one request from one version."""
        return self._current

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predict with whichever version is current; safe from any number of threads."""
        return self._current.model.predict(data, params=params)

    def refresh(self) -> str:
        """Check the alias now (loading a new version if it moved); return the served version."""
        self._check()
        return self.version

    def refresh_soon(self) -> None:
        """Ask the background thread to check now, without waiting for it (for webhooks)."""
        self._wake.set()

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> AliasedModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self) -> dict[str, Any]:
        """What /health and /version report."""
        return {
            "model": self.name,
            "alias": self.alias,
            "version": self.version,
            "model_uri": self.model_uri,
            "last_checked": self.last_checked.isoformat() if self.last_checked else None,
            "checks": self.checks,
            "refresh_interval": self.refresh_interval,
            "last_error": self.last_error,
        }

    def _poll(self) -> None:
        while True:
            self._wake.wait(self.refresh_interval)
            self._wake.clear()
            if self._closing:
                return
            self._check()

    def _check(self) -> None:
        """One registry call; a download and load only when the alias points elsewhere."""
        with self._check_lock:
            self.checks += 1  # counted first: whoever sees a new version also sees its check
            try:
                wanted = self._resolve()
                checked_at = datetime.now(UTC)
                if wanted != self._current.version:
                    self._swap_to(wanted, checked_at)
                else:
                    self.last_error = None
                self.last_checked = checked_at
            except Exception as exc:  # keep serving; the next check retries
                self.last_error = _first_line(exc)
                log.warning("%s@%s: %s", self.name, self.alias, self.last_error)

    def _swap_to(self, version: str, checked_at: datetime) -> None:
        loaded = self._load(version)
        # Status first: whoever sees the new version also sees the check that found it.
        self.last_checked, self.last_error = checked_at, None
        previous, self._current = self._current, loaded
        log.info("%s@%s: now serving version %s", self.name, self.alias, version)
        # In-flight predictions still hold the old model object; its files are no longer read.
        shutil.rmtree(previous.folder, ignore_errors=True)

    def _resolve(self) -> str:
        with translated(self._registry.target):
            found = self._registry.client.get_model_version_by_alias(self.name, self.alias)
        return str(found.version)

    def _load(self, version: str) -> LoadedVersion:
        """Download by version, not alias: the alias may move again while we load."""
        import mlflow

        folder = Path(tempfile.mkdtemp(prefix=f"v{version}-", dir=self._root))
        try:
            # Resolved through our client: a models:/ URI would use MLflow's global registry.
            with translated(self._registry.target):
                client = self._registry.client
                source = client.get_model_version_download_uri(self.name, version)
            local = mlflow.artifacts.download_artifacts(
                source, dst_path=str(folder), tracking_uri=self.tracking_uri
            )
            model = mlflow.pyfunc.load_model(local)
        except Exception as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise ServingError(f"version {version} failed to load: {_first_line(exc)}") from exc
        return LoadedVersion(version=version, model=model, folder=folder)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return redact(line)


def _error(status: int, message: str, code: str = "BAD_REQUEST") -> JSONResponse:
    from starlette.responses import JSONResponse

    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def scoring_app(served: AliasedModel, webhook_secret: str | None = None) -> Starlette:
    """MLflow's scoring protocol over the current version, plus status and the webhook.

    `/invocations` calls `mlflow.pyfunc.scoring_server.invocations`, the function behind
    `mlflow models serve`, with the version current at arrival: same formats, same answers.
    """
    from mlflow.exceptions import MlflowException
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def status(request: Request) -> Response:
        return JSONResponse(served.status())

    def score(data: bytes, content_type: str) -> Response:
        current = served.current()
        try:
            result = mlflow_private.invocations(data, content_type, current.model)
        except MlflowException as exc:  # bad input: MLflow's message, without its traceback
            http_status = exc.get_http_status_code()
            return _error(http_status if http_status < 500 else 400, exc.message, exc.error_code)
        except RecursionError:  # json.loads on `[[[[...` 100,000 deep: the input, not a bug
            return _error(400, "the input is nested too deeply")
        headers = {"X-Model-Version": current.version}
        return Response(result.response, result.status, headers, media_type=result.mimetype)

    async def invocations(request: Request) -> Response:
        body = await request.body()
        return await run_in_threadpool(score, body, request.headers.get("content-type", ""))

    deliveries = RecentDeliveries()

    async def webhook(request: Request) -> Response:
        unsigned = _error(401, "missing or invalid X-MLflow-Signature", "UNAUTHENTICATED")
        if not webhook_secret or (signed := signed_headers(request.headers)) is None:
            return unsigned  # before reading a byte of the body
        body = await _body_up_to(request, MAX_WEBHOOK_BODY_BYTES)
        if body is None:
            message = f"webhook body over {MAX_WEBHOOK_BODY_BYTES} bytes"
            return _error(413, message, "REQUEST_TOO_LARGE")
        if not signature_is_valid(webhook_secret, request.headers, body):
            return unsigned
        if not deliveries.first_time(signed.delivery_id, int(signed.timestamp)):
            return _error(409, "this delivery was already received", "ALREADY_RECEIVED")
        try:
            payload = json.loads(body)
        except ValueError:
            return _error(400, "webhook body is not JSON")
        triggered = concerns(payload, served.name, served.alias)
        if triggered:
            served.refresh_soon()
        return JSONResponse({"refresh": triggered})

    routes = [Route(path, status, methods=["GET"]) for path in ("/ping", "/health", "/version")]
    routes.append(Route("/invocations", invocations, methods=["POST"]))
    if webhook_secret:
        routes.append(Route("/webhook", webhook, methods=["POST"]))
    return Starlette(routes=routes)


async def _body_up_to(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class _StderrHandler(logging.Handler):
    """A long-running server logs; through output.err, so the log is redacted like all else."""

    def emit(self, record: logging.LogRecord) -> None:
        err(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} {record.levelname} {self.format(record)}")


def serve(
    model_uri: str,
    *,
    host: str,
    port: int,
    refresh_interval: float,
    tracking_uri: str,
    registry_uri: str,
    webhook_secret: str | None = None,
) -> int:
    """Serve until SIGTERM or Ctrl-C: then stop accepting, finish in-flight requests, return 0."""
    import uvicorn

    log.addHandler(_StderrHandler())
    log.setLevel(logging.INFO)
    served = AliasedModel(
        model_uri, refresh_interval, tracking_uri=tracking_uri, registry_uri=registry_uri
    )
    log.info(
        "serving %s@%s version %s on http://%s:%d%s",
        served.name,
        served.alias,
        served.version,
        host,
        port,
        " (webhook at /webhook)" if webhook_secret else "",
    )
    # uvicorn shuts down gracefully on SIGTERM or Ctrl-C, then re-raises the signal; handlers
    # that return make that a normal exit 0 instead of a kill or click's "aborted".
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        config = uvicorn.Config(
            scoring_app(served, webhook_secret),
            host=host,
            port=port,
            access_log=False,
            log_level="info",
            timeout_graceful_shutdown=30,
        )
        uvicorn.Server(config).run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        served.close()
    return 0

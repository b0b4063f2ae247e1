"""MLflow's failures translated into the few kinds a user can act on, one line each."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from controller.errors import (
    ModelNotFound,
    RegistryError,
    RegistryPermissionDenied,
    RegistryUnreachable,
)
from controller.output import redact
from controller.target import RegistryTarget

CREDENTIAL_VARIABLES = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
)
# An error message is cut here: MLflow echoes whole filters, which run to many kilobytes.
MAX_MESSAGE_CHARS = 300
# urllib3's words for a status that was still failing when the retries ran out.
_RETRIED_STATUS = re.compile(r"too many (\d{3}) error responses")
_STATUS_IN_TEXT = re.compile(r"error code (\d{3})")
# No connection at all: refused, timed out, or no such host. Only these stop further writes.
_UNREACHABLE = (
    "connection refused",
    "failed to establish a new connection",
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "timed out",
    "timeout",
)
# A connection that broke mid-exchange: the server may or may not have acted on the request.
_BROKEN = ("connection reset", "connection aborted", "remotedisconnected", "incompleteread")

# What MLflow 2.x servers answer (HTTP 400) to `name IN (...)` in a search filter.
_NAME_LISTS_REJECTED = "only the 'run_id' attribute supports comparison with a list"


def rejects_name_lists(error: Exception) -> bool:
    """Whether a search failed because this server takes one name per filter (MLflow 2.x)."""
    return _NAME_LISTS_REJECTED in str(error).lower()


def first_line(text: str) -> str:
    """The message's first line, redacted and cut short: never a whole echoed filter."""
    line = redact(text.strip().splitlines()[0] if text.strip() else text)
    if len(line) <= MAX_MESSAGE_CHARS:
        return line
    return f"{line[:MAX_MESSAGE_CHARS]}... ({len(line) - MAX_MESSAGE_CHARS} more characters)"


def credentials_hint() -> str:
    """Where the credentials come from and which of those variables are set (never a value):
    a 401 or 403 is most often a missing or wrong one."""
    given = [name for name in CREDENTIAL_VARIABLES if os.environ.get(name)]
    now = f"set: {', '.join(given)}" if given else "none of them is set"
    return (
        "; credentials come from MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and "
        f"MLFLOW_TRACKING_PASSWORD ({now})"
    )


def _http_status(exc: Exception, message: str) -> int | None:
    found = _RETRIED_STATUS.search(message) or _STATUS_IN_TEXT.search(message)
    if found:
        return int(found.group(1))
    if getattr(exc, "error_code", None) and hasattr(exc, "get_http_status_code"):
        return int(exc.get_http_status_code())
    return None


def translate(exc: Exception, target: RegistryTarget, operation: str) -> RegistryError:
    """Map MLflow/requests failures onto the few kinds a user can act on, naming the operation
    (for writes; reads leave it empty) and the HTTP status, so a failure says what and how."""
    where = redact(target.registry_uri)
    lead = f"{operation}: " if operation else ""
    error_code = str(getattr(exc, "error_code", ""))
    message = str(exc)
    lowered = message.lower()
    status = _http_status(exc, message)
    if (
        error_code in ("PERMISSION_DENIED", "UNAUTHENTICATED")
        or status in (401, 403)
        or "permission denied" in lowered
    ):
        hint = credentials_hint() if status == 401 or not operation else ""
        return RegistryPermissionDenied(
            f"{lead}permission denied by the MLflow registry at {where}"
            f"{f' (HTTP {status})' if status else ''}: {first_line(message)}{hint}"
        )
    if error_code == "RESOURCE_DOES_NOT_EXIST":
        return ModelNotFound(first_line(message))
    if _RETRIED_STATUS.search(message) and status is not None:
        return RegistryError(f"{lead}HTTP {status} from the MLflow registry at {where}")
    if any(marker in lowered for marker in _BROKEN):
        return RegistryError(
            f"{lead}the connection to the MLflow registry at {where} broke before a reply"
        )
    if any(marker in lowered for marker in _UNREACHABLE) or "max retries exceeded" in lowered:
        return RegistryUnreachable(f"{lead}cannot reach the MLflow registry at {where}")
    code = f"HTTP {status} from " if status else ""
    return RegistryError(f"{lead}{code}MLflow registry at {where}: {first_line(message)}")


@contextmanager
def translated(target: RegistryTarget, operation: str = "") -> Iterator[None]:
    """Any failure inside becomes one of our RegistryErrors (MLflow raises many types)."""
    try:
        yield
    except RegistryError:
        raise
    except Exception as exc:
        raise translate(exc, target, operation) from None

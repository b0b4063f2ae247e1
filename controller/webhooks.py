"""Signed webhooks, verified before they are believed: MLflow's alias events (for `serve` and
the controller) and a git host's push hook (GitHub's `X-Hub-Signature-256`, for the controller).

Pure: headers and bytes in, verdicts out; the HTTP servers read the body and answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# MLflow's webhook headers (mlflow/webhooks/constants.py) and its Standard-Webhooks-style scheme.
SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
# A signed call older (or newer) than this is a replay, not a delivery.
WEBHOOK_TOLERANCE_S = 300
# An alias event is a few hundred bytes; a larger body is refused before it is read whole.
MAX_WEBHOOK_BODY_BYTES = 1024 * 1024
# Delivery ids remembered within the tolerance window, so a captured call is accepted once.
MAX_REMEMBERED_DELIVERIES = 10_000
MAX_DELIVERY_ID_CHARS = 256
ALIAS_EVENTS = {("model_version_alias", "created"), ("model_version_alias", "deleted")}


@dataclass(frozen=True)
class SignedHeaders:
    """MLflow's three webhook headers, well-formed and on time; the body is not read yet."""

    delivery_id: str
    timestamp: str
    signature: str


def signed_headers(headers: Mapping[str, str], now: float | None = None) -> SignedHeaders | None:
    """The signature headers if present, well-formed and within the tolerance window: checked
    before the body is read, so an unsigned caller cannot make us read anything."""
    lowered = {key.lower(): value for key, value in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER.lower(), "")
    delivery_id = lowered.get(DELIVERY_ID_HEADER.lower(), "")
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    version, _, given = signature.partition(",")
    if version != SIGNATURE_VERSION or not given or not timestamp.isdigit():
        return None
    if not 0 < len(delivery_id) <= MAX_DELIVERY_ID_CHARS:
        return None
    if abs((time.time() if now is None else now) - int(timestamp)) > WEBHOOK_TOLERANCE_S:
        return None
    return SignedHeaders(delivery_id, timestamp, given)


def signature_is_valid(
    secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> bool:
    """MLflow's webhook signature: base64 HMAC-SHA256 of `delivery_id.timestamp.body`, as
    `v1,<sig>`, with a timestamp close to now so a captured call cannot be replayed later."""
    signed_by = signed_headers(headers, now)
    if signed_by is None:
        return False
    delivery_id, timestamp, given = signed_by.delivery_id, signed_by.timestamp, signed_by.signature
    signed = delivery_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(expected).decode(), given)


class RecentDeliveries:
    """Delivery ids accepted within the replay window: the same signed call counts once.

    An id is forgotten once its timestamp leaves the window (the signature check refuses it
    then anyway); past MAX_REMEMBERED_DELIVERIES, the oldest go first, so memory stays bounded.
    """

    def __init__(self, limit: int = MAX_REMEMBERED_DELIVERIES) -> None:
        self.limit = limit
        self._expiry: dict[str, float] = {}  # in insertion order

    def first_time(self, delivery_id: str, timestamp: int, now: float | None = None) -> bool:
        moment = time.time() if now is None else now
        self._expiry = {d: t for d, t in self._expiry.items() if t >= moment}
        if delivery_id in self._expiry:
            return False
        while len(self._expiry) >= self.limit:
            del self._expiry[next(iter(self._expiry))]
        self._expiry[delivery_id] = timestamp + WEBHOOK_TOLERANCE_S
        return True


def concerns(payload: Any, name: str, alias: str) -> bool:
    """Does this webhook payload say our alias was set or deleted?"""
    return alias_event(payload) == (name, alias)


def alias_event(payload: Any) -> tuple[str, str] | None:
    """(model, alias) when this webhook payload says an alias was set or deleted, else None."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        return None
    data = payload["data"]
    name, alias = data.get("name"), data.get("alias")
    if (payload.get("entity"), payload.get("action")) not in ALIAS_EVENTS:
        return None
    if not isinstance(name, str) or not isinstance(alias, str):
        return None
    return name, alias


# GitHub's push hook (Argo CD's and Flux's receivers check the same header).
GITHUB_SIGNATURE_HEADER = "X-Hub-Signature-256"


def github_signature_is_valid(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """`sha256=<hex HMAC-SHA256 of the body>`, compared in constant time."""
    lowered = {key.lower(): value for key, value in headers.items()}
    given = lowered.get(GITHUB_SIGNATURE_HEADER.lower(), "")
    scheme, _, digest = given.partition("=")
    if scheme != "sha256" or not digest:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, digest.lower())

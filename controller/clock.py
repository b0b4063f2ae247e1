"""The clock gates and freeze windows read: $MLFLOW_GITOPS_NOW (ISO 8601) pins it."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from controller.errors import UsageError


def now() -> datetime:
    """The current time, or the pinned one (tests, and a re-run of yesterday's decision)."""
    pinned = os.environ.get("MLFLOW_GITOPS_NOW")
    if not pinned:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(pinned.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"MLFLOW_GITOPS_NOW={pinned!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

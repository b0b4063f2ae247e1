"""The owner a model's tags record, as tests read it back from the registry."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

OWNER_TAG = "mlflow-gitops.owner"
LAST_APPLIED_TAG = "mlflow-gitops.last-applied"


def recorded_owner(client: MlflowClient, model: str) -> str | None:
    """The owner apply recorded: the owner tag, or (a first apply writes only the record,
    issue 22) the last-applied record's."""
    tags = client.get_registered_model(model).tags
    if OWNER_TAG in tags:
        return tags[OWNER_TAG]
    return json.loads(tags[LAST_APPLIED_TAG])["owner"] if LAST_APPLIED_TAG in tags else None

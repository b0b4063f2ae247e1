"""Every use of MLflow's private API, in one file: what an MLflow upgrade may break.

Checked against mlflow and mlflow-skinny 3.17.x (pyproject pins `>=3.17,<3.18`).
tests/test_mlflow_private.py asserts that each name still exists with the shape used here, so
an upgrade that moves one fails there, loudly, rather than in a user's apply.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.pyfunc import PyFuncModel


def registry_client(client: MlflowClient) -> Any:
    """MLflow's registry client (`MlflowClient._get_registry_client`), for writes and
    per-version reads: `MlflowClient` checks before each of them that the model is not a
    prompt, one extra GET each. The plan found every model it touches through search, which
    does not return prompts, so the check is spent twice. (A test counts requests.)"""
    return client._get_registry_client()


def registry_store(client: MlflowClient) -> Any:
    """The registry client's store, for searches of registered models: the 3.x client adds
    `tag.`mlflow.prompt.is_prompt` != 'true'` to every such filter, which a server older than
    MLflow's prompts (2.9) answers with no models at all. Servers that have prompts leave them
    out of a registered-model search by themselves (a test checks it)."""
    return client._get_registry_client().store


def cap_retry_after(max_seconds: float) -> None:
    """MLflow builds urllib3's Retry (the name `Retry` in `mlflow.utils.request_utils`) without
    `retry_after_max`; give it one. Where urllib3 has no such parameter, Retry-After is not
    honoured at all rather than uncapped."""
    from mlflow.utils import request_utils

    honoured: Any = request_utils.Retry
    if getattr(honoured, "capped_at", None) == max_seconds:
        return
    if "retry_after_max" not in inspect.signature(honoured.__init__).parameters:
        os.environ.setdefault("MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER", "false")
        return

    class CappedRetry(honoured):
        capped_at = max_seconds

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("retry_after_max", max_seconds)
            super().__init__(*args, **kwargs)

    request_utils.Retry = CappedRetry  # type: ignore[misc]


def invocations(data: bytes, content_type: str, model: PyFuncModel) -> Any:
    """`mlflow.pyfunc.scoring_server.invocations`, the function behind `mlflow models serve`
    (not part of MLflow's documented API): same formats, same answers."""
    from mlflow.pyfunc import scoring_server

    return scoring_server.invocations(data, content_type, model, model.metadata.get_input_schema())


def pin_credentials(client: MlflowClient, host_creds: Callable[[], Any]) -> None:
    """Make `client` send `host_creds` instead of MLflow's process-wide credential variables.

    MLflow builds a REST store per URI with `get_default_host_creds`, which reads
    MLFLOW_TRACKING_TOKEN and friends from the environment on every request; a source registry
    has credentials of its own, and swapping the environment would race the other threads.
    So the client's tracking and registry stores (the `store` properties of
    `MlflowClient._tracking_client` and of its registry client) are replaced by REST stores
    built with `host_creds`.
    """
    from mlflow.store.model_registry.rest_store import RestStore as RegistryRestStore
    from mlflow.store.tracking.rest_store import RestStore as TrackingRestStore

    for owner, store in (
        (client._tracking_client, TrackingRestStore(host_creds)),
        (client._get_registry_client(), RegistryRestStore(host_creds)),
    ):
        pinned = type(f"Pinned{type(owner).__name__}", (type(owner),), {"store": store})
        owner.__class__ = pinned

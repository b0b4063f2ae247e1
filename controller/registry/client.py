"""The connection to one registry: process settings, the Retry-After cap, and the one place
an `MlflowClient` is made.

mlflow is imported lazily (it takes about 2 s), so commands that never touch the registry
stay fast.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controller.errors import RegistryError
from controller.output import redact, remember_uri_credentials
from controller.registry import mlflow_private
from controller.registry.errors import translated
from controller.target import (
    EMBEDDED_EXTRA,
    RegistryTarget,
    is_server,
    is_sql_store,
    require_existing_store,
    require_supported_uri,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

NAMES_PER_SEARCH = 100
# MLflow's own HTTP layer (urllib3's Retry) retries resets, timeouts and 408/429/500/502/503/
# 504 with exponential backoff and jitter, honouring Retry-After; by default for minutes. The
# CLI bounds it: 3 attempts of at most 5 s each, backoff sleeps 0 s then 2 s plus up to 0.5 s
# jitter each, so one request gives up within 18 s. A server's Retry-After replaces a backoff
# sleep, honoured up to RETRY_AFTER_MAX_S (urllib3's own cap is 6 hours, and MLflow sets none,
# so one `Retry-After: 3600` would hold a CI job for an hour): within 25 s then.
# Users can still override these through MLflow's own environment variables.
FAST_FAIL_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}
RETRY_AFTER_MAX_S = 5
NOISY_LOGGERS = ("mlflow", "urllib3", "alembic")


class _Process:
    """What the entry point asked of this process; read when mlflow is first used."""

    cap_retry_after = False


def configure_process() -> None:
    """Fail fast and quietly: for the CLI's process only, never imposed on a library caller.

    MLflow reads its retry settings from the environment on each request, so there is no
    client parameter to pass them through. The Retry-After cap is applied when a registry
    client is first made, so the offline commands never import mlflow.
    """
    for name, value in FAST_FAIL_DEFAULTS.items():
        os.environ.setdefault(name, value)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.ERROR)
    _Process.cap_retry_after = True


def require_sql_store_support(target: RegistryTarget) -> None:
    """mlflow-skinny talks to servers only; a database URI needs the extra with full mlflow.

    Checked before MLflow is imported, so the user reads what to install, not MLflow's
    "unsupported URI" list of schemes.
    """
    for uri in dict.fromkeys((target.registry_uri, target.tracking_uri)):
        if is_sql_store(uri) and importlib.util.find_spec("sqlalchemy") is None:
            raise RegistryError(
                f"the registry {redact(uri)} is a database, which needs full MLflow: "
                f"install {EMBEDDED_EXTRA}, or point --tracking-uri at an MLflow server"
            )


@dataclass(frozen=True)
class Credentials:
    """A registry's own credentials (a copy's source), used instead of MLflow's variables."""

    token: str | None = None
    username: str | None = None
    password: str | None = None


class Connection:
    """A lazily made client for one registry, and the translation of its failures."""

    def __init__(
        self,
        target: RegistryTarget,
        names_per_search: int = NAMES_PER_SEARCH,
        *,
        may_create: bool = False,
        credentials: Credentials | None = None,
    ) -> None:
        self.target = target
        self.names_per_search = names_per_search
        # Only apply against the embedded default may create a local store; reads never do.
        self.may_create = may_create
        # None: MLflow's own credential variables, as for the registry a command works on.
        self.credentials = credentials
        for uri in (target.tracking_uri, target.registry_uri):  # a server may echo them
            remember_uri_credentials(uri)
        self._client: MlflowClient | None = None
        # Whether the server's searches accept `name IN (...)`: unknown until the first one.
        # MLflow 2.x servers answer it with HTTP 400; reads.py then searches by single names.
        self.takes_name_lists: bool | None = None
        # Whether this registry finds owners in last-applied records (reads.read_owned), so a
        # first apply may record the owner there alone; until a search shows it, it may not.
        self.owner_in_record = False
        # Whether its versions search leaves tags out: unknown until a probe (facts.py) asks.
        self.search_omits_tags: bool | None = None

    def host_creds(self) -> Any:
        """What each REST request to this registry's server sends."""
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import MlflowHostCreds

        uri = self.target.tracking_uri
        if self.credentials is None:
            return get_default_host_creds(uri)
        own = self.credentials
        return MlflowHostCreds(
            host=uri, token=own.token, username=own.username, password=own.password
        )

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            require_supported_uri(self.target)
            require_sql_store_support(self.target)
            require_existing_store(self.target, may_create=self.may_create)
            with self._errors(""):
                if _Process.cap_retry_after:
                    mlflow_private.cap_retry_after(RETRY_AFTER_MAX_S)
                from mlflow import MlflowClient

                client = MlflowClient(
                    tracking_uri=self.target.tracking_uri,
                    registry_uri=self.target.registry_uri,
                )
                # Credentials are a server's; a database or folder registry has none to send.
                if self.credentials is not None and is_server(self.target.tracking_uri):
                    mlflow_private.pin_credentials(client, self.host_creds)
                self._client = client
        return self._client

    @property
    def _registry_client(self) -> Any:
        return mlflow_private.registry_client(self.client)

    def _errors(self, operation: str = "") -> AbstractContextManager[None]:
        return translated(self.target, operation)

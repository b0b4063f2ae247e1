"""Which registry a command talks to, and why: flag, MLflow's environment, manifest, default.

A manifest that names one registry while the shell names another is refused rather than
silently overridden; the embedded default is used only when nothing names a registry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from controller.errors import RegistryError, TargetConflict
from controller.output import redact
from controller.values import RegistrySource

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
# The schemes MLflow serves from its SQL store (sqlalchemy, alembic): full mlflow, not skinny.
SQL_STORE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
EMBEDDED_EXTRA = "mlflow-gitops[embedded]"


@dataclass(frozen=True)
class TargetFlags:
    """The registry the command line names, if any."""

    tracking_uri: str | None = None
    registry_uri: str | None = None


@dataclass(frozen=True)
class RegistryTarget:
    tracking_uri: str
    registry_uri: str
    # Where registry_uri came from; what every output names next to it.
    source: RegistrySource = "--tracking-uri"

    @property
    def is_default(self) -> bool:
        return self.source == "default"


def _same(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _refuse_conflict(manifest_uri: str | None, variable: str, manifest_path: str) -> None:
    value = os.environ.get(variable)
    if manifest_uri and value and not _same(manifest_uri, value):
        raise TargetConflict(
            f"{manifest_path} declares tracking_uri {redact(manifest_uri)} but {variable} is "
            f"{redact(value)}; pass --tracking-uri to choose one"
        )


def resolve_target(
    flags: TargetFlags, manifest_uri: str | None, manifest_path: str = "the manifest"
) -> RegistryTarget:
    """Flag, then MLflow's environment variable, then the manifest, then the embedded default.

    The environment and the manifest naming different registries is a conflict only a flag
    settles: either could be the stale one.
    """
    if not flags.tracking_uri:
        _refuse_conflict(manifest_uri, "MLFLOW_TRACKING_URI", manifest_path)
        if not flags.registry_uri:
            _refuse_conflict(manifest_uri, "MLFLOW_REGISTRY_URI", manifest_path)
    env_tracking = os.environ.get("MLFLOW_TRACKING_URI")
    tracking_source: RegistrySource
    if flags.tracking_uri:
        tracking, tracking_source = flags.tracking_uri, "--tracking-uri"
    elif env_tracking:
        tracking, tracking_source = env_tracking, "MLFLOW_TRACKING_URI"
    elif manifest_uri:
        tracking, tracking_source = manifest_uri, "manifest"
    else:
        tracking, tracking_source = DEFAULT_TRACKING_URI, "default"
    env_registry = os.environ.get("MLFLOW_REGISTRY_URI")
    if flags.registry_uri:
        return RegistryTarget(tracking, flags.registry_uri, "--registry-uri")
    if env_registry:
        return RegistryTarget(tracking, env_registry, "MLFLOW_REGISTRY_URI")
    return RegistryTarget(tracking, tracking, tracking_source)


# What a registry URI may start with: an MLflow server, a local folder, or a database.
SERVER_SCHEMES = ("http", "https")
LOCAL_SCHEMES = ("file", "")
DATABRICKS = ("databricks", "databricks-uc")


def _scheme(uri: str) -> str:
    """`https`, `postgresql` (from `postgresql+psycopg2`), or '' for a plain path."""
    return uri.split(":", 1)[0].split("+", 1)[0].lower() if "://" in uri or ":" in uri else ""


def require_supported_uri(target: RegistryTarget) -> None:
    """One clear line for a registry this tool cannot talk to, before MLflow answers with
    an HTTP 400 (`htp://…`) or reads `databricks-uc` as a file name."""
    for uri in dict.fromkeys((target.registry_uri, target.tracking_uri)):
        scheme = _scheme(uri)
        if scheme in DATABRICKS or uri.lower() in DATABRICKS:
            raise RegistryError(
                f"{redact(uri)}: Databricks registries (workspace and Unity Catalog) are not "
                "supported yet; see docs/reference.md (Registries that are not supported)"
            )
        if scheme not in (*SERVER_SCHEMES, *LOCAL_SCHEMES, *SQL_STORE_SCHEMES):
            raise RegistryError(
                f"{redact(uri)}: unknown registry URI scheme {scheme!r}; use an MLflow server "
                "(http:// or https://), a local folder (file:) or a database (sqlite:///…, "
                "postgresql://…)"
            )


def local_store_path(uri: str) -> Path | None:
    """The file or folder a local store URI lives in; None for servers and in-memory stores."""
    parts = urlsplit(uri)
    if parts.scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute.db (SQLAlchemy's form).
        rest = uri.split("://", 1)[1].split("?", 1)[0]
        path = rest[1:] if rest.startswith("/") else rest
        return None if path in ("", ":memory:") else Path(path)
    if parts.scheme == "file":
        return Path(parts.path)
    if parts.scheme == "" and uri:
        return Path(uri)
    return None


def require_existing_store(target: RegistryTarget, *, may_create: bool) -> None:
    """Refuse a local store that is not there, before MLflow would create it to answer.

    MLflow creates a SQLite database (and its folder) on first contact, so a typo in a URI
    would otherwise leave a fresh, empty registry behind and report every model missing.
    """
    if may_create:
        return
    for uri in dict.fromkeys((target.registry_uri, target.tracking_uri)):
        path = local_store_path(uri)
        if path is not None and not path.exists():
            raise RegistryError(
                f"no registry at {redact(uri)} ({path} does not exist); check --tracking-uri, "
                "MLFLOW_TRACKING_URI or the manifest's tracking_uri"
            )


def is_server(uri: str) -> bool:
    """`http://…`, `https://…`: an MLflow server, which takes credentials."""
    return _scheme(uri) in SERVER_SCHEMES


def is_sql_store(uri: str) -> bool:
    """`sqlite:///mlflow.db`, `postgresql+psycopg2://…`: a database MLflow opens itself."""
    return _scheme(uri) in SQL_STORE_SCHEMES

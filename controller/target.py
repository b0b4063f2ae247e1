"""Which registry a command talks to, and why: flag, MLflow's environment, manifest, default."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


@dataclass(frozen=True)
class TargetFlags:
    """The registry the command line names, if any."""

    tracking_uri: str | None = None
    registry_uri: str | None = None


@dataclass(frozen=True)
class RegistryTarget:
    tracking_uri: str
    registry_uri: str


def resolve_target(flags: TargetFlags, manifest_uri: str | None) -> RegistryTarget:
    """Flag, then MLflow's environment variable, then the manifest, then the embedded default."""
    tracking = (
        flags.tracking_uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or manifest_uri
        or DEFAULT_TRACKING_URI
    )
    registry = flags.registry_uri or os.environ.get("MLFLOW_REGISTRY_URI") or tracking
    return RegistryTarget(tracking_uri=tracking, registry_uri=registry)


def ui_base(registry_uri: str) -> str | None:
    """The MLflow UI behind an http(s) registry URI, without any `user:password@`."""
    parts = urlsplit(registry_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))

"""Which registry a command talks to, and why: flag, MLflow's environment, manifest, default."""

from __future__ import annotations

import os
from dataclasses import dataclass

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

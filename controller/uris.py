"""Where the registry is, and how to print that without leaking credentials."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
# MLflow's own credential variables: the only place credentials come from.
SECRET_ENV_VARS = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", "GITHUB_TOKEN", "GH_TOKEN")
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
# An Authorization header a server echoes back: Basic is just base64 of user:password.
_AUTH_HEADER = re.compile(r"\b(?P<kind>Basic|Bearer) [A-Za-z0-9+/=._~-]{8,}")


@dataclass(frozen=True)
class RegistryTarget:
    tracking_uri: str
    registry_uri: str


def resolve_target(
    tracking_flag: str | None, registry_flag: str | None, manifest_uri: str | None
) -> RegistryTarget:
    """Flag, then MLflow's environment variable, then the manifest, then the embedded default."""
    tracking = (
        tracking_flag
        or os.environ.get("MLFLOW_TRACKING_URI")
        or manifest_uri
        or DEFAULT_TRACKING_URI
    )
    registry = registry_flag or os.environ.get("MLFLOW_REGISTRY_URI") or tracking
    return RegistryTarget(tracking_uri=tracking, registry_uri=registry)


def redact(text: str) -> str:
    """Blank `user:pass@` in URIs, echoed Authorization headers, and known secret values."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}***@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['kind']} ***", text)
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text

"""All terminal output goes through here, redacted, so nothing prints a secret by accident."""

from __future__ import annotations

import os
import re
import sys

# Credential variables: the only place credentials come from; their values never reach output.
SECRET_ENV_VARS = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "MLFLOW_GITOPS_WEBHOOK_SECRET",
)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
# An Authorization header a server echoes back: Basic is just base64 of user:password.
_AUTH_HEADER = re.compile(r"\b(?P<kind>Basic|Bearer) [A-Za-z0-9+/=._~-]{8,}")


def redact(text: str) -> str:
    """Blank `user:pass@` in URIs, echoed Authorization headers, and known secret values."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}***@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['kind']} ***", text)
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def out(text: str) -> None:
    """Write a result to stdout (redacted)."""
    sys.stdout.write(redact(text).rstrip("\n") + "\n")


def err(text: str) -> None:
    """Write a diagnostic to stderr (redacted)."""
    sys.stderr.write(redact(text).rstrip("\n") + "\n")

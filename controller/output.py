"""All terminal output goes through here, redacted and with control characters escaped, so
nothing prints a secret, or lets a registry value rewrite the screen, by accident."""

from __future__ import annotations

import base64
import os
import re
import sys
from urllib.parse import unquote, urlsplit

from controller.render.sanitize import escape_text, without_workflow_commands
from controller.uris import USERINFO, without_userinfo

# Every credential variable MLflow (and the Databricks SDK it uses) or the workflow reads: their
# values never reach output, whatever their length. MLFLOW_TRACKING_USERNAME is not a secret
# (and blanking a short user name everywhere would garble the output); user:password together is.
SECRET_ENV_VARS = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "DATABRICKS_TOKEN",
    "DATABRICKS_PASSWORD",
    "DATABRICKS_CLIENT_SECRET",
    "DATABRICKS_REFRESH_TOKEN",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "MLFLOW_GITOPS_WEBHOOK_SECRET",
    "MLFLOW_GITOPS_GIT_HOOK_SECRET",
)
# An Authorization header a server echoes back: Basic is just base64 of user:password.
_AUTH_HEADER = re.compile(r"\b(?P<kind>Basic|Bearer)(?P<gap>\s+)[A-Za-z0-9+/=._~-]+")


# Credentials that arrived inside a URI (`user:password@host`): a server may echo them decoded;
# and whole values that are secrets themselves (a notification receiver's URL).
_REMEMBERED_SECRETS: set[str] = set()
# Shorter than this, a part of a secret URL is not blanked on its own: `/` or `/hook` would
# garble every output. The whole URL always is.
_MIN_SECRET_PART_CHARS = 8


def remember_uri_credentials(uri: str) -> None:
    """Treat the userinfo of a registry URI as secret wherever it shows up, not only in URIs."""
    found = USERINFO.match(uri)
    if not found or not found["userinfo"]:
        return
    userinfo = found["userinfo"]
    password = userinfo.partition(":")[2]
    _REMEMBERED_SECRETS.update({userinfo, base64.b64encode(userinfo.encode()).decode()})
    if password:
        _REMEMBERED_SECRETS.add(password)


def remember_secret(value: str) -> None:
    """Treat `value` as a secret wherever it shows up. A URL (a webhook's, whose path is the
    credential) also hides without its `user:password@`, its path and query alone, and its
    password decoded (it is sent decoded, as Basic auth)."""
    value = value.strip()
    if not value:
        return
    remember_uri_credentials(value)
    found = USERINFO.match(value)
    password = unquote(found["userinfo"].partition(":")[2]) if found else ""
    bare = without_userinfo(value)
    try:
        netloc = urlsplit(bare).netloc
    except ValueError:  # not a URL after all: the whole value is the secret
        netloc = ""
    path = bare.partition(netloc)[2] if netloc else ""
    parts = {value, bare, password, path if len(path) >= _MIN_SECRET_PART_CHARS else ""}
    _REMEMBERED_SECRETS.update(part for part in parts if part)


# A copy source's own credentials (registry/sources.py): MLFLOW_GITOPS_SOURCE_<NAME>_TRACKING_*.
SOURCE_CREDENTIAL = re.compile(
    r"MLFLOW_GITOPS_SOURCE_(?P<name>[A-Z0-9_]+)_TRACKING_(?P<what>TOKEN|PASSWORD)"
)


def _secret_values() -> list[str]:
    """Credential values from the environment, longest first (so none is left half-shown)."""
    values: set[str | None] = {os.environ.get(name) for name in SECRET_ENV_VARS}
    values.update(_REMEMBERED_SECRETS)
    pairs = [("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")]
    for name, value in os.environ.items():
        found = SOURCE_CREDENTIAL.fullmatch(name)
        if found:
            values.add(value)
            if found["what"] == "PASSWORD":
                pairs.append((name.removesuffix("PASSWORD") + "USERNAME", name))
    for user_variable, password_variable in pairs:
        user, password = os.environ.get(user_variable), os.environ.get(password_variable)
        if user and password:
            values.add(base64.b64encode(f"{user}:{password}".encode()).decode())
    return sorted((v for v in values if v), key=len, reverse=True)


def redact(text: str) -> str:
    """Blank URI userinfo, echoed Authorization credentials, and every credential value."""
    text = USERINFO.sub(lambda m: f"{m['scheme']}***@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['kind']}{m['gap']}***", text)
    for value in _secret_values():
        text = text.replace(value, "***")
    return text


def without_credentials(uri: str) -> str:
    """A registry URI fit to record in a plan and compare: no `user:pass@`, no secret value."""
    return redact(without_userinfo(uri))


def _shown(text: str) -> str:
    return escape_text(redact(text)).rstrip("\n") + "\n"


def out(text: str) -> None:
    """Write a result to stdout (redacted, controls escaped, no line a workflow command)."""
    sys.stdout.write(without_workflow_commands(_shown(text)))


def err(text: str) -> None:
    """Write a diagnostic to stderr (redacted, controls escaped, no line a workflow command:
    the Actions runner reads both streams)."""
    sys.stderr.write(without_workflow_commands(_shown(text)))


def workflow_commands(commands: str) -> None:
    """Write the tool's own workflow commands (annotations) to stdout, the one way to."""
    if commands:
        sys.stdout.write(_shown(commands))

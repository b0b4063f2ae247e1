"""Registry URIs as output shows them: without `user:password@`, and the MLflow UI behind one.

Pure string work, so renderers can name a registry; output.py also blanks the environment's
secret values in everything it writes.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# A URI's userinfo runs to the last `@` before the path: a raw `@` in a password is legal to
# requests, so stopping at the first one would show the rest of the password.
USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")


def without_userinfo(uri: str) -> str:
    """The URI with any `user:password@` (or the `***@` left by redaction) dropped."""
    return USERINFO.sub(lambda m: m["scheme"], uri)


def ui_base(registry_uri: str) -> str | None:
    """The MLflow UI behind an http(s) registry URI, without any `user:password@`."""
    parts = urlsplit(without_userinfo(registry_uri))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))

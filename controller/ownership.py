"""Which manifest manages a model: an identity that survives moving or re-cloning the checkout.

Pure: gitops.py reads the repository's remote and root; this module only turns them into a name.
"""

from __future__ import annotations

import re
from pathlib import Path

OWNER_TAG = "mlflow-gitops.owner"
# An explicit `name:`: enough for "team/models" or a derived "host/org/repo:registry.yaml",
# never a quote a tag filter would choke on.
NAME_PATTERN = r"^[A-Za-z0-9._/@+:-]+$"
# scheme://[user[:password]@]host[:port]/path, or scp-like [user@]host:path (git@github.com:a/b)
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?:[^/@]*@)?(?P<rest>.*)$")
_SCP = re.compile(r"^(?:[^/@:]+@)?(?P<host>[^/:]+):(?P<path>(?!/).*)$")


def remote_identity(url: str) -> str:
    """`github.com/acme/models` for any https, ssh or scp-style URL of that repository.

    Scheme, credentials, port-less user names and a trailing `.git` are dropped, so clones over
    https and ssh (and CI checkouts with a token) name the same repository the same way.
    """
    match = _URL.match(url)
    if match:
        rest = match["rest"] if match["scheme"] != "file" else "/" + match["rest"].lstrip("/")
    else:
        scp = _SCP.match(url)
        rest = f"{scp['host']}/{scp['path']}" if scp else url
    rest = rest.rstrip("/")
    return rest.removesuffix(".git")


def owner_identity(
    declared_name: str | None,
    remote_url: str | None,
    repo_root: str | None,
    path_in_repo: str | None,
    manifest_path: str,
) -> str:
    """The manifest's owner name: its `name:`, else remote + path, else folder + path."""
    if declared_name:
        identity = declared_name
    elif remote_url and path_in_repo:
        identity = f"{remote_identity(remote_url)}:{path_in_repo}"
    elif repo_root and path_in_repo:
        identity = f"{repo_root}:{path_in_repo}"
    else:
        identity = str(Path(manifest_path).resolve())
    return _filterable(identity)


def former_identities(
    declared_name: str | None,
    remote_url: str | None,
    repo_root: str | None,
    path_in_repo: str | None,
    manifest_path: str,
) -> frozenset[str]:
    """The identities a manifest without `name:` had before a remote was added (folder +
    path) or outside git (its file): a model one of them owns was this manifest's."""
    if declared_name:
        return frozenset()
    now = owner_identity(None, remote_url, repo_root, path_in_repo, manifest_path)
    before = {_filterable(str(Path(manifest_path).resolve()))}
    if repo_root and path_in_repo:
        before.add(_filterable(f"{repo_root}:{path_in_repo}"))
    return frozenset(before - {now})


def _filterable(identity: str) -> str:
    """A tag filter quotes the value and knows no escapes: keep out what it could not carry."""
    for char in "'\"\\\r\n":
        identity = identity.replace(char, f"%{ord(char):02X}")
    return identity

"""A model version's files, downloaded with one registry's own credentials, and their digest.

MLflow's artifact repositories read the process-wide credential variables; a source registry
has its own, so files behind a tracking server (`mlflow-artifacts:` URIs, which every server
that proxies artifacts hands out) are listed and fetched here over the same REST endpoints
MLflow's client uses, with the connection's credentials. Other stores (s3://, gs://, a path)
go through MLflow, with that store's own credentials from the environment.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from controller.errors import CopyError

ARTIFACTS_ENDPOINT = "/api/2.0/mlflow-artifacts/artifacts"
# A model's files: a copy refuses more rather than fill a CI runner's disk.
MAX_FILES = 10_000
CHUNK_BYTES = 1024 * 1024


def _download_with_mlflow(artifact_uri: str, tracking_uri: str, into: Path) -> Path:
    """Stores other than the server's own (s3://, file:...): MLflow's artifact code reads them."""
    from mlflow.artifacts import download_artifacts

    return Path(
        download_artifacts(artifact_uri=artifact_uri, dst_path=str(into), tracking_uri=tracking_uri)
    )


def download(
    artifact_uri: str, tracking_uri: str, host_creds: Callable[[], Any], into: Path
) -> Path:
    """Every file under `artifact_uri`, into `into`; returns the folder that holds them."""
    parts = urlsplit(artifact_uri)
    if parts.scheme != "mlflow-artifacts":
        return _download_with_mlflow(artifact_uri, tracking_uri, into)
    root = parts.path.strip("/")
    count = 0
    pending = [""]
    while pending:
        folder = pending.pop()
        for entry in _listing(host_creds, posixpath.join(root, folder) if folder else root):
            relative = posixpath.join(folder, entry["path"]) if folder else entry["path"]
            if entry.get("is_dir"):
                pending.append(relative)
                continue
            count += 1
            if count > MAX_FILES:
                raise CopyError(f"{artifact_uri} holds more than {MAX_FILES} files")
            _fetch(host_creds, posixpath.join(root, relative), into / relative)
    return into


def download_file(
    artifact_uri: str, tracking_uri: str, host_creds: Callable[[], Any], into: Path
) -> Path:
    """One file (an MLmodel, say), into `into`; returns its local path."""
    parts = urlsplit(artifact_uri)
    if parts.scheme != "mlflow-artifacts":
        return _download_with_mlflow(artifact_uri, tracking_uri, into)
    local = into / posixpath.basename(parts.path)
    _fetch(host_creds, parts.path.strip("/"), local)
    return local


def _checked_relative(path: str) -> str:
    """A listed name is the server's word: it may not climb out of the download folder."""
    if not path or path.startswith("/") or ".." in path.split("/") or "\\" in path:
        raise CopyError(f"refusing the artifact path {path!r}")
    return path


def _listing(host_creds: Callable[[], Any], path: str) -> list[dict[str, Any]]:
    from mlflow.utils.rest_utils import http_request

    response = http_request(host_creds(), ARTIFACTS_ENDPOINT, "GET", params={"path": path})
    _refuse_failure(response, path)
    files = response.json().get("files", [])
    return [{**entry, "path": _checked_relative(str(entry.get("path", "")))} for entry in files]


def _fetch(host_creds: Callable[[], Any], path: str, local: Path) -> None:
    from mlflow.utils.rest_utils import http_request

    local.parent.mkdir(parents=True, exist_ok=True)
    endpoint = f"{ARTIFACTS_ENDPOINT}/{quote(path)}"
    response = http_request(host_creds(), endpoint, "GET", stream=True)
    _refuse_failure(response, path)
    with local.open("wb") as out:
        for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
            out.write(chunk)


def _refuse_failure(response: Any, path: str) -> None:
    """An HTTP error as one line naming the file; the body is the server's, so it is cut."""
    if response.status_code >= 400:
        raise CopyError(f"HTTP {response.status_code} reading the artifact {path!r}")


def digest(folder: Path) -> str:
    """SHA-256 over every file's relative path and SHA-256, in path order: the same files give
    the same digest wherever they are stored."""
    total = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        one = hashlib.sha256()
        with path.open("rb") as data:
            for chunk in iter(lambda: data.read(CHUNK_BYTES), b""):
                one.update(chunk)
        total.update(f"{path.relative_to(folder).as_posix()}\0{one.hexdigest()}\n".encode())
    return total.hexdigest()

"""An optional cache of version signatures across runs, in `MLFLOW_GITOPS_CACHE_DIR`.

A version's `MLmodel` does not change once registered, so a plan need not download it again
for the changes it details. The key is the registry (without credentials), the model, the
version, its creation time and its source: a model deleted and registered again under the same
name is another entry. Only what a reviewer is shown comes from here, never what a gate judges
(`require_signature` always reads the file afresh), and a cached entry is registry data like
any other: parsed strictly, sanitised before output, and an unreadable one is a miss.

It also keeps which experiment each run read for evidence belongs to (a run never moves), per
registry: a version whose source does not name its experiment (an MLflow 3 `models:/m-…`
source) then has its run read in one search per experiment, not one `runs/get` each. A wrong
entry costs nothing but that: a run the search does not return is read alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

from pydantic import ValidationError

from controller.values import Signature

CACHE_DIR_VARIABLE = "MLFLOW_GITOPS_CACHE_DIR"
MAX_ENTRY_BYTES = 1_000_000
Entry = tuple[bool | None, Signature | None]


MAX_RUN_EXPERIMENTS = 100_000  # entries kept per registry; beyond, the file starts again
RUN_ID = re.compile(r"^[0-9a-f]{32}$")
EXPERIMENT_ID = re.compile(r"^[0-9]{1,30}$")


def cache_dir(kind: str = "signatures") -> Path | None:
    """The cache folder of one kind of entry the environment names, or None: no cache."""
    folder = os.environ.get(CACHE_DIR_VARIABLE)
    return Path(folder) / kind if folder else None


def _experiments_path(registry: str) -> Path | None:
    folder = cache_dir("experiments")
    if folder is None:
        return None
    return folder / f"{hashlib.sha256(registry.encode()).hexdigest()}.json"


def read_run_experiments(registry: str) -> dict[str, str]:
    """Run id -> experiment id, as kept for this registry; only entries shaped like MLflow's
    ids (a hand-edited or foreign file is a miss, never a filter)."""
    path = _experiments_path(registry)
    try:
        if path is None or path.stat().st_size > MAX_ENTRY_BYTES * 10:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        run: experiment
        for run, experiment in data.items()
        if isinstance(experiment, str) and RUN_ID.match(run) and EXPERIMENT_ID.match(experiment)
    }


def keep_run_experiments(registry: str, learned: dict[str, str]) -> None:
    """Add what this run learned; a cache that cannot be written is no error, only slower."""
    path = _experiments_path(registry)
    if path is None or not learned:
        return
    kept = read_run_experiments(registry)
    if len(kept) + len(learned) > MAX_RUN_EXPERIMENTS:
        kept = {}
    _write_json(path, kept | learned)


def entry_path(
    folder: Path, registry: str, model: str, version: int, created: int | None, source: str
) -> Path:
    """Where one version's entry is: a digest of everything that names that exact version."""
    key = json.dumps([registry, model, version, created, source])
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()}.json"


def read_entry(path: Path) -> Entry | None:
    """A cached signature, or None when there is none (or it is not one this tool wrote)."""
    try:
        if path.stat().st_size > MAX_ENTRY_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("has_signature") is not True:
            return (False, None) if data.get("has_signature") is False else None
        return True, Signature.model_validate(data["signature"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ValidationError):
        return None


def write_entry(path: Path, entry: Entry) -> None:
    """Keep a signature that was read (never an unreadable one); a cache that cannot be
    written is no error, only slower."""
    has_signature, signature = entry
    if has_signature is None:
        return
    data = {
        "has_signature": has_signature,
        "signature": signature.model_dump(mode="json") if signature else None,
    }
    _write_json(path, data)


def _write_json(path: Path, data: object) -> None:
    """Replace the file at once: a reader sees the old entry or the new, never half."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8"
        ) as file:
            json.dump(data, file)
        os.replace(file.name, path)

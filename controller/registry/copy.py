"""Copies of a version into this registry's model: lineage tags, finding, making, fingerprints.

A copy carries lineage tags naming where it came from (the source registry without
credentials, the model, the version) and the digest of its files. Tags are anyone's to write,
so they only say where to look: a copy is trusted after its files are read and match.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from controller.errors import CopyError, ModelNotFound
from controller.evidence import mlmodel_identity
from controller.registry.artifacts import digest, download
from controller.registry.client import Connection
from controller.registry.filters import filterable, paginate, quote
from controller.state import READY

COPY_TAG_PREFIX = "mlflow-gitops.copy."
REGISTRY_TAG = COPY_TAG_PREFIX + "registry"
MODEL_TAG = COPY_TAG_PREFIX + "model"
VERSION_TAG = COPY_TAG_PREFIX + "version"
SHA256_TAG = COPY_TAG_PREFIX + "sha256"
# Where a copy from another registry is logged (as an MLflow 3 logged model) before it is
# registered: a model version's files must live in a resource the server knows.
COPIES_EXPERIMENT = "mlflow-gitops-copies"
READY_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Lineage:
    """Where a copy comes from: what its tags say, and what it must match."""

    registry: str  # without credentials
    model: str
    version: int
    sha256: str

    def tags(self) -> dict[str, str]:
        return {
            REGISTRY_TAG: self.registry,
            MODEL_TAG: self.model,
            VERSION_TAG: str(self.version),
            SHA256_TAG: self.sha256,
        }


@dataclass(frozen=True)
class Fingerprint:
    """What a copy must share with its source: the files' digest, and the MLmodel's flavors and
    signature (compared also on their own, to say which differs)."""

    sha256: str
    flavors: Any
    signature: Any

    def mismatch(self, other: Fingerprint) -> str | None:
        if self.flavors != other.flavors:
            return "its MLmodel flavors differ from the source's"
        if self.signature != other.signature:
            return "its MLmodel signature differs from the source's"
        if self.sha256 != other.sha256:
            return f"its files' digest {other.sha256[:12]}… is not the source's {self.sha256[:12]}…"
        return None


def _mlmodel(folder: Path) -> tuple[Any, Any]:
    path = folder / "MLmodel"
    if not path.is_file():
        raise CopyError("the version's files hold no MLmodel file")
    found = mlmodel_identity(path.read_text(encoding="utf-8", errors="replace"))
    if found is None:
        raise CopyError("the version's MLmodel file is not a YAML mapping")
    return found


class Copies(Connection):
    """The reads and writes a copy needs, on one registry (the source's or the target's)."""

    def version_status(self, model: str, version: int) -> str:
        return self.read_version(model, version)[0]

    def read_version(self, model: str, version: int) -> tuple[str, list[str]]:
        """The version's status, and the aliases it holds now."""
        with self._errors():
            found = self._registry_client.get_model_version(model, str(version))
        return str(found.status), sorted(str(a) for a in (found.aliases or []))

    def alias_version(self, model: str, alias: str) -> int | None:
        """The version MODEL@ALIAS points at, or None when the model or the alias is absent
        (read from the model: MLflow answers a missing alias with a 400, not a 404)."""
        try:
            with self._errors():
                found = self._registry_client.get_registered_model(model)
        except ModelNotFound:
            return None
        version = (found.aliases or {}).get(alias)
        return None if version is None else int(version)

    def files(self, model: str, version: int, into: Path) -> tuple[Path, Fingerprint]:
        """Download the version's files (with this registry's own credentials) and fingerprint
        them."""
        with self._errors():
            uri = self._registry_client.get_model_version_download_uri(model, str(version))
            folder = download(uri, self.target.tracking_uri, self.host_creds, into)
        flavors, signature = _mlmodel(folder)
        return folder, Fingerprint(digest(folder), flavors, signature)

    def find_copies(self, model: str, lineage: Lineage) -> list[int]:
        """This model's READY versions whose tags claim this lineage, oldest first (unverified)."""
        if not filterable(model):
            return []
        search = partial(
            self.client.search_model_versions,
            filter_string=f"name = {quote(model)} AND tags.`{SHA256_TAG}` = '{lineage.sha256}'",
            max_results=1000,
        )
        wanted = lineage.tags()
        with self._errors():
            found = [
                int(v.version)
                for v in paginate(search)
                if v.name == model
                and str(v.status) == READY
                and all((v.tags or {}).get(k) == value for k, value in wanted.items())
            ]
        return sorted(found)

    def copy_within(self, model: str, source_model: str, version: int, lineage: Lineage) -> int:
        """A new version of `model` whose files are `source_model` v`version`'s: what
        `MlflowClient.copy_model_version` registers (a `models:/` source, the same run and
        logged model), but with the lineage tags instead of the source's own tags (which
        would bring its audit records along) and without its messages on stderr."""
        with self._errors(f"copy {source_model} v{version} to {model}"):
            found = self._registry_client.get_model_version(source_model, str(version))
            made = self._registry_client.create_model_version(
                name=model,
                source=f"models:/{source_model}/{version}",
                run_id=found.run_id or None,
                tags=lineage.tags(),
                model_id=found.model_id or None,
                await_creation_for=0,
            )
        return self._await_ready(model, int(made.version))

    def register_copy(self, model: str, folder: Path, lineage: Lineage) -> int:
        """A new version of `model` holding the files in `folder`, logged to this registry's
        artifact store as a logged model of the COPIES_EXPERIMENT experiment (MLflow refuses a
        version whose files are not in a run or a logged model it knows)."""
        client = self.client
        with self._errors(f"copy {lineage.model} v{lineage.version} to {model}"):
            experiment = client.get_experiment_by_name(COPIES_EXPERIMENT)
            experiment_id = (
                experiment.experiment_id
                if experiment is not None
                else client.create_experiment(COPIES_EXPERIMENT)
            )
            logged = client.create_logged_model(
                experiment_id=experiment_id,
                name=f"{model}-copy",
                tags={REGISTRY_TAG: lineage.registry, MODEL_TAG: lineage.model},
            )
            client.log_model_artifacts(logged.model_id, str(folder))
            client.finalize_logged_model(logged.model_id, "READY")
            made = self._registry_client.create_model_version(
                name=model,
                source=logged.artifact_location,
                tags=lineage.tags(),
                model_id=logged.model_id,
                await_creation_for=0,
            )
        return self._await_ready(model, int(made.version))

    def _await_ready(self, model: str, version: int) -> int:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while (status := self.version_status(model, version)) != READY:
            if status == "FAILED_REGISTRATION" or time.monotonic() > deadline:
                raise CopyError(f"the copy {model} v{version} is {status}, not READY")
            time.sleep(0.2)
        return version

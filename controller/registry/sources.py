"""The registries a manifest copies versions from, each with its own credentials, and the two
steps of a copy: what plan finds (`resolve`) and what apply makes sure of (`ensure`).

A source's credentials come from MLFLOW_GITOPS_SOURCE_<NAME>_TRACKING_TOKEN, or
_TRACKING_USERNAME and _TRACKING_PASSWORD; never from MLflow's own variables, which belong
to the registry being written (and are never sent to a source).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from controller.errors import CopyError, ModelNotFound, RegistryError
from controller.output import redact, without_credentials
from controller.registry import Registry
from controller.registry.client import Credentials
from controller.registry.copy import Fingerprint, Lineage
from controller.state import READY
from controller.target import RegistryTarget
from controller.values import CopyRef


def credential_variable(source: str, what: str) -> str:
    """`MLFLOW_GITOPS_SOURCE_STAGING_TRACKING_TOKEN`: where a source's credential is read."""
    return f"MLFLOW_GITOPS_SOURCE_{source.upper()}_TRACKING_{what}"


def source_credentials(source: str) -> Credentials:
    """The source's own credentials; none set means no credentials, not the target's."""
    token, user, password = (
        os.environ.get(credential_variable(source, what)) or None
        for what in ("TOKEN", "USERNAME", "PASSWORD")
    )
    return Credentials(token=token, username=user, password=password)


def open_source(name: str, tracking_uri: str) -> Registry:
    """The registry a manifest names under `sources`, with that source's own credentials."""
    return Registry(
        RegistryTarget(tracking_uri, tracking_uri, "manifest"), credentials=source_credentials(name)
    )


class Sources:
    """The target registry and the sources it copies from, opened when first needed.

    Files are downloaded once per command (into a folder removed with this object), and a
    source version's fingerprint read once, however many aliases copy it.
    """

    def __init__(self, target: Registry, declared: Mapping[str, str]) -> None:
        self.target = target
        self.declared = dict(declared)  # name -> tracking URI, from the manifest
        self._opened: dict[str, Registry] = {}
        self._folder = tempfile.TemporaryDirectory(prefix="mlflow-gitops-copy-")
        self._fingerprints: dict[tuple[str | None, str, int], tuple[Path, Fingerprint]] = {}
        self._lock = threading.Lock()
        # One copy at a time per (model, source version): apply writes in parallel, and two
        # aliases declaring the same copy must find one copy, not make two.
        self._making: dict[tuple[str, str | None, str, int], threading.Lock] = {}
        # (model, alias) -> why a copy found by its tags is not trusted, for the plan's warnings
        self.warnings: dict[tuple[str, str], str] = {}

    def registry(self, source: str | None) -> Registry:
        if source is None:
            return self.target
        with self._lock:
            if source not in self._opened:
                self._opened[source] = open_source(source, self.declared[source])
            return self._opened[source]

    def where(self, source: str | None) -> str:
        """The source's URI as plans record and lineage tags carry it: no credentials."""
        registry = self.registry(source)
        return without_credentials(registry.target.registry_uri)

    def describe(self, source: str | None) -> str:
        if source is None:
            return "this registry"
        return f"source {source!r} ({redact(self.declared[source])})"

    def _source_files(self, ref: CopyRef) -> tuple[Path, Fingerprint]:
        return self._files(ref.source, ref.model, ref.version)

    def _files(self, source: str | None, model: str, version: int) -> tuple[Path, Fingerprint]:
        """A version's files and fingerprint, downloaded once per command (None: this
        registry's); a version made later has a new number, so it is read afresh."""
        key = (source, model, version)
        with self._lock:
            known = self._fingerprints.get(key)
        if known is not None:
            return known
        into = Path(tempfile.mkdtemp(dir=self._folder.name))
        found = self.registry(source).files(model, version, into)
        with self._lock:
            return self._fingerprints.setdefault(key, found)

    def _lineage(self, ref: CopyRef, fingerprint: Fingerprint) -> Lineage:
        return Lineage(self.where(ref.source), ref.model, ref.version, fingerprint.sha256)

    def _verified(self, model: str, version: int, wanted: Fingerprint) -> str | None:
        """Why this model's version is not a faithful copy, or None when it is."""
        return wanted.mismatch(self._files(None, model, version)[1])

    def _trusted_copy(
        self, model: str, ref: CopyRef, wanted: Fingerprint
    ) -> tuple[int | None, str | None]:
        """The oldest copy whose files match, and why others claiming the lineage do not."""
        distrust = []
        for version in self.target.find_copies(model, self._lineage(ref, wanted)):
            why = self._verified(model, version, wanted)
            if why is None:
                return version, None
            distrust.append(
                f"{model} v{version} carries the lineage tags of {ref.named()} but {why}"
            )
        return None, "; ".join(distrust) or None

    def resolve(
        self, model: str, alias: str, source: str | None, source_model: str, version: int
    ) -> CopyRef | str:
        """For plan: the declared copy, with this model's verified copy if there is one; or,
        as a plan problem, why it cannot be planned (the source named)."""
        ref = CopyRef(
            source=source,
            registry=self.where(source) if source else None,
            model=source_model,
            version=version,
        )
        where = self.describe(source)
        try:
            status, aliases = self.registry(source).read_version(source_model, version)
        except ModelNotFound:
            return f"copy: version {version} of model {source_model!r} does not exist in {where}"
        except RegistryError as exc:
            return f"copy: cannot read {ref.named()} from {where}: {exc}"
        if status != READY:
            return f"copy: {ref.named()} in {where} is {status}, not {READY}"
        try:
            _, wanted = self._source_files(ref)
        except (RegistryError, CopyError) as exc:
            return f"copy: cannot read the files of {ref.named()} from {where}: {exc}"
        local, distrust = self._trusted_copy(model, ref, wanted)
        if distrust:
            self.warnings[(model, alias)] = f"not trusted as a copy: {distrust}"
        return ref.model_copy(update={"local": local, "aliases": aliases})

    def aliases_now(self, ref: CopyRef) -> list[str]:
        """The aliases the source version holds now, read again (a saved plan's are its
        file's word)."""
        return self.registry(ref.source).read_version(ref.model, ref.version)[1]

    def ensure(self, model: str, ref: CopyRef) -> int:
        """For apply: this model's verified copy of `ref`, made if there is none; a copy that
        claims the lineage but does not match, or a new one that does not, is refused."""
        key = (model, ref.source, ref.model, ref.version)
        with self._lock:
            making = self._making.setdefault(key, threading.Lock())
        with making:
            return self._ensure(model, ref)

    def _ensure(self, model: str, ref: CopyRef) -> int:
        folder, wanted = self._source_files(ref)
        local, distrust = self._trusted_copy(model, ref, wanted)
        if local is not None:
            return local
        if distrust:
            raise CopyError(f"refused: {distrust}; delete it or its mlflow-gitops.copy.* tags")
        lineage = self._lineage(ref, wanted)
        if ref.source is None:
            made = self.target.copy_within(model, ref.model, ref.version, lineage)
        else:
            made = self.target.register_copy(model, folder, lineage)
        why = self._verified(model, made, wanted)
        if why is not None:
            raise CopyError(
                f"the new copy {model} v{made} of {ref.named()} failed verification: {why}"
            )
        return made
